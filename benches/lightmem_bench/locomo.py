"""The LoCoMo harness: evidence recall, meaning, cost and speed of lightmem beside baselines, in one process.

For each conversation file: every system ingests the conversation afresh (its own temporary directory),
then each question of categories 1-4 is searched and scored by evidence recall at k hits and at reading
budgets (see `lightmem_bench.metrics`) and by the gold answer words read within those budgets; what the
system stores is checked for lost negations (see `lightmem_bench.meaning`). Optionally a random sample of
lightmem's units is kept beside their source turns, for a person to read. All systems share one embedder
(loaded once). Offline, the LLM is `OfflineLLM`; when LIGHTMEM_LLM_BASE_URL is set, every LLM call goes
to that server and each question is also answered from the memories read within the largest budget and
graded by the same LLM (QA accuracy).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from lightmem import __version__
from lightmem.config import LightMemConfig
from lightmem.conversations import Conversation, Question, load_conversations
from lightmem.embedding import Embedder, OnnxEmbedder
from lightmem.llm import LLM, OfflineLLM, OpenAIClient, estimate_tokens
from lightmem.store.postgres.url import is_postgres_url, masked_url, schema_url
from tqdm import tqdm  # type: ignore[import-untyped]

from lightmem_bench.baselines import (
    NO_LLM_USAGE,
    PerTurnExtraction,
    WindowRAG,
    chunk_text,
    full_history_units,
)
from lightmem_bench.meaning import NEGATIONS, NegationCount, content_words, negation_kept, score_answer_words
from lightmem_bench.mem0_system import Mem0System, mem0_available
from lightmem_bench.metrics import (
    Hit,
    by_category,
    mean_scores,
    percentiles_ms,
    score_question,
    within_budget,
)
from lightmem_bench.qa import answer_and_judge
from lightmem_bench.report import write_outputs
from lightmem_bench.systems import LightMemSystem, System

CATEGORIES = (1, 2, 3, 4)
"""LoCoMo question categories scored: multi-hop, temporal, open-domain, single-hop (5 = adversarial)."""
SEARCH_LIMIT = 64
"""Hits asked for per question (more when they hold too few words for the largest reading budget).
The latency reported is that of this call: embedding the query dominates it, not the number of hits."""
TURNS_PER_UNIT = "turns_per_unit"
"""The `OfflineLLM` setting, tunable with --set / --sweep like a config field."""
BASELINES = ("full-history", "rag-1", "rag-4", "per-turn")


class BenchArgumentError(ValueError):
    """A bad command-line value for the harness."""


@dataclass(frozen=True)
class SystemSpec:
    """One system of a run: its label, its kind and, for lightmem, its settings."""

    name: str
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)
    window: int = 0


@dataclass(frozen=True)
class RunOptions:
    """What to measure for every system."""

    ks: tuple[int, ...] = (5, 10, 20)
    budgets: tuple[int, ...] = (200, 500, 1000)
    limit_questions: Optional[int] = None
    real_llm: Optional[LightMemConfig] = None
    """The config naming the LLM server when running against a real LLM (then QA is graded too)."""
    sample_units: int = 0
    """How many units of the first lightmem system to sample, with their source turns (0: none)."""
    seed: int = 0
    """The seed of that sample."""
    store: Optional[str] = None
    """A PostgreSQL URL where lightmem's runs keep their memories (each run in a fresh schema of that
    database, dropped after it); None: a directory of their own (SQLite)."""


# --- building systems ---------------------------------------------------------------------------------


def lightmem_config(settings: dict[str, Any]) -> LightMemConfig:
    """Lightmem's config with `settings` (config fields) applied over the defaults."""
    return replace(LightMemConfig(), **{k: v for k, v in settings.items() if k != TURNS_PER_UNIT})


def make_llm(options: RunOptions, settings: dict[str, Any]) -> LLM:
    """A fresh LLM backend (its own usage counters): the real server's client, or `OfflineLLM`."""
    if options.real_llm is not None:
        return OpenAIClient.from_config(options.real_llm)
    return OfflineLLM(settings.get(TURNS_PER_UNIT, 1))


@contextmanager
def store_location(store: Optional[str], workdir: str) -> Iterator[str]:
    """Where one lightmem run keeps its memory: `workdir`, or with a PostgreSQL `store` URL a fresh schema
    of that database (dropped at the end)."""
    if store is None:
        yield workdir
        return
    import psycopg

    schema = f"lightmem_bench_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(store, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(store, schema)
    finally:
        with psycopg.connect(store, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def build_system(spec: SystemSpec, location: str, embedder: Embedder, options: RunOptions) -> System:
    """The system `spec` describes, storing (if it stores anything) in `location`: a directory, or for
    lightmem what `store_location` gives."""
    if spec.kind == "lightmem":
        llm = make_llm(options, spec.settings)
        return LightMemSystem(location, lightmem_config(spec.settings), embedder, llm)
    if spec.kind == "rag":
        return WindowRAG(embedder, spec.window)
    if spec.kind == "per-turn":
        return PerTurnExtraction(embedder, make_llm(options, {}))
    if spec.kind == "mem0":
        return Mem0System(location, embedder, options.real_llm)
    raise BenchArgumentError(f"unknown system kind {spec.kind!r}")


# --- measuring ------------------------------------------------------------------------------------------


def scored_questions(conversation: Conversation, limit: Optional[int]) -> list[Question]:
    """Questions of categories 1-4 whose evidence names turns of the conversation, keeping only those
    turns (LoCoMo has a few ids of turns that do not exist); the first `limit` of them."""
    turn_ids = {m["id"] for session in conversation.sessions for m in session}
    questions = []
    for question in conversation.questions:
        evidence = tuple(turn for turn in question.evidence if turn in turn_ids)
        if question.category in CATEGORIES and evidence:
            questions.append(replace(question, evidence=evidence))
    return questions[:limit]


def ranked_hits(system: System, query: str, min_hits: int, min_words: int) -> tuple[list[Hit], float]:
    """Hits in rank order, at least `min_hits` of them and more than `min_words` words (or all there are),
    and the wall time of the first search call (for `SEARCH_LIMIT` hits or more): the search latency."""
    limit = max(min_hits, SEARCH_LIMIT)
    start = time.perf_counter()
    hits = system.search(query, limit)
    seconds = time.perf_counter() - start
    while len(hits) == limit and sum(hit.words for hit in hits) <= min_words:
        limit *= 4
        hits = system.search(query, limit)
    return hits, seconds


def embed_turns_seconds(conversation: Conversation, embedder: Embedder) -> float:
    """Wall time of embedding every turn once (rendered as a one-turn chunk): the ingest reference."""
    texts = [chunk_text([m]) for session in conversation.sessions for m in session]
    start = time.perf_counter()
    embedder.embed(texts)
    return time.perf_counter() - start


def stored_facts(conversation: Conversation, units: Sequence[Hit]) -> dict[str, Any]:
    """How many units a system stores, their tokens, and how many of those from a turn with a negation
    keep one."""
    turns = {m["id"]: m["content"] for session in conversation.sessions for m in session}
    negation = negation_kept(units, turns)
    return {
        "stored_memories": len(units),
        "stored_tokens": estimate_tokens(*(unit.text for unit in units)),
        "negation": {"units": negation.units, "kept": negation.kept},
    }


def stored_words(units: Sequence[Hit]) -> set[str]:
    """The content words of everything stored (for `answer@stored`)."""
    return content_words("\n".join(unit.text for unit in units))


def measure(
    spec: SystemSpec,
    conversation: Conversation,
    questions: Sequence[Question],
    embedder: Embedder,
    options: RunOptions,
) -> tuple[dict[str, Any], list[Hit]]:
    """Ingest the conversation into a fresh system, then score every question against it; the scores and
    the units it stored."""
    store = options.store if spec.kind == "lightmem" else None
    with (
        tempfile.TemporaryDirectory(prefix="lightmem-bench-") as workdir,
        store_location(store, workdir) as location,
    ):
        system = build_system(spec, location, embedder, options)
        try:
            start = time.perf_counter()
            system.ingest(conversation)
            ingest_s = time.perf_counter() - start
            units = system.stored_units()
            result = {"ingest_s": ingest_s, "llm": system.llm_usage(), **stored_facts(conversation, units)}
            label = f"{spec.name} · {conversation.name}"
            result.update(score_all(system, questions, options, label, stored_words(units)))
        finally:
            system.close()
    return result, units


def score_all(
    system: System, questions: Sequence[Question], options: RunOptions, label: str, stored: set[str]
) -> dict[str, Any]:
    """Scores by category (evidence recall; answer words, with the questions skipped for having no
    content word in their answer), raw search latencies, and QA accuracy with a real LLM (with each
    question's answer and verdict)."""
    rows, answer_rows, latencies, graded = [], [], [], []
    answers: list[dict[str, Any]] = []
    qa_llm = OpenAIClient.from_config(options.real_llm) if options.real_llm is not None else None
    for question in tqdm(questions, desc=label, leave=False, disable=None):
        ranked, seconds = ranked_hits(system, question.question, max(options.ks), max(options.budgets))
        latencies.append(seconds)
        rows.append(
            (question.category, score_question(question.evidence, ranked, options.ks, options.budgets))
        )
        answer = score_answer_words(question.answer, ranked, options.budgets, stored)
        if answer is not None:
            answer_rows.append((question.category, answer))
        if qa_llm is not None:
            memories = [hit.text for hit in within_budget(ranked, max(options.budgets))]
            grade = answer_and_judge(qa_llm, question.question, question.answer, memories)
            graded.append((question.category, {"accuracy": float(grade.correct)}))
            answers.append({"question": question.question, "gold": question.answer, **grade.__dict__})
    result: dict[str, Any] = {
        "scores": by_category(rows),
        "answer_words": by_category(answer_rows) if answer_rows else {},
        "answer_skipped": len(questions) - len(answer_rows),
        "latencies_s": latencies,
    }
    if qa_llm is not None:
        result["qa"] = by_category(graded)
        result["qa_llm"] = qa_llm.usage.snapshot()
        result["qa_answers"] = answers
    return result


def full_history(
    conversation: Conversation, questions: Sequence[Question], options: RunOptions
) -> tuple[dict[str, Any], list[Hit]]:
    """The no-memory baseline: the whole history is read, so every evidence turn is (recall 1.0), and
    every answer word the history holds (`answer@stored`); no reading budget applies."""
    perfect = {f"{m}@{k}": 1.0 for k in options.ks for m in ("recall", "full")}
    units = full_history_units(conversation)
    stored = stored_words(units)
    answer_rows = [
        (question.category, answer)
        for question in questions
        if (answer := score_answer_words(question.answer, [], (), stored)) is not None
    ]
    result = {
        "ingest_s": 0.0,
        "llm": dict(NO_LLM_USAGE),
        **stored_facts(conversation, units),
        "stored_memories": conversation.turns,
        "scores": {"all": perfect},
        "answer_words": by_category(answer_rows) if answer_rows else {},
        "answer_skipped": len(questions) - len(answer_rows),
        "latencies_s": [],
    }
    return result, units


def unit_sample(
    pool: Sequence[tuple[Conversation, Hit]], system: str, count: int, seed: int
) -> dict[str, Any]:
    """`count` units drawn at random (`seed`) from `pool`, in pool order, each with its source turns
    rendered in full as a one-turn chunk (date, speaker, text)."""
    picked = sorted(random.Random(seed).sample(range(len(pool)), min(count, len(pool))))
    turns: dict[str, dict[str, Any]] = {}
    units = []
    for index in picked:
        conversation, unit = pool[index]
        if conversation.name not in turns:
            turns[conversation.name] = {m["id"]: m for session in conversation.sessions for m in session}
        by_id = turns[conversation.name]
        units.append(
            {
                "conversation": conversation.name,
                "text": unit.text,
                "source": list(unit.source),
                "turns": [{"id": t, "text": chunk_text([by_id[t]])} for t in unit.source if t in by_id],
            }
        )
    return {"system": system, "seed": seed, "stored": len(pool), "units": units}


# --- a run over all conversations and systems -----------------------------------------------------------


def run(
    conversations: Sequence[Conversation],
    specs: Sequence[SystemSpec],
    embedder: Embedder,
    options: RunOptions,
) -> dict[str, Any]:
    """Measure every system on every conversation; per-conversation results and their summary."""
    embedder.embed(["warm-up: the model is loaded before anything is timed"])
    per_system: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in specs}
    reference = []
    sampled = next((spec.name for spec in specs if spec.kind == "lightmem"), None)
    pool: list[tuple[Conversation, Hit]] = []
    progress = tqdm(total=len(conversations) * len(specs), desc="LoCoMo", disable=None)
    for conversation in conversations:
        questions = scored_questions(conversation, options.limit_questions)
        embed_before = embed_turns_seconds(conversation, embedder)
        for spec in specs:
            progress.set_postfix_str(f"{conversation.name}: {spec.name}")
            if spec.kind == "full-history":
                result, units = full_history(conversation, questions, options)
            else:
                result, units = measure(spec, conversation, questions, embedder, options)
            per_system[spec.name].append({"conversation": conversation.name, **result})
            if options.sample_units and spec.name == sampled:
                pool.extend((conversation, unit) for unit in units)
            progress.update()
        reference.append(
            {
                "conversation": conversation.name,
                "turns": conversation.turns,
                "questions": len(questions),
                # measured before and after the systems: the smaller time, as other work may share the CPUs
                "embed_turns_s": min(embed_before, embed_turns_seconds(conversation, embedder)),
            }
        )
    progress.close()
    results: dict[str, Any] = {
        "conversations": reference,
        "systems": [summarize(spec, per_system[spec.name], reference) for spec in specs],
    }
    if options.sample_units and sampled is not None:
        results["unit_sample"] = unit_sample(pool, sampled, options.sample_units, options.seed)
    return results


def summarize(
    spec: SystemSpec, results: list[dict[str, Any]], reference: list[dict[str, Any]]
) -> dict[str, Any]:
    """Means over conversations (each conversation weighs the same); search latencies pooled."""
    latencies = [seconds for result in results for seconds in result.pop("latencies_s")]
    llm = mean_scores([result["llm"] for result in results])
    negation = sum((NegationCount(**result["negation"]) for result in results), NegationCount())
    summary: dict[str, Any] = {
        "name": spec.name,
        "kind": spec.kind,
        "settings": spec.settings,
        "scores": _per_category(results, "scores"),
        "answer_words": _per_category(results, "answer_words"),
        "answer_skipped": sum(result["answer_skipped"] for result in results),
        "negation": {"units": negation.units, "kept": negation.kept, "share": negation.share},
        "stored_memories": _mean(results, "stored_memories"),
        "stored_tokens": _mean(results, "stored_tokens"),
        "llm_calls": llm["calls"],
        "llm_tokens": llm["prompt_tokens"] + llm["completion_tokens"],
        "ingest_s": _mean(results, "ingest_s"),
        "ingest_vs_embed_turns": (
            sum(result["ingest_s"] for result in results) / sum(ref["embed_turns_s"] for ref in reference)
        ),
        "search_ms": percentiles_ms(latencies),
    }
    if any("qa" in result for result in results):
        summary["qa"] = _per_category(results, "qa")
        summary["qa_llm"] = mean_scores([result["qa_llm"] for result in results])
    summary["per_conversation"] = results
    return summary


def _mean(results: Sequence[dict[str, Any]], key: str) -> float:
    return mean_scores([{key: result[key]} for result in results])[key]


def _per_category(results: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """Mean over the conversations of `result[key][category]`, for each category some result has."""
    categories = sorted({c for result in results for c in result.get(key, {})}, key=lambda c: (c != "all", c))
    return {
        category: mean_scores([r[key][category] for r in results if category in r.get(key, {})])
        for category in categories
    }


# --- command line ----------------------------------------------------------------------------------------


def default_paths() -> list[Path]:
    """LoCoMo files in ../shared/data/locomo, relative to the working directory or to the repository."""
    repository = Path(__file__).resolve().parents[3]
    for folder in (Path.cwd() / "../shared/data/locomo", repository / "../shared/data/locomo"):
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if files:
            return files
    return []


def parse_setting(text: str, argument: str) -> tuple[str, list[Any]]:
    """`NAME=V1,V2,...` -> (NAME, typed values); NAME is a `LightMemConfig` field or `turns_per_unit`."""
    name, sep, values = (part.strip() for part in text.partition("="))
    if not sep or not values:
        raise BenchArgumentError(f"{argument} needs NAME=VALUE[,VALUE...], got {text!r}")
    known = {f.name for f in fields(LightMemConfig)} | {TURNS_PER_UNIT}
    if name not in known:
        raise BenchArgumentError(f"{argument}: unknown setting {name!r}; known: {', '.join(sorted(known))}")
    default = 1 if name == TURNS_PER_UNIT else getattr(LightMemConfig(), name)
    kind = type(default) if isinstance(default, (int, float)) else str
    try:
        parsed = [kind(value.strip()) for value in values.split(",")]
    except ValueError:
        raise BenchArgumentError(f"{argument}: {name} takes {kind.__name__} values, got {values!r}") from None
    for value in parsed:
        try:
            effective({name: value})
        except ValueError as err:
            raise BenchArgumentError(f"{argument}: {err}") from None
    return name, parsed


def effective(settings: dict[str, Any]) -> tuple[LightMemConfig, int]:
    """What a lightmem run with `settings` really is (validates them): its config and turns per unit."""
    turns_per_unit = settings.get(TURNS_PER_UNIT, 1)
    OfflineLLM(turns_per_unit)
    return lightmem_config(settings), turns_per_unit


def system_specs(args: argparse.Namespace) -> list[SystemSpec]:
    """The systems chosen with --systems, then one lightmem run per swept value (a value equal to the
    base settings is not run twice)."""
    base = {}
    for text in args.set:
        name, values = parse_setting(text, "--set")
        base[name] = values[-1]
    specs = [_named_spec(name.strip(), base) for name in args.systems.split(",") if name.strip()]
    if not specs:
        raise BenchArgumentError("--systems names no system")
    sweeps = [parse_setting(text, "--sweep") for text in args.sweep]
    for name, option in (
        ("compression_ratio", args.sweep_ratio),
        ("buffer_token_threshold", args.sweep_threshold),
    ):
        if option:
            sweeps.append(parse_setting(f"{name}={option}", f"--sweep-{name.split('_')[-1]}"))
    seen = [effective(spec.settings) for spec in specs if spec.kind == "lightmem"]
    for name, values in sweeps:
        for value in values:
            settings = {**base, name: value}
            if effective(settings) not in seen:
                seen.append(effective(settings))
                specs.append(SystemSpec(f"lightmem {name}={value}", "lightmem", settings))
    return specs


def _named_spec(name: str, base: dict[str, Any]) -> SystemSpec:
    if name == "lightmem":
        return SystemSpec(name, "lightmem", base)
    if name in ("full-history", "per-turn"):
        return SystemSpec(name, name)
    if name == "mem0":
        if not mem0_available():
            raise BenchArgumentError("--systems mem0 needs the mem0ai package (pip install mem0ai)")
        return SystemSpec(name, name)
    window = name.removeprefix("rag-") if name.startswith("rag-") else ""
    if window.isdigit() and int(window) >= 1:
        return SystemSpec(name, "rag", window=int(window))
    raise BenchArgumentError(
        f"--systems: unknown system {name!r}; known: lightmem, full-history, per-turn, rag-N (N >= 1), mem0"
    )


def build_parser() -> argparse.ArgumentParser:
    """The harness's command-line options."""
    parser = argparse.ArgumentParser(
        prog="lightmem-bench locomo",
        description="Evidence recall, meaning kept, cost and speed of lightmem and baselines on LoCoMo "
        "conversations.",
    )
    add = parser.add_argument
    add("paths", nargs="*", type=Path, help="LoCoMo files (default: ../shared/data/locomo/*.json)")
    add("--out", type=Path, default=Path("bench-results/locomo"), help="output directory")
    add(
        "--systems",
        default=",".join(("lightmem", *BASELINES)),
        help="comma-separated: lightmem, full-history, per-turn, rag-N (N-turn chunks), mem0 (needs mem0ai)",
    )
    add("--limit-questions", type=int, metavar="N", help="score the first N questions of each conversation")
    add(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="lightmem setting (LightMemConfig field or turns_per_unit) for every lightmem run; repeatable",
    )
    add(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="also run lightmem with each value of a setting; repeatable",
    )
    add("--sweep-ratio", metavar="R1,R2", help="same as --sweep compression_ratio=R1,R2,...")
    add("--sweep-threshold", metavar="W1,W2", help="same as --sweep buffer_token_threshold=W1,W2,...")
    add(
        "--sample-units",
        type=int,
        default=0,
        metavar="N",
        help="add to the report N random units of the first lightmem system beside their source turns",
    )
    add("--seed", type=int, default=0, help="seed of the --sample-units draw (default 0)")
    add(
        "--store",
        metavar="URL",
        help="a PostgreSQL database (postgresql://...) for lightmem's runs, each in a fresh schema dropped "
        "after it (default: a directory per run, SQLite)",
    )
    return parser


def real_llm_config() -> Optional[LightMemConfig]:
    """The environment's LLM server config when LIGHTMEM_LLM_BASE_URL is set, else None (offline)."""
    config = LightMemConfig.from_env()
    if config.llm != "openai":
        return None
    if not config.llm_model:
        raise BenchArgumentError("LIGHTMEM_LLM_BASE_URL is set but LIGHTMEM_LLM_MODEL is not: name the model")
    return config


def _cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _without_password(arg: str) -> str:
    """A command-line argument as a report may show it: a PostgreSQL URL (alone or after `--store=`)
    with its password masked."""
    option, sep, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    return f"{option}{sep}{masked_url(value)}" if is_postgres_url(value) else arg


def run_metadata(argv: Sequence[str], options: RunOptions, embedder: Embedder) -> dict[str, Any]:
    """Command, date, machine and backends of a run."""
    llm = options.real_llm
    return {
        "command": shlex.join(["lightmem-bench", "locomo", *(_without_password(arg) for arg in argv)]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "lightmem": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {_cpus()} CPUs",
        "embedder": repr(embedder),
        "llm": f"{llm.llm_base_url} model {llm.llm_model}" if llm else "offline (OfflineLLM, no model)",
        "store": f"PostgreSQL {masked_url(options.store)}" if options.store else "SQLite, a directory a run",
        "tokens": "estimated: 4/3 per whitespace-separated word of the text an agent reads",
        "search_latency": f"one search call for {SEARCH_LIMIT} hits, embedding the query included",
        "budget_rule": "hits read whole in rank order; the first hit that would pass the budget ends reading",
        "negation": (
            f"words {', '.join(sorted(NEGATIONS))} or ending in n't (apostrophe ' or ’), any case; share of "
            "the stored units whose source turns hold one that hold one themselves"
        ),
        "answer_words": (
            "gold answer content words (lower-cased runs of letters and digits, numbers without leading "
            "zeros, NLTK's English stop words removed) found in the hits read within the budget, each "
            "hit as the system renders it (event date, then speaker: text); answers without a content "
            "word are skipped"
        ),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the harness; writes results.json, results.md and a plot under --out and prints the table."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.limit_questions is not None and args.limit_questions < 1:
            raise BenchArgumentError(f"--limit-questions must be >= 1, got {args.limit_questions}")
        if args.store is not None and not is_postgres_url(args.store):
            raise BenchArgumentError(f"--store takes a postgresql:// URL, got {masked_url(args.store)!r}")
        if args.sample_units < 0:
            raise BenchArgumentError(f"--sample-units must be >= 0, got {args.sample_units}")
        specs = system_specs(args)
        if args.sample_units and not any(spec.kind == "lightmem" for spec in specs):
            raise BenchArgumentError("--sample-units samples lightmem's units: add lightmem to --systems")
        paths = args.paths or default_paths()
        if not paths:
            raise BenchArgumentError("no conversation files given, and none found in ../shared/data/locomo")
        conversations = [conversation for path in paths for conversation in load_conversations(path)]
        options = RunOptions(
            limit_questions=args.limit_questions,
            real_llm=real_llm_config(),
            sample_units=args.sample_units,
            seed=args.seed,
            store=args.store,
        )
    except ValueError as err:
        parser.error(str(err))
    embedder = OnnxEmbedder()
    results = {"meta": run_metadata(argv, options, embedder), **run(conversations, specs, embedder, options)}
    for line in write_outputs(results, args.out):
        print(line)
    return 0
