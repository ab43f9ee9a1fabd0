"""Ingestion: messages in, memory units stored.

`add` embeds each turn and buffers it (`ShortTermBuffer`); once a scope's buffer is full (flushed by the
add, or by `lightmem.background_extraction`), or at a forced flush, the buffered turns go through the
pipeline in one pass:

compress (sensory pruning) -> embed (the turn vectors buffered with them) -> segment (topic boundaries)
-> extract (one LLM call per batch of segments, `ShortTermMemory`) -> keys (each unit's search vector)
-> store (the units, their vectors and the removal of their turns from the buffer, in one transaction).

`add(infer=False)` skips the buffer: each message is a unit as it is, keyed by its own text.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Optional, Protocol

import numpy as np

from lightmem.after_fork import reset_in_child
from lightmem.config import LightMemConfig
from lightmem.counted_llm import CountedLLM
from lightmem.embedding import Embedder, embed_distinct
from lightmem.llm import LLM, LLMError, OfflineLLM
from lightmem.messages import message_from_dict
from lightmem.sensory import SensoryMemory
from lightmem.short_term import ShortTermMemory
from lightmem.short_term_buffer import ShortTermBuffer, buffer_record
from lightmem.store.protocol import ClaimStore, UnitStore
from lightmem.text_keys import embedding_text, turn_key_text
from lightmem.types import ExtractedUnit, MemoryItem, Message, Scope

logger = logging.getLogger("lightmem")

EXTRACTION_CALL_THRESHOLDS = 2
"""One extraction call holds at most this many `buffer_token_threshold`s of words (and at most
`extraction_batch_segments` segments): a flush at the threshold is one call, a buffer that grew while
the LLM worked is several calls of that size."""


class IngestionStore(UnitStore, ClaimStore, Protocol):
    """What ingestion needs of a store: units and counters, and the claim of a scope's flush."""


class Ingestion:
    """Turns the messages given to a `Memory` into memory units in `store`. Thread-safe: flushes of one
    instance run one at a time (flushes of other processes are told apart by the store: see `flush`).

    `unit_text_weight`: the weight of a unit's own text in its search key (see `LightMemConfig`), resolved
    for the extraction backend `llm`.
    """

    def __init__(
        self,
        store: IngestionStore,
        buffer: ShortTermBuffer,
        embedder: Embedder,
        llm: LLM,
        config: LightMemConfig,
        unit_text_weight: float,
    ) -> None:
        self._store = store
        self._buffer = buffer
        self._embedder = embedder
        self._llm = llm
        self._batch_segments = config.extraction_batch_segments
        self._batch_words = EXTRACTION_CALL_THRESHOLDS * config.buffer_token_threshold
        self._segment_context_weight = config.segment_context_weight
        self._unit_text_weight = unit_text_weight
        self._sensory = SensoryMemory(config)
        self._flush_lock = threading.Lock()
        reset_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """In a forked child: a new flush lock (a flush of the parent's background thread may have held
        it at the fork, and would hold it for ever in the child)."""
        self._flush_lock = threading.Lock()

    def buffer(self, scope: Scope, messages: Sequence[Message], metadata: Mapping[str, Any]) -> bool:
        """Buffers `messages` (with the `metadata` of their call) with their turns' embeddings; whether the
        scope's buffer is now full (due for `flush_scope`)."""
        tally: Counter[str] = Counter()
        vectors = embed_distinct(
            self._embedder, [turn_key_text(m) for m in messages], tally
        )  # flushes reuse them
        return self._buffer.add(scope, messages, metadata, vectors, tally)

    def flush(self, scope: Optional[Scope]) -> list[MemoryItem]:
        """Flushes the whole buffer of every exact scope the query scope `scope` covers (of every scope if
        None): the units stored. A scope that fails is logged and the others go on; then the first
        failure is raised."""
        items: list[MemoryItem] = []
        failures: list[Exception] = []
        for each in self._buffer.scopes(scope):
            try:
                items.extend(self._flush_scope(each, force=True) or [])  # waits: never None
            except Exception as err:  # raised below, once the other scopes are flushed
                logger.error("flush of %s failed, its messages stay in the buffer: %r", each, err)
                failures.append(err)
        if failures:
            raise failures[0]
        return items

    def store_verbatim(
        self, scope: Scope, messages: Sequence[Message], metadata: Mapping[str, Any]
    ) -> list[MemoryItem]:
        """One unit per message, its content as it is, keyed by the embedding of that text (the messages
        are recorded as the buffer would hold them, so that a retried add is recognised either way)."""
        records = [buffer_record(m, metadata) for m in messages]
        units = [ExtractedUnit(m.content, (m.id,), event_time=m.timestamp) for m in messages]
        tally: Counter[str] = Counter()
        vectors = self._unit_vectors(units, {}, tally)
        tally["units_extracted"] += len(units)
        return self._store.add(scope, units, vectors, metadata=metadata, messages=records, counts=tally)

    def flush_scope(self, scope: Scope, *, force: bool, wait: bool) -> Optional[list[MemoryItem]]:
        """Flush the exact `scope` (`force`: its whole buffer; else its last topic segment waits for more
        turns) under the store's claim on it (`wait`: for another holder to finish; else nothing is done
        while another holds it, and None is returned): the units stored."""
        return self._flush_scope(scope, force, wait)

    def _flush_scope(
        self, scope: Scope, force: bool, wait: Optional[bool] = None
    ) -> Optional[list[MemoryItem]]:
        # the claim keeps every other process (and machine) from extracting the same messages meanwhile;
        # `wait` (default: `force`) waits for another's flush to end, then flushes what is left
        claim = self._store.claim("flush", scope, wait=force if wait is None else wait)
        with self._flush_lock, claim as held:
            if not held:
                return None  # another process (or thread) flushes this scope now
            pending = self._buffer.messages(scope)
            if not pending:
                return []
            messages = [message_from_dict(record) for _, record in pending]
            turns = self._sensory.compress(messages)
            tally: Counter[str] = Counter()
            vectors = self._turn_vectors(pending, messages, tally)
            segments = self._sensory.segment(vectors, messages)
            if not force and len(segments) > 1:
                segments = segments[:-1]  # the last topic may still go on: it waits for more turns
            taken = [i for segment in segments for i in segment]
            extractor = self._extractor(scope)
            try:
                units = extractor.extract([[turns[i] for i in segment] for segment in segments])
            except LLMError:  # deferred: the messages stay in the buffer
                self._store.add_counts(scope, {**extractor.counts, "extractions_deferred": 1})
                raise
            tally.update(extractor.counts)
            times = {m.id: m.timestamp for m in messages if m.timestamp is not None}
            units = [_with_event_time(unit, times) for unit in units]
            turn_keys = self._turn_keys(vectors, segments)
            unit_vectors = self._unit_vectors(units, {messages[i].id: turn_keys[i] for i in taken}, tally)
            tally.update(
                words_in=sum(turns[i].words_in for i in taken),
                words_kept=sum(turns[i].words_kept for i in taken),
                segments=len(segments),
                units_extracted=len(units),
            )
            metadata_by_id = {record["id"]: record.get("metadata") or {} for _, record in pending}
            unit_metadata = [
                {k: v for source in unit.source for k, v in metadata_by_id.get(source, {}).items()}
                for unit in units
            ]
            try:
                items = self._store.add(
                    scope,
                    units,
                    unit_vectors,
                    metadata=unit_metadata,
                    pending_ids=[pending[i][0] for i in taken],
                    counts=tally,
                )
            except KeyError:  # their pending rows are gone: extracted by another, or deleted (delete_all)
                logger.info("these messages left the buffer meanwhile; dropping this extraction")
                return []
            return items

    def _extractor(self, scope: Scope) -> ShortTermMemory:
        """The extraction step for one flush of `scope`, its LLM passes (the fallback's too) counted in
        the scope's counters."""
        return ShortTermMemory(
            CountedLLM(self._llm, self._store, scope),
            self._batch_segments,
            fallback=CountedLLM(OfflineLLM(), self._store, scope),
            batch_words=self._batch_words,
        )

    def _turn_vectors(
        self,
        pending: Sequence[tuple[int, Mapping[str, Any]]],
        messages: Sequence[Message],
        tally: Counter[str],
    ) -> np.ndarray:
        """The embeddings of the buffered turns: those `add` stored, and (for turns buffered by an older
        lightmem, which stored none) embedded now."""
        stored = self._buffer.vectors([rowid for rowid, _ in pending])
        missing = [i for i, (rowid, _) in enumerate(pending) if rowid not in stored]
        fresh = dict(zip(missing, self._embed([turn_key_text(messages[i]) for i in missing], tally)))
        rows = [fresh[i] if i in fresh else stored[rowid] for i, (rowid, _) in enumerate(pending)]
        return np.stack(rows).astype(np.float32, copy=False)

    def _turn_keys(self, vectors: np.ndarray, segments: Sequence[range]) -> np.ndarray:
        """Each turn's embedding plus `segment_context_weight` times the mean of its topic segment,
        so that a turn is also found by what its conversation around it was about."""
        keys = vectors.copy()
        weight = self._segment_context_weight
        if weight > 0.0:
            for segment in segments:
                rows = slice(segment.start, segment.stop)
                keys[rows] += weight * vectors[rows].mean(axis=0)
            keys /= np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
        return keys

    def _unit_vectors(
        self, units: Sequence[ExtractedUnit], turn_vectors: Mapping[str, np.ndarray], tally: Counter[str]
    ) -> np.ndarray:
        """Search keys of new units: their own text's embedding blended with the mean embedding of
        the whole turns they came from (weight `unit_text_weight`, see `LightMemConfig`). A unit that
        cites no turn of this flush is keyed by its own text alone."""
        weight = self._unit_text_weight
        keys = np.zeros((len(units), self._embedder.dim), dtype=np.float32)
        own_text_needed = []
        for row, unit in enumerate(units):
            found = [turn_vectors[s] for s in unit.source if s in turn_vectors]
            if found:
                keys[row] = np.mean(found, axis=0)
            if (weight > 0.0 and not unit.extractive) or not found:  # an extractive unit is its turns
                own_text_needed.append(row)
        if own_text_needed:
            texts = [embedding_text(units[r].text, units[r].event_time) for r in own_text_needed]
            own = self._embed(texts, tally)
            for row, vector in zip(own_text_needed, own):
                has_sources = keys[row].any()
                keys[row] = weight * vector + (1.0 - weight) * keys[row] if has_sources else vector
        return keys

    def _embed(self, texts: Sequence[str], tally: Counter[str]) -> np.ndarray:
        """`embed_distinct` with this instance's embedder."""
        return embed_distinct(self._embedder, texts, tally)


def _with_event_time(unit: ExtractedUnit, times: Mapping[str, datetime]) -> ExtractedUnit:
    """`unit`, or when it has no time from the LLM, the unit with the earliest time of its source turns
    (`times`: the time of each turn that has one, by turn id)."""
    if unit.event_time is not None:
        return unit
    found = [times[s] for s in unit.source if s in times]
    return replace(unit, event_time=min(found)) if found else unit
