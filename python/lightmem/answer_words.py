"""The words by which lightmem compares a model's answer with what it restates (`prompts._check_grounded`,
`_check_rewrite`, `_check_delete`): Porter stems of the words of three letters or more, read so that a
faithful restatement keeps its words. A memory is written in the third person where the turn said "I"
(the extraction prompt asks for it), so personal pronouns are no evidence either way and are left out;
a negation is one word however it is spelt ("doesn't", "does not", "no", "never" are all "not"); a
contraction's second part is the word it stands for ("she'll" is "she will"); a number is a word
whatever its length, in digits however it is written ("34", "thirty-four", "34th", "1,000" and "1000");
the day of a date is left out (its month and year say which date: "13 May", "May 13th")."""

from __future__ import annotations

import re
from functools import lru_cache

from lightmem import _core
from lightmem.prune_rules import claim_class
from lightmem.sensory import is_content_word

_WORD = re.compile(r"[^\W_]+")
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)
"""A run of characters of scripts written without spaces between words (Thai, Lao, Myanmar, Khmer,
hiragana and katakana, CJK ideographs)."""

PERSONAL_PRONOUNS = frozenset(
    "i me my mine myself you your yours yourself yourselves he him his himself she her hers herself "
    "it its itself we us our ours ourselves they them their theirs themselves".split()
)
"""English personal and possessive pronouns (a closed class)."""

_APOSTROPHE = re.compile("[\u2018\u2019\u00b4\u02bc]")
_NOT = re.compile(r"(?<=[^\W_])n't\b")
_CLITIC = re.compile(r"(?<=[^\W_])'(ll|re|ve|d|m|s)\b")
_CLITIC_WORDS = {"ll": " will", "re": " are", "ve": " have", "d": " would", "m": " am", "s": ""}
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_UNIT_ORDINALS = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_TEN_ORDINALS = "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()
_NUMBER_VALUES = {
    **{word: value for value, word in enumerate(_UNITS)},
    **{word: value for value, word in enumerate(_UNIT_ORDINALS)},
    **{word: 20 + 10 * index for index, word in enumerate(_TENS)},
    **{word: 20 + 10 * index for index, word in enumerate(_TEN_ORDINALS)},
}
_NUMBER_WORD = re.compile(
    rf"\b(?:({'|'.join(_TENS)})[- ]({'|'.join(_UNITS[1:10] + _UNIT_ORDINALS[1:10])})|"
    rf"({'|'.join(_NUMBER_VALUES)}))\b"
)
"""An English number word from zero to ninety-nine, cardinal or ordinal ("thirty-four", "seventieth")."""
_MONTH = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DAY = re.compile(rf"\b\d{{1,2}} (?:of )?({_MONTH})\b|\b({_MONTH}) \d{{1,2}}\b")
"""A day of a month and its month ("13 May", "13 of May", "May 13"; ordinals are digits by then)."""


def long_words(text: str) -> set[str]:
    """The words of `text` of three letters or more, lowercased; in a script written without spaces
    (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar), every two adjacent characters, as the words of
    such a run cannot be told apart without a dictionary ("我昨天去了北京" and "她去北京" share "北京")."""
    lowered = text.lower()
    words = {word for word in _WORD.findall(_UNSPACED.sub(" ", lowered)) if len(word) > 2}
    for run in _UNSPACED.findall(lowered):
        words.update(run[i : i + 2] for i in range(len(run) - 1))
    return words


def answer_words(text: str) -> set[str]:
    """The `long_words` of `text` as the answer checks compare them (see the module): negations read as
    "not", contractions spelt out, personal pronouns and numbers below 100 left out."""
    spelt = _APOSTROPHE.sub("'", text.lower())
    spelt = _NOT.sub(" not", spelt)
    spelt = _CLITIC.sub(lambda match: _CLITIC_WORDS[match.group(1)], spelt)
    spelt = _NUMBER_WORD.sub(_number_digits, spelt)
    spelt = _THOUSANDS.sub("", _ORDINAL.sub(r"\1", spelt))
    spelt = _DAY.sub(lambda match: match.group(1) or match.group(2), spelt)
    negations = _negations()
    words = set()
    for word in _WORD.findall(_UNSPACED.sub(" ", spelt)):
        if word in negations:
            words.add("not")
        elif word.isdecimal() or (len(word) > 2 and word not in PERSONAL_PRONOUNS):
            words.add(word)
    for run in _UNSPACED.findall(spelt):
        words.update(run[i : i + 2] for i in range(len(run) - 1))
    return words


def word_stems(text: str, *, content_only: bool = False) -> set[str]:
    """The stems (Porter's, as keyword search makes them) of the `answer_words` of `text`, so that a
    text's words are found whatever their inflections ("cats" and "cat", "lives" and "live"); with
    `content_only`, of the content words only (`sensory.is_content_word`: not "you", "that", "have",
    "thanks", "great"...)."""
    words = [w for w in answer_words(text) if not (content_only and not is_content_word(w))]
    return {stem for word in words for stem in _core.fts5_tokens(word) or [word]}


def _number_digits(match: re.Match[str]) -> str:
    if match.group(3) is not None:
        return str(_NUMBER_VALUES[match.group(3)])
    return str(_NUMBER_VALUES[match.group(1)] + _NUMBER_VALUES[match.group(2)])


@lru_cache(maxsize=1)
def _negations() -> frozenset[str]:
    return claim_class("negation") | {"not"}
