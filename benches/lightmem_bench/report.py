"""Outputs of a LoCoMo run: results.json, a Markdown report, and a plot of recall@10 against LLM tokens."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from lightmem.config import LightMemConfig

CATEGORY_NAMES = {"1": "multi-hop", "2": "temporal", "3": "open-domain", "4": "single-hop"}
PLOT_FILE = "recall_vs_llm_tokens.png"


def _number(value: Optional[float], digits: int = 3) -> str:
    if value is None:
        return "—"
    if digits == 0 or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _score(system: dict[str, Any], key: str, category: str = "all", table: str = "scores") -> Optional[float]:
    value: Optional[float] = system.get(table, {}).get(category, {}).get(key)
    return value


def _budgets(results: dict[str, Any]) -> list[int]:
    keys = {k for s in results["systems"] for k in s["scores"].get("all", {})}
    return sorted(int(k[len("recall@") : -1]) for k in keys if k.startswith("recall@") and k.endswith("w"))


def _meaning_table(results: dict[str, Any]) -> list[str]:
    budgets = _budgets(results)
    head = ["system", "negation kept", "units from a turn with a negation"]
    head += [*(f"answer words @{b} words" for b in budgets), "answer words stored", "questions skipped"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in results["systems"]:
        negation = s["negation"]
        row = [s["name"], _number(negation["share"]), _number(negation["units"], 0)]
        row += [_number(_score(s, f"answer@{b}w", table="answer_words")) for b in budgets]
        row += [_number(_score(s, "answer@stored", table="answer_words")), _number(s["answer_skipped"], 0)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _answer_category_table(results: dict[str, Any]) -> list[str]:
    budgets = _budgets(results)

    def cell(s: dict[str, Any], c: str) -> str:
        if c not in s.get("answer_words", {}):
            return "—"
        return " / ".join(_number(_score(s, f"answer@{b}w", c, "answer_words")) for b in budgets)

    return _per_category_table(results, cell)


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|"})


def _plain(text: str) -> str:
    """`text` on one line, with Markdown's special characters escaped."""
    return " ".join(text.split()).translate(_MARKDOWN_SPECIAL)


def _unit_sample(results: dict[str, Any]) -> list[str]:
    sample = results.get("unit_sample")
    if sample is None:
        return []
    lines = [
        f"### {len(sample['units'])} stored units of {sample['system']} beside their source turns",
        "",
        f"Drawn at random (seed {sample['seed']}) from the {sample['stored']:,} units {sample['system']} "
        "stored over all conversations, in storage order; each unit as an agent reads it, then its "
        "source turns in full.",
        "",
    ]
    for number, unit in enumerate(sample["units"], start=1):
        item = f"{number}. "
        indent = " " * len(item)  # the sub-list belongs to the item
        lines.append(f"{item}conversation {unit['conversation']}, {', '.join(unit['source'])}")
        lines.append(f"{indent}- **unit**: {_plain(unit['text'])}")
        lines += [f"{indent}- {turn['id']}: {_plain(turn['text'])}" for turn in unit["turns"]]
    return lines


def _summary_table(results: dict[str, Any]) -> list[str]:
    systems = results["systems"]
    ks = sorted({int(k.split("@")[1]) for s in systems for k in s["scores"]["all"] if k[-1].isdigit()})
    budgets = sorted(
        {int(k.split("@")[1][:-1]) for s in systems for k in s["scores"]["all"] if k.endswith("w")}
    )
    has_qa = any("qa" in s for s in systems)
    head = ["system", *(f"recall@{k}" for k in ks), "full@10", *(f"@{b} words" for b in budgets)]
    head += ["memories", "tokens stored", "LLM calls", "LLM tokens", "ingest s", "ingest ÷ embed"]
    head += ["search p50 ms", "p99 ms"] + (["QA accuracy"] if has_qa else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in systems:
        row = [s["name"], *(_number(_score(s, f"recall@{k}")) for k in ks), _number(_score(s, "full@10"))]
        row += [_number(_score(s, f"recall@{b}w")) for b in budgets]
        row += [_number(s["stored_memories"], 0), _number(s["stored_tokens"], 0), _number(s["llm_calls"], 0)]
        row += [
            _number(s["llm_tokens"], 0),
            _number(s["ingest_s"], 2),
            _number(s["ingest_vs_embed_turns"], 2),
        ]
        row += [_number(s["search_ms"].get("p50"), 1), _number(s["search_ms"].get("p99"), 1)]
        if has_qa:
            row.append(_number(s.get("qa", {}).get("all", {}).get("accuracy")))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _category_table(results: dict[str, Any]) -> list[str]:
    def cell(s: dict[str, Any], c: str) -> str:
        if c not in s["scores"]:
            return "—"
        return f"{_number(_score(s, 'recall@10', c))} ({_number(_score(s, 'full@10', c))})"

    return _per_category_table(results, cell)


def _per_category_table(results: dict[str, Any], cell: Callable[[dict[str, Any], str], str]) -> list[str]:
    """A table of one row per system (but full-history) and one `cell(system, category)` per category."""
    head = ["system", *(f"{c} {name}" for c, name in CATEGORY_NAMES.items())]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in results["systems"]:
        if s["kind"] != "full-history":
            lines.append("| " + " | ".join([s["name"], *(cell(s, c) for c in CATEGORY_NAMES)]) + " |")
    return lines


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "—"


def _targets(results: dict[str, Any]) -> list[str]:
    by_name = {s["name"]: s for s in results["systems"]}
    lightmem = by_name.get("lightmem")
    if lightmem is None:
        return []
    lines = []
    rag = by_name.get("rag-1")
    if rag is not None:
        lines.append(
            f"- recall@10: lightmem {_number(_score(lightmem, 'recall@10'))}, rag-1 "
            f"{_number(_score(rag, 'recall@10'))} (target: lightmem >= rag-1)"
        )
        lines.append(
            f"- tokens stored: rag-1 ÷ lightmem = {_ratio(rag['stored_tokens'], lightmem['stored_tokens'])}"
            " (target >= 2)"
        )
    per_turn = by_name.get("per-turn")
    if per_turn is not None:
        lines.append(
            f"- LLM calls: per-turn ÷ lightmem = {_ratio(per_turn['llm_calls'], lightmem['llm_calls'])}"
            " (target >= 50)"
        )
    ingest = _number(lightmem["ingest_vs_embed_turns"], 2)
    lines.append(f"- ingest ÷ embedding every turn once = {ingest} (target <= 1.5)")
    negation = lightmem["negation"]
    lines.append(
        f"- negation kept: {_number(negation['share'])} of {negation['units']:,} units (target >= 0.99)"
    )
    return ["Targets:", "", *lines]


def markdown(results: dict[str, Any]) -> str:
    """The report: run facts, the summary table, recall@10 per category, the meaning table, answer words
    per category, the targets, and the sample of units if one was drawn."""
    meta, conversations = results["meta"], results["conversations"]
    embed_s = sum(c["embed_turns_s"] for c in conversations) / len(conversations)
    lines = [
        "## LoCoMo: evidence recall, meaning, cost and speed",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['machine']}, Python {meta['python']}, "
        f"lightmem {meta['lightmem']}; LLM: {meta['llm']}.",
        "",
        f"{len(conversations)} conversation(s) ({', '.join(c['conversation'] for c in conversations)}), "
        f"{sum(c['turns'] for c in conversations):,} turns, {sum(c['questions'] for c in conversations):,} "
        "questions of categories 1-4. Figures are means over conversations; latencies are pooled. "
        f"Tokens are {meta['tokens']}. Reading budget: {meta['budget_rule']}. "
        f"Search latency: {meta['search_latency']}. "
        f"Embedding every turn once takes {embed_s:.2f} s per conversation.",
        "",
        *_summary_table(results),
        "",
        "recall@10 (full@10) per question category:",
        "",
        *_category_table(results),
        "",
        "Meaning: negation kept (stored units from a turn with a negation that keep one; totals over "
        f"conversations). Negations: {meta['negation']}. Answer words: {meta['answer_words']}. "
        "`answer words stored`: the same share over everything the system stores (no budget).",
        "",
        *_meaning_table(results),
        "",
        "Answer words read per question category, "
        + " / ".join(f"@{b}" for b in _budgets(results))
        + " words:",
        "",
        *_answer_category_table(results),
        "",
        *_targets(results),
        "",
        *_unit_sample(results),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _sweeps(systems: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """For each swept setting, the lightmem runs along it (the base run included), by setting value."""
    base = next((s for s in systems if s["name"] == "lightmem"), None)
    curves: dict[str, list[dict[str, Any]]] = {}
    for s in systems:
        name = s["name"].partition(" ")[2].partition("=")[0]
        if s["kind"] == "lightmem" and name:
            curves.setdefault(name, [] if base is None else [base]).append(s)
    return {name: sorted(runs, key=lambda s: _setting(s, name)) for name, runs in curves.items()}


def _setting(system: dict[str, Any], name: str) -> Any:
    """A lightmem run's value of a setting, the default when the run does not set it."""
    return system["settings"].get(name, getattr(LightMemConfig(), name, 1))


def plot(results: dict[str, Any], path: Path) -> str:
    """Recall@10 and recall at the middle reading budget against LLM tokens per conversation, for every
    system and along every lightmem sweep; returns a line saying what was done."""
    try:
        import matplotlib  # type: ignore[import-not-found]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found]
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install matplotlib)"
    systems = [s for s in results["systems"] if s["kind"] != "full-history"]
    scored = systems[0]["scores"]["all"]
    budgets = sorted(
        int(k[len("recall@") : -1]) for k in scored if k.startswith("recall@") and k.endswith("w")
    )
    keys = ["recall@10"] + ([f"recall@{budgets[len(budgets) // 2]}w"] if budgets else [])
    figure, panels = plt.subplots(1, len(keys), figsize=(6 * len(keys), 4.5), squeeze=False)
    top = max([s["llm_tokens"] for s in systems] + [1000])
    for axes, key in zip(panels[0], keys):
        for name, runs in _sweeps(systems).items():
            points = [(s["llm_tokens"], _score(s, key)) for s in runs]
            axes.plot(*zip(*points), ".-", alpha=0.6, label=f"lightmem, {name} sweep")
            for s, point in zip(runs, points):
                axes.annotate(str(_setting(s, name)), point, fontsize=6, alpha=0.8)
        for s in systems:
            if " " not in s["name"]:
                axes.plot(s["llm_tokens"], _score(s, key), "o", label=s["name"])
        axes.set_xscale("symlog", linthresh=1000)
        axes.set_xticks([0] + [10**e for e in range(3, len(str(int(top))) + 1)])
        axes.set_xlabel("LLM tokens during ingest, per conversation (symlog)")
        axes.set_ylabel(f"evidence {key.replace('w', ' words')}")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.suptitle("LoCoMo: evidence recall against LLM cost")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return f"wrote {path}"


def write_outputs(results: dict[str, Any], out: Path) -> list[str]:
    """Write results.json, results.md and the plot into `out`; returns the lines to print."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report = markdown(results)
    (out / "results.md").write_text(report, encoding="utf-8")
    return [report, f"wrote {out / 'results.json'} and {out / 'results.md'}", plot(results, out / PLOT_FILE)]
