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

import pytest
from lightmem.answer_words import answer_words
from lightmem.prompts import Turn, read_extract_answer
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


FIXED = ["x001", "x005", "x053", "x054", "x059"]
"""Faithful units of the labelled set that `_check_grounded` refused (pronouns, "will not", number words)."""


def test_the_labelled_units_are_read_as_measured() -> None:
    """At least 95% of the faithful units are kept (91% before) and as many inventions refused as
    measured in session 8 (27 of 59: one fewer than before, "Alice is traveling to Japan with her
    boyfriend Mark", 2 words of 6 in its turn once "her" is left out)."""
    checks = bench()
    results = [outcome for outcome in checks.outcomes(checks.load()) if outcome.check == "grounded"]
    assert all(r.accepted for r in results if r.id in FIXED)
    faithful = [r.accepted for r in results if r.label == "faithful"]
    invented = [r.accepted for r in results if r.label == "invented"]
    assert sum(faithful) >= 0.95 * len(faithful) and invented.count(False) >= 27


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
