"""The lexical answer checks (`_check_grounded`, `_check_rewrite`, `_check_delete`) on a capable model's
faithful answers, which paraphrase, and on inventions, through the public readers: the labelled set of
benches/answer_checks.py (249 answers written as a GPT-4-class model would answer), whose fixed false
refusals are regression cases, and a sample of each kind written here."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import pytest
from lightmem.answer_words import answer_words
from lightmem.prompts import Turn, read_consolidate_answer, read_extract_answer
from lightmem.prune_rules import claim_class


def bench() -> ModuleType:
    """benches/answer_checks.py, which reads the labelled set through the public readers."""
    path = Path(__file__).parents[1] / "benches" / "answer_checks.py"
    spec = importlib.util.spec_from_file_location("answer_checks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


FIXED = ["x001", "x005", "x053", "x054", "x059", "k003", "k021"]
"""Faithful answers of the labelled set that the checks refused (pronouns, "will not", number words,
an update saying what the newer memory says, a merge writing numbers in words). k034 ("Eli is 7 years
old." updated to what "Eli turned 8 on 2 March" of the same date says) is refused again since a memory
supersedes only one of an earlier date."""
NEWLY_REFUSED = ["k015", "k026", "k053", "k090", "k104", "k060"]
"""Inventions of the labelled set that the checks accepted: the newer memory deleted for, or rewritten
from, an older one; a deletion of "Nina's kids are 6 and 9" for "Nina has two children"."""


def test_the_labelled_answers_are_read_as_measured() -> None:
    """Each check keeps at least the faithful answers and refuses at least as many inventions as measured
    in session 8 (before: 91%, 89% and 100% faithful kept; 28, 11 and 6 inventions refused). Deletions
    and rewrites justified by a memory of the same date are refused since SmolLM2-135M deleted a memory
    for another of the same day that shared the speaker's name and "music": faithful deletions kept
    100% -> 86%, inventions refused 10 -> 16."""
    checks = bench()
    results = {outcome.id: outcome for outcome in checks.outcomes(checks.load())}
    assert all(results[key].accepted for key in FIXED), [results[k] for k in FIXED if not results[k].accepted]
    assert not any(results[key].accepted for key in NEWLY_REFUSED)
    for check, kept_share, refused in (("grounded", 0.95, 27), ("rewrite", 0.93, 12), ("delete", 0.85, 16)):
        faithful = [r.accepted for r in results.values() if r.check == check and r.label == "faithful"]
        invented = [r.accepted for r in results.values() if r.check == check and r.label == "invented"]
        assert sum(faithful) >= kept_share * len(faithful) and invented.count(False) >= refused, check


MONDAY = datetime(2024, 4, 15, 18, 30)
CHAT = [
    [
        Turn("t1", "Dana", MONDAY, "Honestly I'm drowning, the twins & my new role take all my time."),
        Turn("t2", "Femi", MONDAY + timedelta(minutes=1), "Hang in there. Still up for the climbing gym?"),
        Turn("t3", "Dana", MONDAY + timedelta(minutes=2), "Can't, I won't climb till my wrist heals."),
        Turn(
            "t4",
            "Femi",
            MONDAY + timedelta(minutes=3),
            "Fair. My sister's wedding is on the 27th, 120 guests!",
        ),
        Turn("t5", "Dana", MONDAY + timedelta(minutes=4), "Lovely! We'll send a gift. Tell her congrats."),
        Turn("t6", "Femi", MONDAY + timedelta(minutes=5), "She turned 41 last week, too. Big month for her."),
    ]
]


def kept(text: str, turns: list[int]) -> bool:
    """Whether `read_extract_answer` keeps the unit `text` citing `turns` of `CHAT`."""
    answer = read_extract_answer(json.dumps({"memories": [{"text": text, "turns": turns}]}), CHAT)
    return bool(answer.units)


@pytest.mark.parametrize(
    ("text", "turns"),
    [
        ("Dana has her twins and her new role to manage.", [1]),  # "my" is the speaker's: "her"
        ("Dana will not climb for the time being.", [3]),  # "won't", "can't": "not" (refused before)
        ("Femi's sister turned forty-one in April 2024.", [6]),  # number words are digits
        ("Femi's sister's wedding is on Saturday the 27th of April 2024, with 120 guests.", [4]),
        ("Dana will send a gift for the wedding of Femi's sister.", [4, 5]),
        ("Femi invited Dana to the climbing gym.", [2]),
    ],
)
def test_a_faithful_paraphrase_is_kept(text: str, turns: list[int]) -> None:
    assert kept(text, turns)


@pytest.mark.parametrize(
    ("text", "turns"),
    [
        ("I am so happy to have a friend like you in my life.", [2]),  # a pleasantry
        ("Dana is a professional rock climber who competes in Europe.", [3]),  # invented
        ("Femi's sister works as a dentist in Lagos and loves hiking.", [6]),  # invented details
        ("Dana's thirty-four guests love their new apartment downtown.", [4]),  # a number no turn said
    ],
)
def test_an_invention_is_refused(text: str, turns: list[int]) -> None:
    assert not kept(text, turns)


def day(number: int) -> datetime:
    return datetime(2024, 1, 1) + timedelta(days=number)


def decided(cluster: list[tuple[Optional[datetime], str]], change: dict[str, Any]) -> tuple[str, list[str]]:
    """The action `read_consolidate_answer` takes for the memory `change` names, and the problems."""
    members = [(f"m{number}", text, when) for number, (when, text) in enumerate(cluster, start=1)]
    answer = read_consolidate_answer(json.dumps({"changes": [change]}), [members])
    return answer.decisions[change["memory"] - 1].action, answer.problems


OFFICE = [(day(0), "Lena lives in Leeds."), (day(90), "Lena moved to Bristol in April.")]
SINGER = [(day(0), "Omar sings in the choir."), (day(30), "Omar quit the choir in February.")]
BOOKS = [
    (day(0), "About 20 people joined Kim's book club."),
    (day(40), "Twenty-five people are in Kim's book club."),
]


@pytest.mark.parametrize(
    ("cluster", "change"),
    [
        # an update that says what the newer memory says (refused before: keeps 1 of 3 words of memory 1)
        (OFFICE, {"memory": 1, "action": "update", "text": "Lena moved to Bristol."}),
        # a merge writing numbers in words (refused before: keeps 2 of 6 words of memory 1)
        (
            BOOKS,
            {"memory": 1, "action": "merge", "into": 2, "text": "Twenty-five members are in Kim's club."},
        ),
        # rewrites keeping the memory's words, and deletions for a newer memory, stood before and still do
        (OFFICE, {"memory": 1, "action": "update", "text": "Lena moved from Leeds to Bristol."}),
        (SINGER, {"memory": 1, "action": "update", "text": "Omar quit the choir."}),
        (OFFICE, {"memory": 1, "action": "delete"}),
        (SINGER, {"memory": 1, "action": "delete"}),
    ],
)
def test_a_faithful_consolidation_change_stands(
    cluster: list[tuple[Optional[datetime], str]], change: dict[str, Any]
) -> None:
    action, problems = decided(cluster, change)
    assert action == change["action"] and problems == []


@pytest.mark.parametrize(
    ("cluster", "change", "problem"),
    [
        # the newer memory deleted for the older one: the news is lost (it stood before)
        (
            [
                (day(0), "Lena works at the Leeds office."),
                (day(60), "Lena quit her job at the Leeds office."),
            ],
            {"memory": 2, "action": "delete"},
            "of a later date, supersedes it",
        ),
        (SINGER, {"memory": 2, "action": "delete"}, "of a later date, supersedes it"),
        # rewrites into other words, and a deletion no memory accounts for
        (OFFICE, {"memory": 1, "action": "update", "text": "Lena loves her new colleagues."}, "keeps 1 of"),
        (SINGER, {"memory": 1, "action": "update", "text": "Omar is a famous opera star."}, "keeps 1 of"),
        (
            [(day(0), "Kim reads crime novels."), (day(9), "Kim's cat is called Rex.")],
            {"memory": 1, "action": "delete"},
            "only for one that repeats it",
        ),
    ],
)
def test_an_invented_consolidation_change_is_dropped(
    cluster: list[tuple[Optional[datetime], str]], change: dict[str, Any], problem: str
) -> None:
    action, problems = decided(cluster, change)
    assert action == "keep" and len(problems) == 1 and problem in problems[0], problems


def test_an_older_memory_that_repeats_a_newer_one_may_replace_it() -> None:
    cluster = [(day(0), "Lena works from the Leeds office."), (day(5), "Lena works at the Leeds office.")]
    assert decided(cluster, {"memory": 2, "action": "delete"}) == ("delete", [])
    undated = [(None, "Lena moved to the Bristol office."), (None, "Lena works from the Leeds office.")]
    assert decided(undated, {"memory": 2, "action": "delete"}) == ("delete", [])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("I'm sure she'll say no", {"sure", "will", "say", "not"}),
        ("doesn't, does not, never, cannot", {"does", "not"}),
        ("Thirty-four guests, 34 people, the 34th guest", {"34", "guests", "people", "the", "guest"}),
        ("$4,000 or 4000 in 2023", {"4000", "2023"}),
        ("on 13 May, May 13th, the 13th of May", {"may", "the"}),
        ("We told them our plans", {"told", "plans"}),
        ("我昨天去了北京", {"我昨", "昨天", "天去", "去了", "了北", "北京"}),
    ],
)
def test_answer_words(text: str, words: set[str]) -> None:
    assert answer_words(text) == words


def test_claim_class_reads_one_class_and_names_a_missing_one() -> None:
    assert {"not", "never", "dont", "without"} <= claim_class("negation")
    assert "no_one" not in claim_class("negation") and "twenty" not in claim_class("negation")
    with pytest.raises(ValueError, match="no class 'negations'"):
        claim_class("negations")
