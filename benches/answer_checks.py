"""How often lightmem's lexical answer checks refuse a capable model's correct answers, and how often they
refuse inventions: the labelled answers of `benches/data/answer_checks.json` (written as a GPT-4-class
model would answer, see its "about") read through the public readers, exactly as lightmem reads a model's
answer: extraction units through `read_extract_answer` (`_check_grounded`), consolidation changes through
`read_consolidate_answer` (`_check_rewrite` for updates and merges, `_check_delete` for deletions).

    python benches/answer_checks.py            # per check and per half: faithful accepted, invented refused
    python benches/answer_checks.py --list     # and every faithful answer refused, every invention accepted

Build the extension with `maturin develop --release` first.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from lightmem.prompts import (
    ClusterMember,
    InvalidLLMOutput,
    Turn,
    build_consolidate_request,
    build_extract_request,
    parse_consolidate_prompt,
    parse_extract_prompt,
    read_consolidate_answer,
    read_extract_answer,
)

DATA = Path(__file__).parent / "data" / "answer_checks.json"
HALVES = ("tuning", "held-out")
CHECKS = ("grounded", "rewrite", "delete")


@dataclass(frozen=True)
class Outcome:
    """One labelled answer, read: which check it meets, whether it was accepted, and why not."""

    id: str
    check: str
    half: str
    label: str
    kind: str
    text: str
    accepted: bool
    problem: str


def load(path: Path = DATA) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def segments_of(conversation: dict[str, Any]) -> list[list[Turn]]:
    """The conversation's sessions as the segments of one extraction request, a minute between turns."""
    segments = []
    number = 0
    for session in conversation["sessions"]:
        start = datetime.fromisoformat(session["time"])
        segment = []
        for offset, (speaker, text) in enumerate(session["turns"]):
            number += 1
            segment.append(Turn(f"t{number}", speaker, start + timedelta(minutes=offset), text))
        segments.append(segment)
    return segments


def cluster_of(memories: list[list[str]]) -> list[ClusterMember]:
    """A cluster's memories ([date, text], oldest first) as the consolidation request takes them."""
    return [
        (f"m{number}", text, datetime.combine(date.fromisoformat(day), datetime.min.time()))
        for number, (day, text) in enumerate(memories, start=1)
    ]


def read_extraction(item: dict[str, Any], segments: list[list[Turn]]) -> Outcome:
    """The unit of `item` read as the answer to the extraction request of its conversation."""
    parse_extract_prompt(build_extract_request(segments)[1]["content"])  # the request lightmem sends
    answer = json.dumps({"memories": [{"text": item["text"], "turns": item["turns"]}]})
    try:
        read = read_extract_answer(answer, segments)
        accepted, problem = bool(read.units), "; ".join(read.problems)
    except InvalidLLMOutput as err:
        accepted, problem = False, str(err)
    return _outcome(item, "grounded", item["text"], accepted, problem)


def read_consolidation(item: dict[str, Any], cluster: list[ClusterMember]) -> Outcome:
    """The change of `item` read as the answer to the consolidation request of its cluster."""
    parse_consolidate_prompt(build_consolidate_request([cluster])[1]["content"])
    change = item["change"]
    try:
        read = read_consolidate_answer(json.dumps({"changes": [change]}), [cluster])
        decision = read.decisions[change["memory"] - 1]
        accepted, problem = decision.action == change["action"], "; ".join(read.problems)
    except InvalidLLMOutput as err:
        accepted, problem = False, str(err)
    check = "delete" if change["action"] == "delete" else "rewrite"
    texts = [text for _, text, _ in cluster]
    shown = f"{change['action']} {texts[change['memory'] - 1]!r}" + (
        f" -> {change['text']!r}" if "text" in change else ""
    )
    return _outcome(item, check, shown, accepted, problem)


def _outcome(item: dict[str, Any], check: str, text: str, accepted: bool, problem: str) -> Outcome:
    return Outcome(item["id"], check, item["half"], item["label"], item["kind"], text, accepted, problem)


def outcomes(data: dict[str, Any]) -> Iterator[Outcome]:
    """Every labelled answer of `data`, read."""
    segments = {name: segments_of(c) for name, c in data["conversations"].items()}
    clusters = {name: cluster_of(memories) for name, memories in data["clusters"].items()}
    for item in data["extraction"]:
        yield read_extraction(item, segments[item["conversation"]])
    for item in data["consolidation"]:
        yield read_consolidation(item, clusters[item["cluster"]])


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"


def report(results: list[Outcome], *, listing: bool) -> str:
    """The table (per check and half: faithful accepted, invented refused), and with `listing` every
    faithful answer refused and every invention accepted."""
    lines = [f"{'check':<9} {'half':<9} {'faithful accepted':>18} {'invented refused':>18}"]
    for check in CHECKS:
        for half in (*HALVES, "both"):
            chosen = [r for r in results if r.check == check and half in (r.half, "both")]
            faithful = [r for r in chosen if r.label == "faithful"]
            invented = [r for r in chosen if r.label == "invented"]
            accepted = sum(r.accepted for r in faithful)
            refused = sum(not r.accepted for r in invented)
            scores = f"{share(accepted, len(faithful)):>18} {share(refused, len(invented)):>18}"
            lines.append(f"{check:<9} {half:<9} {scores}")
    if listing:
        wrong = (("faithful refused", "faithful", False), ("invented accepted", "invented", True))
        for title, label, accepted in wrong:
            lines.append(f"\n{title}:")
            for r in results:
                if r.label == label and r.accepted == accepted:
                    why = f"  [{r.problem}]" if r.problem else ""
                    lines.append(f"  {r.id} {r.half:<8} {r.check:<8} ({r.kind}) {r.text}{why}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the labelled answers (JSON)")
    parser.add_argument("--list", action="store_true", help="list the faithful refused, invented accepted")
    args = parser.parse_args()
    print(report(list(outcomes(load(args.data))), listing=args.list))


if __name__ == "__main__":
    main()
