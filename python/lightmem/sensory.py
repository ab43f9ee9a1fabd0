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
from lightmem.prune_rules import FILLER_WORDS, MIN_SENTENCE_WORDS, claim_words_text, plan_turns
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


@lru_cache(maxsize=1)
def _prune_rules() -> _core.PruneRules:
    """The pruner's rules, with the shipped claim words and the stopwords of the background table."""
    vocabulary, log_probs = _background_table()
    threshold = STOPWORD_LOG10_FREQ * math.log(10)
    stopwords = [word for word, i in vocabulary.items() if log_probs[i] >= threshold]
    return _core.PruneRules(claim_words_text(), stopwords)


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
    words = dict.fromkeys(word.lower() for word in _KEYWORD.findall(text))
    return [w for w in words if not is_common_word(w)]


def is_common_word(word: str) -> bool:
    """Whether the lowercased `word` is one of the commonest words of everyday English
    (`KEYWORD_LOG10_FREQ`: "the", "you", "that", "have"...)."""
    vocabulary, log_probs = _background_table()
    index = vocabulary.get(word)
    return index is not None and bool(log_probs[index] >= KEYWORD_LOG10_FREQ * math.log(10))


def is_content_word(word: str) -> bool:
    """Whether the lowercased `word` may carry a fact: not one of the commonest English words, nor a
    filler, greeting or pleasantry ("thanks", "great", "congrats")."""
    return not is_common_word(word) and word not in FILLER_WORDS and word not in _PLEASANTRIES


def has_content(text: str) -> bool:
    """Whether `text` holds a number or a content word (`is_content_word`): "hi, how are you doing?" does
    not; "my cat is ill" and "see you at 5" do."""
    if any(ch.isdigit() for ch in text):
        return True
    return any(map(is_content_word, uncommon_words(text)))


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
        ratio = self._config.compression_ratio
        if ratio >= 1.0 or not messages:
            return [
                CompressedTurn(message, " ".join(words), len(words), len(words))
                for message in messages
                for words in [_WORD.findall(message.content)]
            ]
        plans = plan_turns(_prune_rules(), [message.content for message in messages])
        with self._lock:
            ids = np.fromiter(map(self._word_id, plans.keys), dtype=np.uint32, count=len(plans.keys))
            scores = _core.score_tokens(ids, plans.turn_offsets, self._log_probs, self._counts, plans.flags)
            np.add.at(self._counts, ids, 1.0)
        keep = _core.prune_tokens(
            scores,
            plans.sentence_offsets,
            ratio,
            (plans.flags & _core.FLAG_FORCE_KEEP) != 0,
            min_words=MIN_SENTENCE_WORDS,
            bridges=plans.bridges,
        )
        kept = plans.ranked[keep].tolist()
        kept_bounds = np.concatenate([[0], np.cumsum(keep)])[plans.turn_offsets].tolist()
        word_bounds = plans.word_offsets.tolist()
        words = plans.words
        return [
            CompressedTurn(
                message,
                " ".join([words[i] for i in kept[kept_bounds[t] : kept_bounds[t + 1]]]),
                word_bounds[t + 1] - word_bounds[t],
                kept_bounds[t + 1] - kept_bounds[t],
            )
            for t, message in enumerate(messages)
        ]

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
