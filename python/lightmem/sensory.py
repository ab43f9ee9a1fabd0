"""Sensory memory: prune each turn to its informative words, then group turns into topic segments.

Both steps run in the Rust core (`lightmem._core.score_tokens` / `prune_tokens` and
`topic_boundaries`); this module turns text into the flat arrays they take and back into text.
"""

from __future__ import annotations

import gzip
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from lightmem import _core
from lightmem.config import LightMemConfig
from lightmem.types import Message

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")
_SENTENCE_END = (".", "!", "?", ":")

STOPWORD_LOG10_FREQ = -2.6
"""Words more frequent than this in everyday English (about the 120 commonest) are stopwords."""

_DATE_WORDS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
    "saturday sunday today yesterday tomorrow tonight weekend week month year ago last next "
    "morning evening night christmas".split()
)
_FILLERS = frozenset(
    "um umm uh uhh hmm hm oh ooh ah aw aww wow yeah yep yup yay ok okay lol haha hahaha omg hey "
    "hi hello btw anyway basically literally actually really just well so totally".split()
)


@dataclass(frozen=True)
class CompressedTurn:
    """A message after pruning: the kept words in their original order."""

    message: Message
    text: str
    words_in: int
    words_kept: int


@lru_cache(maxsize=1)
def _background_table() -> tuple[dict[str, int], np.ndarray]:
    """The shipped word -> id vocabulary and the natural-log background probability of each id."""
    vocabulary: dict[str, int] = {}
    log_probs: list[float] = []
    data = resources.files("lightmem").joinpath("data", "background_words.tsv.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            word, log10_freq = line.rstrip("\n").split("\t")
            vocabulary.setdefault(word, len(log_probs))
            if vocabulary[word] == len(log_probs):
                log_probs.append(float(log10_freq) * math.log(10))
    return vocabulary, np.asarray(log_probs, dtype=np.float32)


KEYWORD_LOG10_FREQ = -3.3
"""Words more frequent than this (about the 200 commonest) are left out of keyword searches: they match
most memories and say little about any."""
_KEYWORD = re.compile(r"[^\W_]+")
_MAX_KEYWORDS = 32


_PLEASANTRIES = frozenset(
    "thanks thank thx ty bye goodbye cya later soon care talk chat sounds good great nice cool awesome "
    "fine sure glad welcome congrats congratulations morning evening night doing problem cheers".split()
)
"""Greetings, thanks, farewells and short reactions: with `_FILLERS`, words that carry no fact."""


def _uncommon_words(text: str) -> list[str]:
    """The words of `text`, lowercased, without repeats or the commonest words of everyday English
    (`KEYWORD_LOG10_FREQ`)."""
    vocabulary, log_probs = _background_table()
    common = KEYWORD_LOG10_FREQ * math.log(10)
    words = dict.fromkeys(word.lower() for word in _KEYWORD.findall(text))
    return [w for w in words if w not in vocabulary or log_probs[vocabulary[w]] < common]


def keywords(text: str) -> list[str]:
    """The words of `text` worth a keyword search: lowercased, without the commonest words of everyday
    English (`KEYWORD_LOG10_FREQ`) or repeats, at most 32."""
    return _uncommon_words(text)[:_MAX_KEYWORDS]


def has_content(text: str) -> bool:
    """Whether `text` holds a number or a word other than the commonest English words, fillers, greetings
    and pleasantries ("hi, how are you doing?" does not; "my cat is ill" and "see you at 5" do)."""
    if any(ch.isdigit() for ch in text):
        return True
    return any(w not in _FILLERS and w not in _PLEASANTRIES for w in _uncommon_words(text))


def _word_flags(word: str, key: str, previous: str | None, is_stopword: bool) -> int:
    flags = 0
    if any(ch.isdigit() for ch in key):
        flags |= _core.FLAG_NUMBER | _core.FLAG_FORCE_KEEP
    if key in _DATE_WORDS:
        flags |= _core.FLAG_DATE | _core.FLAG_FORCE_KEEP
    starts_sentence = previous is None or previous.endswith(_SENTENCE_END)
    if word[:1].isupper() and not starts_sentence and not is_stopword and key != "i":
        flags |= _core.FLAG_ENTITY | _core.FLAG_FORCE_KEEP
    if key in _FILLERS:
        flags |= _core.FLAG_FILLER
    if is_stopword:
        flags |= _core.FLAG_STOPWORD
    return flags


class SensoryMemory:
    """Compresses and segments batches of turns. One instance per `Memory`; thread-safe.

    The pruner's scores combine a word's rarity in everyday English (a table shipped with the
    package) with how often this memory has already seen it (running counts kept per instance).
    """

    def __init__(self, config: LightMemConfig) -> None:
        self._config = config
        shipped_vocabulary, shipped_log_probs = _background_table()
        self._vocabulary = dict(shipped_vocabulary)
        self._rare_log_prob = float(shipped_log_probs.min())
        self._log_probs = shipped_log_probs.copy()
        self._counts = np.zeros(len(self._log_probs), dtype=np.float32)
        self._stopword_log_prob = STOPWORD_LOG10_FREQ * math.log(10)
        self._lock = threading.Lock()

    def _word_id(self, key: str) -> int:
        word_id = self._vocabulary.get(key)
        if word_id is None:
            word_id = self._vocabulary[key] = len(self._vocabulary)
            if word_id >= len(self._log_probs):
                grown = max(1024, len(self._log_probs) // 2)
                self._log_probs = np.concatenate(
                    [self._log_probs, np.full(grown, self._rare_log_prob, dtype=np.float32)]
                )
                self._counts = np.concatenate([self._counts, np.zeros(grown, dtype=np.float32)])
        return word_id

    def compress(self, messages: Sequence[Message]) -> list[CompressedTurn]:
        """Prunes every message to `compression_ratio` of its words (all of them at ratio 1)."""
        words_per_turn = [_WORD.findall(message.content) for message in messages]
        ratio = self._config.compression_ratio
        if ratio >= 1.0 or not messages:
            return [
                CompressedTurn(message, " ".join(words), len(words), len(words))
                for message, words in zip(messages, words_per_turn)
            ]
        with self._lock:
            token_ids: list[int] = []
            flags: list[int] = []
            for words in words_per_turn:
                previous = None
                for word in words:
                    key = _EDGE_PUNCTUATION.sub("", word).lower() or word
                    word_id = self._word_id(key)
                    is_stopword = bool(self._log_probs[word_id] >= self._stopword_log_prob)
                    token_ids.append(word_id)
                    flags.append(_word_flags(word, key, previous, is_stopword))
                    previous = word
            ids = np.asarray(token_ids, dtype=np.uint32)
            offsets = np.zeros(len(messages) + 1, dtype=np.int64)
            np.cumsum([len(words) for words in words_per_turn], out=offsets[1:])
            flag_array = np.asarray(flags, dtype=np.uint8)
            scores = _core.score_tokens(ids, offsets, self._log_probs, self._counts, flag_array)
            np.add.at(self._counts, ids, 1.0)
        keep = _core.prune_tokens(
            scores,
            np.arange(len(ids), dtype=np.uint32),
            offsets,
            ratio,
            (flag_array & _core.FLAG_FORCE_KEEP) != 0,
        )
        turns = []
        for index, (message, words) in enumerate(zip(messages, words_per_turn)):
            start = int(offsets[index])
            kept = [word for word, k in zip(words, keep[start : start + len(words)]) if k]
            turns.append(CompressedTurn(message, " ".join(kept), len(words), len(kept)))
        return turns

    def segment(self, embeddings: np.ndarray, messages: Sequence[Message]) -> list[range]:
        """Splits turns (with their embeddings, one row each) into consecutive topic segments."""
        n = len(messages)
        if n == 0:
            return []
        gaps = np.zeros(max(n - 1, 0), dtype=np.float32)
        for i in range(1, n):
            before, after = messages[i - 1].timestamp, messages[i].timestamp
            if before is not None and after is not None:
                gaps[i - 1] = max((after - before).total_seconds(), 0.0) / 3600.0
        config = self._config
        starts = _core.topic_boundaries(
            np.ascontiguousarray(embeddings, dtype=np.float32),
            gaps,
            window=2,
            threshold=config.segment_threshold,
            min_len=config.segment_min_turns,
            max_len=config.segment_max_turns,
            max_gap=config.segment_time_gap_hours,
        )
        edges = [0, *(int(s) for s in starts), n]
        return [range(a, b) for a, b in zip(edges, edges[1:])]
