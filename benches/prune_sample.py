"""What the pruner keeps, on LoCoMo conversations: compression achieved, turns kept verbatim and
negations kept at several `compression_ratio`s, and a sample of turns before and after pruning.

    python benches/prune_sample.py                      # ../shared/data/locomo/*.json
    python benches/prune_sample.py FILE... --ratios 0.3,0.4 --sample 20 --seed 11

Each conversation is compressed session by session through one `SensoryMemory` (as `Memory` does with
its buffer), so the running word counts grow as they would in use. The sample is drawn from the first
conversation at the first ratio given in `--sample-ratio`.
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Sequence
from pathlib import Path

from lightmem.config import LightMemConfig
from lightmem.conversations import load_conversations
from lightmem.messages import normalize_messages
from lightmem.sensory import CompressedTurn, SensoryMemory
from lightmem_bench.locomo import default_paths

NEGATION = re.compile(
    r"\b(not|no|never|nobody|nothing|none|nor|neither|without|cannot)\b|n['’]t\b", re.IGNORECASE
)
"""The negations of the LoCoMo harness's `negation kept` measure (issue 11)."""


def compress_conversation(path: Path, ratio: float) -> list[CompressedTurn]:
    """Every turn of the conversation in `path`, compressed at `ratio` session by session."""
    sensory = SensoryMemory(LightMemConfig(compression_ratio=ratio))
    turns: list[CompressedTurn] = []
    for conversation in load_conversations(path):
        for session in conversation.sessions:
            turns.extend(sensory.compress(normalize_messages(session)))
    return turns


def summary(turns: Sequence[CompressedTurn]) -> dict[str, float]:
    words_in = sum(t.words_in for t in turns)
    negated = [t for t in turns if NEGATION.search(t.message.content)]
    return {
        "turns": len(turns),
        "words in": words_in,
        "words kept": sum(t.words_kept for t in turns),
        "kept / in": sum(t.words_kept for t in turns) / words_in,
        "turns verbatim": sum(t.words_kept == t.words_in for t in turns) / len(turns),
        "negation kept": sum(bool(NEGATION.search(t.text)) for t in negated) / max(len(negated), 1),
    }


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "paths", nargs="*", type=Path, help="LoCoMo files (default: ../shared/data/locomo/*.json)"
    )
    parser.add_argument("--ratios", default="0.05,0.1,0.2,0.3,0.4,0.5,0.6,0.8")
    parser.add_argument("--sample", type=int, default=20, help="turns in the before/after sample")
    parser.add_argument("--sample-ratio", type=float, default=LightMemConfig().compression_ratio)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    args.paths = args.paths or default_paths()
    if not args.paths:
        parser.error("no LoCoMo files given and none in ../shared/data/locomo")

    print("| ratio | turns | words in | words kept | kept / in | turns verbatim | negation kept |")
    print("|---|---|---|---|---|---|---|")
    for ratio in [float(r) for r in args.ratios.split(",")]:
        turns = [t for path in args.paths for t in compress_conversation(path, ratio)]
        s = summary(turns)
        print(
            f"| {ratio} | {s['turns']} | {s['words in']} | {s['words kept']} | {s['kept / in']:.3f} "
            f"| {s['turns verbatim']:.3f} | {s['negation kept']:.3f} |"
        )

    turns = compress_conversation(args.paths[0], args.sample_ratio)
    picked = sorted(random.Random(args.seed).sample(range(len(turns)), min(args.sample, len(turns))))
    print(f"\n{args.paths[0].name}, ratio {args.sample_ratio}, seed {args.seed}:\n")
    print("| turn | said | kept |")
    print("|---|---|---|")
    for index in picked:
        turn = turns[index]
        print(f"| {turn.message.id} | {cell(turn.message.content)} | {cell(turn.text)} |")


if __name__ == "__main__":
    main()
