"""An agent's loop over a LoCoMo conversation: add one turn, and now and then ask about a turn said 1-5
turns ago. Reports how often that turn is in the top 5 of `search` (what was just said must be findable
at once, before any flush), with `add` and `search` latency percentiles and the load average.

    python benches/bench_agent_loop.py [FILES...] [--limit 5] [--seed 0] [--probes questions|keywords]
        [--buffer-sizes 0,100,1000] [--llm-delay 1.5 [--llm-turns 150] [--llm-threshold 100]]

The probes (`probes_by_turn`) are LoCoMo's own single-evidence questions, or a turn's own keywords; each
is asked after a random 1-5 further turns (seeded), in the default configuration (offline, buffer
threshold as shipped), so most probed turns are still in the short-term buffer when they are asked about.

`--llm-delay S` times, instead, `add` with an LLM whose every answer takes S seconds (the mock server of
`lightmem_bench.mock_server`, as a slow local model), side by side with extraction inline and in the
background (`LightMemConfig.extraction`): the first `--llm-turns` turns, a buffer threshold of
`--llm-threshold` words, and the percentiles of every add and of the adds that filled the buffer.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from lightmem import Memory
from lightmem.conversations import Conversation, load_conversations
from lightmem.retrieval import keywords
from lightmem_bench.locomo import default_paths
from lightmem_bench.metrics import percentiles_ms
from lightmem_bench.mock_server import MockLLMServer

MAX_DELAY_TURNS = 5


class Probe(NamedTuple):
    """A search an agent makes, and the turn it is about."""

    query: str
    turn_id: str


def probes_by_turn(conversation: Conversation, rng: random.Random, kind: str) -> dict[int, list[Probe]]:
    """The probes, keyed by the index of the turn after which each is asked (1-5 turns after its own).

    `questions`: LoCoMo's single-evidence questions of categories 1-4 (their wording is often far from
    the turn's, and some evidence labels are loose). `keywords`: every 5th turn with at least 3 words
    worth a keyword search, asked about by its first 4 such words (an agent recalling what was said).
    """
    turns = [m for s in conversation.sessions for m in s]
    index_of = {m["id"]: i for i, m in enumerate(turns)}
    probes: list[tuple[int, Probe]] = []
    if kind == "questions":
        for q in conversation.questions:
            if q.category in (1, 2, 3, 4) and len(q.evidence) == 1 and q.evidence[0] in index_of:
                probes.append((index_of[q.evidence[0]], Probe(q.question, q.evidence[0])))
    else:
        for index in range(0, len(turns), 5):
            words = keywords(turns[index]["content"])
            if len(words) >= 3:
                probes.append((index, Probe(" ".join(words[:4]), turns[index]["id"])))
    asked_after: dict[int, list[Probe]] = defaultdict(list)
    for index, probe in probes:
        asked_after[index + rng.randint(1, MAX_DELAY_TURNS)].append(probe)
    return asked_after


@dataclass(frozen=True)
class LoopResult:
    """One conversation played through the loop."""

    conversation: str
    turns: int
    probes: int
    found: int
    add_ms: dict[str, float]
    search_ms: dict[str, float]

    def __str__(self) -> str:
        share = self.found / self.probes if self.probes else float("nan")
        add = ", ".join(f"{k} {v:.2f}" for k, v in self.add_ms.items())
        search = ", ".join(f"{k} {v:.1f}" for k, v in self.search_ms.items())
        return (
            f"{self.conversation}: {self.turns} turns, {self.found}/{self.probes} = {share:.3f} found; "
            f"add ms {add}; search ms {search}"
        )


def run(conversation: Conversation, limit: int, seed: int, kind: str) -> LoopResult:
    """Plays the conversation turn by turn into a fresh memory and asks the probes on the way."""
    asked_after = probes_by_turn(conversation, random.Random(seed), kind)
    add_s: list[float] = []
    search_s: list[float] = []
    found = asked = 0
    with tempfile.TemporaryDirectory() as directory, Memory(directory) as memory:
        memory.search("warm up the embedder", user_id="warm-up")
        turns = [message for session in conversation.sessions for message in session]
        for index, message in enumerate(turns):
            start = time.perf_counter()
            memory.add(message, user_id="agent")
            add_s.append(time.perf_counter() - start)
            for probe in asked_after.get(index, []):
                start = time.perf_counter()
                hits = memory.search(probe.query, user_id="agent", limit=limit)
                search_s.append(time.perf_counter() - start)
                asked += 1
                found += any(probe.turn_id in hit.source for hit in hits)
    return LoopResult(
        conversation.name, len(add_s), asked, found, percentiles_ms(add_s), percentiles_ms(search_s)
    )


def search_with_buffer(
    turns: Sequence[dict[str, Any]], questions: Sequence[str], pending: int
) -> dict[str, float]:
    """Search latency percentiles (ms) of `questions` with the last `pending` of `turns` in the
    short-term buffer and the others in long-term memory."""
    if not 0 <= pending <= len(turns):
        raise SystemExit(f"--buffer-sizes: {pending} is more than the {len(turns)} turns of the files")
    split = len(turns) - pending
    seconds = []
    with tempfile.TemporaryDirectory() as directory:
        memory = Memory(directory, buffer_token_threshold=10**9)  # flushed by hand only
        with memory:
            memory.add(turns[:split], user_id="agent")
            memory.flush()
            memory.add(turns[split:], user_id="agent")
            for question in questions:
                start = time.perf_counter()
                memory.search(question, user_id="agent", limit=10)
                seconds.append(time.perf_counter() - start)
    return percentiles_ms(seconds)


def add_latency(turns: Sequence[dict[str, Any]], base_url: str, extraction: str, threshold: int) -> str:
    """Plays `turns` into a fresh memory extracting with the LLM at `base_url` (`extraction`: inline or
    background) and says how long its adds took: all of them, and those that filled the buffer."""
    every: list[float] = []
    filled: list[float] = []
    options: dict[str, Any] = {"llm_base_url": base_url, "llm_model": "mock", "extraction": extraction}
    with tempfile.TemporaryDirectory() as directory:
        start_all = time.perf_counter()
        with Memory(directory, buffer_token_threshold=threshold, **options) as memory:
            memory.search("warm up the embedder", user_id="warm-up")
            for message in turns:
                words = memory.stats(user_id="agent").pending_words + len(message["content"].split())
                full = words >= threshold
                start = time.perf_counter()
                memory.add(message, user_id="agent")
                (filled if full else every).append(time.perf_counter() - start)
            every += filled
            played = time.perf_counter() - start_all
            units = memory.stats(user_id="agent").units_extracted
        closed = time.perf_counter() - start_all
    p_all = ", ".join(f"{k} {v:.1f}" for k, v in percentiles_ms(every).items())
    p_filled = ", ".join(f"{k} {v:.1f}" for k, v in percentiles_ms(filled).items())
    return (
        f"{extraction:>10}: add ms {p_all} (all {len(every)}); {p_filled} (the {len(filled)} that left the "
        f"buffer full); turns played in {played:.1f} s, {units} units by then, closed at {closed:.1f} s"
    )


def play_probes(conversations: Sequence[Conversation], args: argparse.Namespace) -> None:
    """`run` on each conversation, and the share of probes found over all."""
    results = []
    for conversation in conversations:
        results.append(run(conversation, args.limit, args.seed, args.probes))
        print(results[-1])
    found, probes = sum(r.found for r in results), sum(r.probes for r in results)
    print(f"all: {found}/{probes} = {found / probes:.3f} of the probes found in the top {args.limit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="LoCoMo files (default: ../shared/data/locomo)")
    parser.add_argument("--limit", type=int, default=5, help="hits read per probe (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the probes' delays")
    parser.add_argument("--probes", choices=["questions", "keywords"], default="questions", help="probe kind")
    parser.add_argument(
        "--buffer-sizes", default="", help="also time search with these many turns buffered, e.g. 0,100,1000"
    )
    parser.add_argument(
        "--llm-delay", type=float, help="instead: time add, inline and background, with an LLM this slow (s)"
    )
    parser.add_argument("--llm-turns", type=int, default=150, help="turns played with the LLM (default 150)")
    parser.add_argument("--llm-threshold", type=int, default=100, help="buffer threshold then (default 100)")
    args = parser.parse_args()
    paths = args.files or default_paths()
    if not paths:
        raise SystemExit("no LoCoMo files given and none found in ../shared/data/locomo")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    conversations = [c for path in paths for c in load_conversations(path)]
    # one agent's long history: the conversations one after the other (their turn ids made distinct)
    turns = [{**m, "id": f"{c.name}/{m['id']}"} for c in conversations for s in c.sessions for m in s]
    if args.llm_delay is not None:
        print(
            f"add with an LLM answering in {args.llm_delay} s: the first {args.llm_turns} turns, "
            f"buffer threshold {args.llm_threshold} words"
        )
        with MockLLMServer(delay_s=args.llm_delay) as server:
            for extraction in ("inline", "background"):
                print(add_latency(turns[: args.llm_turns], server.base_url, extraction, args.llm_threshold))
    else:
        play_probes(conversations, args)
        questions = [q.question for q in conversations[0].questions][:100]
        for size in [int(n) for n in args.buffer_sizes.split(",") if n]:
            timing = ", ".join(f"{k} {v:.1f}" for k, v in search_with_buffer(turns, questions, size).items())
            print(
                f"search ms with {size} of {len(turns)} turns buffered, the rest in long-term memory: "
                f"{timing}"
            )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
