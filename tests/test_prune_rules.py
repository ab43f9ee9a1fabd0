"""`_core.PruneRules` (rust/src/prune_rules.rs) against `prune_oracle`, a plain Python version of the
same rules, on generated turns; and its input checks. (What the rules keep is tested in
test_fidelity.py.)"""

from __future__ import annotations

import numpy as np
import prune_oracle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightmem import _core
from lightmem.prune_rules import FILLER_WORDS, claim_words_text

STOPWORDS = sorted("the a an to of and is was i you it that in for on with have be".split())

VOCABULARY = (
    # claim words and phrases (no, no longer, used to, a few, at least, whether or not), particles
    "not no never longer used to a few at least whether or only if unless before after since by from "
    "all some every more than might can will must want forgot almost always still yet three twelve "
    "first last next today Monday up down off out away back over on in "
    # clitics and numbers by their form, other languages and scripts
    "don't can’t won´t isnʼt shouldn't've I'd you'll I'd've n'est ne pas nicht keine не 3 9am 2019 "
    "٣٤ ४५० ３０ Ⅻ 九十 不 食べない "
    # subjects, auxiliaries, determiners, object pronouns, conjunctions, wh-words
    "I you he she we they it who I'm you're it's we've who've am is are was were been being do did "
    "have had the a my your this that them him her me us and but so because what why how where "
    # adverbs, fillers, content words, names
    "really just actually usually finally totally well like um oh wow yeah okay haha "
    "love job gave turned put coat checked game museum painting coffee friends Boston Maria "
    "eat call help found calms imagination soars apply family "
    # rule 10: noun-phrase subjects, past tenses, verbs in -s, objects, prepositions; rule 11: brackets
    "sister neighbour's Anna's doctor kids fence garden car keys bought took said painted enjoyed "
    "barked loves walks works driving near through around Look [shares photo lake] "
    # rule 12: object pronouns, reflexives, reporting verbs, subordinators
    "myself themselves thinks says remind owes if whether when although once "
    # rules 13 and 14: approximators before quantities, comparisons, relative pronouns, list markers,
    # infinitives, verbs after conjunctions, pronouns after prepositions
    "about around over under exactly close to half an hour week few like as than who which "
    "where how 1) (2) 3. a) - • then hates fixed lives build shelter with guy roommate because while "
    "had wait we'll milk, eggs, loaves "
    # rules 15-20: result "so", presentatives, possessives, gerunds and participles, roles, base
    # auxiliaries after "to", adjectives, verbs in -s
    "so here's there's that's his our their its children's Nature's painting playing leaning be lucky "
    "happy brings offers glass window nurse"
).split()
DECORATIONS = ["", "", "", "", ",", ".", "!", "?", "...", ";", ":", ")", '"', "”", "’", "?”", ".)"]
OPENERS = ["", "", "", "", "", "", "[", '"', "(", "“"]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\u3000", "\x1c"]


@st.composite
def turns(draw: st.DrawFn) -> str:
    n = draw(st.integers(0, 30))
    parts = []
    for _ in range(n):
        word = draw(st.sampled_from(VOCABULARY))
        if draw(st.booleans()) and draw(st.booleans()):
            word = word.capitalize() if draw(st.booleans()) else word.upper()
        parts.append(draw(st.sampled_from(OPENERS)) + word + draw(st.sampled_from(DECORATIONS)))
        parts.append(draw(st.sampled_from(SPACES)))
    return "".join(parts)


NOUN_PHRASE_OPENERS = "the a my our her Anna's Maria Look the 20 three Painting here's his".split()
NOUNS = (
    "sister doctor kids fence garden car keys photo lake family coffee job imagination 8 an hour "
    "children's painting leaning lucky"
).split()
VERB_GROUPS = [
    *"bought took said painted enjoyed barked loves walks works is was gave hates build".split(),
    "really enjoyed",
    "usually walks",
    "has been",
    "didn't like",
    "might not eat",
    "gave up",
    "thinks",
    "remind me",
    "owes him",
    "brings",
    "is my",
    "to have",
    "be",
]
LINKS = [
    "",
    "",
    "to",
    "to",
    "who",
    "which",
    "that",
    "when",
    "and",
    "or",
    ",",
    "about",
    "over",
    "like",
    "as",
    "1)",
    "-",
    "then",
    "with",
    "him",
    "them",
    "at",
    "near",
    "through",
    "up",
    "and",
    "but",
    "so",
    "I",
    "she",
    "it",
    "me",
    "that",
    "if",
    "so",
    ", so",
    "so we",
    "as a",
    "like",
    "and brings",
    "there's",
]


@st.composite
def clauses(draw: st.DrawFn) -> str:
    """Turns of clause-shaped word sequences (noun phrases of every length, verbs of every form), where
    rule 10's subjects, verbs and objects occur far more often than among random words."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        for _ in range(2):
            if draw(st.booleans()):
                parts.append(draw(st.sampled_from(NOUN_PHRASE_OPENERS)))
            parts += draw(st.lists(st.sampled_from(NOUNS), max_size=6))
            parts.append(draw(st.sampled_from(VERB_GROUPS)) if draw(st.booleans()) else "")
            parts.append(draw(st.sampled_from(LINKS)))
        parts.append(draw(st.sampled_from(["", ",", ".", "!", "?", "]"])))
    return " ".join(part for part in parts if part).replace(" ,", ",").replace(" .", ".")


def rust_plan(rules: _core.PruneRules, texts: list[str]) -> tuple[object, ...]:
    words, word_offsets, ranked, keys, flags, bridges, sentences, turn_offsets = rules.plan(texts)
    return (
        words,
        word_offsets.tolist(),
        ranked.tolist(),
        keys,
        flags.tolist(),
        bridges.tolist(),
        sentences.tolist(),
        turn_offsets.tolist(),
    )


RULES = _core.PruneRules(claim_words_text(), STOPWORDS)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(turns(), max_size=4))
def test_plan_matches_the_python_oracle(texts: list[str]) -> None:
    expected = prune_oracle.plan_batch(texts, set(STOPWORDS))
    assert rust_plan(RULES, texts) == expected


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(clauses(), max_size=3))
def test_plan_matches_the_python_oracle_on_clauses(texts: list[str]) -> None:
    expected = prune_oracle.plan_batch(texts, set(STOPWORDS))
    assert rust_plan(RULES, texts) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "um, oh, wow!",
        "Well, like, I gave it up. It is over; we checked in at noon.",
        "I don't think I'll ever go back, unless Maria calls before 9am?",
        "What did it look like? [shares an image: a photo of a dog]",
        "no_longer used_to a_few",  # a literal underscore key is its phrase's entry
        "“Hello,” she said. I’ve never seen 三 cats… “Not yet.”",
        "My sister bought a new car and she loves driving it to work.",
        "The doctor said my blood pressure is fine, so Anna's kids really enjoyed the trip.",
        "[shares a photo of a red barn near the river] Look at this view!",
        "Anna hates when I leave dishes in the sink, and gave it to Caroline for about 8 months.",
        "The guy who lives next door fixed my bike. Anna, my roommate, hates it; up to 3 weeks or so.",
        "My journey and the support I got made a difference: 1) call the dentist 2) talk to him - buy it.",
        "It tastes like soap, as tall as over an hour, under the bridge; I hope to build a shelter.",
        "We painted the garden fence a dark green. Our neighbour finally walks to work.",
        "My dad thinks I should sell the house, but I lost it and he owes me. Remind me if she says that.",
        "It was raining, so we stayed in. My sister works as a nurse at the children's hospital in Denver.",
        "I gave my brother a guitar; she lent us their van. Music brings us together and brings joy.",
        "Painting landscapes and still life is my favorite! Nature's amazing, here's a painting I did.",
        "I'm lucky to have my kids and happy to help. [a photo of a stained glass window leaning on a wall]",
        "Now I'm creating a safe, inviting place. There's a leak in the kitchen ceiling, so call him.",
    ],
)
def test_plan_matches_the_python_oracle_on_written_turns(text: str) -> None:
    assert rust_plan(RULES, [text, text]) == prune_oracle.plan_batch([text, text], set(STOPWORDS))


def test_plan_shapes_and_dtypes() -> None:
    words, word_offsets, ranked, keys, flags, bridges, sentences, turn_offsets = RULES.plan(
        ["Um, I love it. Really!", "", "ok"]
    )
    assert words == ["Um,", "I", "love", "it.", "Really!", "ok"]
    assert word_offsets.dtype == np.int64 and word_offsets.tolist() == [0, 5, 5, 6]
    assert ranked.dtype == np.uint32 and len(keys) == len(ranked) == len(flags) == len(bridges)
    assert flags.dtype == np.uint8 and bridges.dtype == np.bool_
    assert sentences.dtype == np.int64 and sentences[0] == 0 and sentences[-1] == len(ranked)
    assert turn_offsets.dtype == np.int64 and turn_offsets.tolist()[-1] == len(ranked)


def test_filler_words_are_the_oracles() -> None:
    assert FILLER_WORDS == prune_oracle.FILLER_WORDS


@pytest.mark.parametrize(
    ("claim_words", "message"),
    [
        ("orphan\n@class head\nword", "before the first @class line"),
        ("@class heady\nword", "unknown attribute"),
    ],
)
def test_bad_claim_word_lists_are_errors(claim_words: str, message: str) -> None:
    with pytest.raises(_core.KernelInputError, match=message):
        _core.PruneRules(claim_words, [])


def test_plan_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        RULES.plan([1, 2])  # type: ignore[list-item]
