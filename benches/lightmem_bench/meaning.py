"""Whether stored memories still say what was said: negations kept, and gold answer words read.

Evidence recall (`lightmem_bench.metrics`) counts a hit that cites the right turn even when its text says
the opposite or lost the answer. Two measures look at the text instead:

- **negation kept**: of the stored units whose cited source turns contain a negation, the share whose own
  text contains one. Negations are words, case-insensitive: `NEGATIONS`, or a word ending in `n't`
  ("don't", "can't", "won't"); the apostrophe may be ' or ’.
- **answer words read**: the share of a question's gold answer content words present in the text read
  (the hits read within a budget, as `metrics.within_budget` reads them, each hit's text as the system
  renders it: its event date, e.g. "07 May 2023", then `speaker: text`). Content words: lower-cased runs
  of letters and digits, without `STOP_WORDS`; a number is compared without leading zeros ("07" = "7").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lightmem_bench.metrics import Hit, within_budget

NEGATIONS = frozenset(
    ("not", "no", "never", "nobody", "nothing", "none", "nor", "neither", "without", "cannot")
)
"""Negation words; besides these, any word ending in `n't` is a negation."""

STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
    hers herself it its itself they them their theirs themselves what which who whom this that these those
    am is are was were be been being have has had having do does did doing a an the and but if or because
    as until while of at by for with about against between into through during before after above below to
    from up down in out on off over under again further then once here there when where why how all any
    both each few more most other some such no nor not only own same so than too very s t can will just
    don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn needn
    shan shouldn wasn weren won wouldn""".split()
)
"""NLTK's English stop-word list (179 entries), without its entries that hold an apostrophe ("don't",
"you're", ...): the tokeniser splits words at apostrophes, and the list already has their parts."""

_WORD_WITH_APOSTROPHES = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_TOKEN = re.compile(r"[^\W_]+")


def has_negation(text: str) -> bool:
    """Whether `text` holds a negation word (see the module docstring)."""
    for word in _WORD_WITH_APOSTROPHES.findall(text.lower()):
        word = word.replace("’", "'")
        if word.endswith("n't") or word.partition("'")[0] in NEGATIONS:
            return True
    return False


@dataclass(frozen=True)
class NegationCount:
    """Stored units whose source turns hold a negation (`units`), and how many of them hold one (`kept`)."""

    units: int = 0
    kept: int = 0

    def __add__(self, other: NegationCount) -> NegationCount:
        return NegationCount(self.units + other.units, self.kept + other.kept)

    @property
    def share(self) -> float | None:
        """`kept / units`; None when no unit comes from a turn with a negation."""
        return self.kept / self.units if self.units else None


def negation_kept(units: Iterable[Hit], turns: Mapping[str, str]) -> NegationCount:
    """Count the units whose source turns (`turns`: id -> text; unknown ids ignored) hold a negation, and
    those of them whose own text holds one."""
    negated = {turn_id for turn_id, text in turns.items() if has_negation(text)}
    count = NegationCount()
    for unit in units:
        if negated.intersection(unit.source):
            count += NegationCount(1, int(has_negation(unit.text)))
    return count


def content_words(text: str) -> set[str]:
    """The content words of `text` (see the module docstring)."""
    words = set()
    for token in _TOKEN.findall(text.lower()):
        if token.isdigit():
            token = token.lstrip("0") or "0"
        if token not in STOP_WORDS:
            words.add(token)
    return words


def words_present(wanted: set[str], texts: Iterable[str]) -> float:
    """The share of the `wanted` content words found among the content words of `texts`."""
    if not wanted:
        raise ValueError("wanted must hold at least one content word")
    found: set[str] = set()
    for text in texts:
        found |= content_words(text) & wanted
    return len(found) / len(wanted)


def score_answer_words(
    answer: str, ranked: Sequence[Hit], budgets: Sequence[int], stored: set[str]
) -> dict[str, float] | None:
    """`answer@Bw`: the share of the answer's content words read within B words of `ranked`; and
    `answer@stored`: the share found in `stored` (the content words of everything the system stores).
    None when the answer has no content word (the question is skipped)."""
    wanted = content_words(answer)
    if not wanted:
        return None
    scores = {
        f"answer@{b}w": words_present(wanted, (h.text for h in within_budget(ranked, b))) for b in budgets
    }
    scores["answer@stored"] = len(wanted & stored) / len(wanted)
    return scores
