"""Sensory memory: prune each turn to its informative words, then group turns into topic segments.

Both steps run in the Rust core (`lightmem._core.score_tokens` / `prune_tokens` and
`topic_boundaries`); this module turns text into the flat arrays they take and back into text, with
`lightmem.prune_rules` saying which words a pruned turn must keep.
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
from lightmem.prune_rules import FILLER_WORDS, MIN_SENTENCE_WORDS, PrunePlan, prune_turn, word_key
from lightmem.types import Message

_WORD = re.compile(r"\S+")

STOPWORD_LOG10_FREQ = -2.6
"""Words more frequent than this in everyday English (about the 45 commonest) are stopwords."""


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
"""Words more frequent than this (about the 200 commonest) say little about a text: they are no keywords
of a search (`retrieval.keywords`) and no content of a segment (`has_content`)."""
_KEYWORD = re.compile(r"[^\W_]+")


_PLEASANTRIES = frozenset(
    "thanks thank thx ty bye goodbye cya later soon care talk chat sounds good great nice cool awesome "
    "fine sure glad welcome congrats congratulations morning evening night doing problem cheers".split()
)
"""Greetings, thanks, farewells and short reactions: with `FILLER_WORDS`, words that carry no fact."""


def uncommon_words(text: str) -> list[str]:
    """The words of `text`, lowercased, without repeats or the commonest words of everyday English
    (`KEYWORD_LOG10_FREQ`)."""
    vocabulary, log_probs = _background_table()
    common = KEYWORD_LOG10_FREQ * math.log(10)
    words = dict.fromkeys(word.lower() for word in _KEYWORD.findall(text))
    return [w for w in words if w not in vocabulary or log_probs[vocabulary[w]] < common]


def has_content(text: str) -> bool:
    """Whether `text` holds a number or a word other than the commonest English words, fillers, greetings
    and pleasantries ("hi, how are you doing?" does not; "my cat is ill" and "see you at 5" do)."""
    if any(ch.isdigit() for ch in text):
        return True
    return any(w not in FILLER_WORDS and w not in _PLEASANTRIES for w in uncommon_words(text))


def _offsets(lengths: Sequence[int]) -> np.ndarray:
    """Ragged-batch offsets (`m + 1` entries, from 0) of consecutive runs of the given lengths."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


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
        """Prunes every message by the rules of `lightmem.prune_rules` (nothing at ratio 1): sentence
        by sentence, fillers first, the words no rule protects cut to `compression_ratio` of them;
        claim words (negations, modals, quantifiers, numbers, dates, names, ...) and the words they
        apply to are always kept, and so are sentences of up to `MIN_SENTENCE_WORDS` words."""
        words_per_turn = [_WORD.findall(message.content) for message in messages]
        ratio = self._config.compression_ratio
        if ratio >= 1.0 or not messages:
            return [
                CompressedTurn(message, " ".join(words), len(words), len(words))
                for message, words in zip(messages, words_per_turn)
            ]
        with self._lock:
            plans: list[PrunePlan] = []
            token_ids: list[int] = []
            for words in words_per_turn:
                keys = [word_key(word) for word in words]
                word_ids = [self._word_id(key) for key in keys]
                stopword = [bool(self._log_probs[i] >= self._stopword_log_prob) for i in word_ids]
                plan = prune_turn(words, keys, stopword)
                plans.append(plan)
                token_ids.extend(word_ids[i] for i in plan.words)
            ids = np.asarray(token_ids, dtype=np.uint32)
            flags = np.asarray([f for plan in plans for f in plan.flags], dtype=np.uint8)
            turn_offsets = _offsets([len(plan.words) for plan in plans])
            scores = _core.score_tokens(ids, turn_offsets, self._log_probs, self._counts, flags)
            np.add.at(self._counts, ids, 1.0)
        keep = _core.prune_tokens(
            scores,
            np.arange(len(ids), dtype=np.uint32),
            _offsets([length for plan in plans for length in plan.sentence_lengths]),
            ratio,
            (flags & _core.FLAG_FORCE_KEEP) != 0,
            min_words=MIN_SENTENCE_WORDS,
        )
        bridges = np.asarray([b for plan in plans for b in plan.bridges], dtype=bool)
        keep[1:-1] |= bridges[1:-1] & keep[:-2] & keep[2:]
        turns = []
        for message, words, plan, start in zip(messages, words_per_turn, plans, turn_offsets):
            kept = [words[i] for i, k in zip(plan.words, keep[start : start + len(plan.words)]) if k]
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
