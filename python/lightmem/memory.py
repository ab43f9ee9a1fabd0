"""`Memory`, the facade agents use, and its asyncio twin `AsyncMemory`.

add -> [sensory] prune + segment -> [short-term] buffer, one LLM call per segment batch
    -> [long-term] embed + store; search embeds the query and reads the long-term store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any, Optional, Union

import numpy as np

from lightmem.config import LightMemConfig
from lightmem.counted_llm import CountedLLM
from lightmem.embedding import Embedder, OnnxEmbedder
from lightmem.limits import check_limit
from lightmem.llm import LLM, LLMError, OfflineLLM, make_llm
from lightmem.messages import (
    MessagesInput,
    clean_text,
    message_from_dict,
    message_to_dict,
    normalize_messages,
)
from lightmem.retrieval import hybrid_search
from lightmem.sensory import SensoryMemory
from lightmem.short_term import ShortTermMemory
from lightmem.sleep import ConsolidationReport, SleepScheduler
from lightmem.store import MemoryStore, SearchFilters, open_store
from lightmem.store.codec import metadata_copy
from lightmem.text_keys import embedding_text, turn_key_text
from lightmem.types import (
    ExtractedUnit,
    HistoryEntry,
    MemoryItem,
    MemoryNotFoundError,
    Message,
    Scope,
    check_unicode,
)

logger = logging.getLogger("lightmem")

DEFAULT_PATH = "./lightmem-data"


@dataclass(frozen=True)
class MemoryStats:
    """What a scope (or the whole store) holds, and its lifetime counters: kept in the store, so they
    survive restarts and add up the work of every process sharing it (see `Memory.stats`)."""

    memories: int
    """Live memories."""
    pending_messages: int
    """Messages waiting in the short-term buffer."""
    llm_calls: int
    """Answered calls to a real model (extraction and consolidation)."""
    prompt_tokens: int
    """Prompt tokens of those calls (as the server reports them, else estimated)."""
    completion_tokens: int
    """Completion tokens of those calls."""
    offline_extractions: int
    """Passes of the offline extractive backend (the `offline` LLM, and the fallback after two invalid
    answers of a model): no model runs, nothing is sent, no token is spent."""
    words_in: int
    """Words of the messages extracted into memories."""
    words_kept: int
    """Of those, the words the sensory pruner kept."""
    segments: int
    """Topic segments extracted."""
    units_extracted: int
    """Memory units stored by extraction (and by `add(infer=False)`)."""
    texts_embedded: int
    """Texts embedded to store or update memories (search queries are not counted)."""

    @property
    def words_pruned(self) -> int:
        """Words removed by the sensory pruner."""
        return self.words_in - self.words_kept

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (with `words_pruned`)."""
        return {**asdict(self), "words_pruned": self.words_pruned}


_COUNTERS = tuple(f.name for f in fields(MemoryStats) if f.name not in ("memories", "pending_messages"))
"""The `MemoryStats` fields that are counters kept in the store."""


def _optional_scope(
    user_id: Optional[str], agent_id: Optional[str], run_id: Optional[str]
) -> Optional[Scope]:
    """The scope given by the ids, or None (no scope check) when all three are None."""
    if user_id is None and agent_id is None and run_id is None:
        return None
    return Scope(user_id, agent_id, run_id)


def _non_blank(text: str, name: str) -> str:
    """`text` without surrounding whitespace; ValueError naming `name` if nothing is left."""
    if not text.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return text.strip()


def _memory_id(memory_id: object) -> str:
    """`memory_id` itself; ValueError unless it is a non-empty string that UTF-8 can encode."""
    if not isinstance(memory_id, str) or not memory_id:
        raise ValueError(f"memory_id must be a non-empty string, got {memory_id!r:.40}")
    check_unicode(memory_id, "memory_id")
    return memory_id


def _not_found(memory_id: str, scope: Optional[Scope]) -> MemoryNotFoundError:
    """The one error of `update`, `delete` and `history` for an id that names no memory in `scope`."""
    within = "" if scope is None else f" in scope {scope}"
    return MemoryNotFoundError(f"no memory with id {memory_id!r}{within}")


def _threshold(threshold: object) -> Optional[float]:
    """`threshold` itself; ValueError unless it is None or a number in [0, 1]."""
    if threshold is None:
        return None
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1] or None, got {threshold!r}")
    return float(threshold)


def _with_event_time(unit: ExtractedUnit, times: Mapping[str, datetime]) -> ExtractedUnit:
    """`unit`, or when it has no time from the LLM, the unit with the earliest time of its source turns
    (`times`: the time of each turn that has one, by turn id)."""
    if unit.event_time is not None:
        return unit
    found = [times[s] for s in unit.source if s in times]
    return replace(unit, event_time=min(found)) if found else unit


def _covers(query: Scope, exact: Scope) -> bool:
    """Whether the query scope `query` (None ids match any value) covers the exact scope `exact`."""
    return all(
        getattr(query, name) in (None, getattr(exact, name)) for name in ("user_id", "agent_id", "run_id")
    )


class Memory:
    """Long-term memory for an agent, stored in one directory (SQLite + a usearch index).

    Works offline by default (local ONNX embedder, extractive LLM backend); set `llm="openai"` (or
    the LIGHTMEM_LLM_BASE_URL environment variable) to extract memories with a real LLM. Every
    scoped call needs at least one of `user_id`, `agent_id`, `run_id`, and sees only that scope.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        config: Optional[LightMemConfig] = None,
        *,
        embedder: Optional[Embedder] = None,
        llm: Union[LLM, str, None] = None,
        **overrides: Any,
    ) -> None:
        """`llm`: an LLM backend object, or the name of one ("offline", "openai": the config field)."""
        if isinstance(llm, str):
            overrides["llm"], llm = llm, None
        self.config = LightMemConfig.from_env(**overrides) if config is None else replace(config, **overrides)
        self.path = os.fspath(path)
        self._embedder = embedder or OnnxEmbedder(
            model_path=self.config.embedding_model_path, batch_size=self.config.embedding_batch_size
        )
        self._llm = llm or make_llm(self.config)
        self._store: MemoryStore = open_store(
            self.path, dim=self._embedder.dim, oversample=self.config.search_oversample
        )
        if self.config.keyword_weight > 0.0 and not self._store.has_keyword_index:
            logger.warning(
                "keyword search is off: this Python's SQLite lacks FTS5; %s is searched by meaning only",
                self.path,
            )
        self._sensory = SensoryMemory(self.config)
        configured = self.config.unit_text_weight
        default = 0.0 if isinstance(self._llm, OfflineLLM) else 0.5
        self._unit_text_weight: float = default if configured is None else configured
        self._flush_lock = threading.Lock()
        self._sleep = SleepScheduler(self._store, self._llm, self._embedder, self.config)

    # --- context manager -----------------------------------------------------------------------
    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops a background consolidation (at its next cluster batch), saves the vector index and
        closes the store. Pending messages stay in the buffer."""
        self._sleep.stop(timeout=30.0)
        self._store.close()

    # --- writing -------------------------------------------------------------------------------
    def add(
        self,
        messages: MessagesInput,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        infer: bool = True,
    ) -> list[MemoryItem]:
        """Adds conversation messages to the scope's short-term buffer.

        Once the buffer holds `buffer_token_threshold` words its finished topic segments become
        memory units; those are returned (often none: the messages wait in the buffer, which is
        persisted, so they are safe as soon as `add` returns). `flush` forces extraction.

        `infer=False` (mem0's): each message becomes one memory unit at once, its content verbatim
        (`source`: the message id, `event_time`: its timestamp), with no LLM call and no buffer; those
        units are returned.

        `metadata` (JSON-serialisable, string keys) goes with every memory extracted from these
        messages. The sizes accepted are those of `lightmem.limits`; beyond them, ValueError and
        nothing is stored.

        Idempotent per message id: a message whose `id` the scope was given before (buffered, or
        extracted since; until `delete_all`) is skipped when it is the same message and metadata (a
        retried call), and is a ValueError naming the id when it differs (nothing of the call is
        stored then). Messages without an `id` get a new one each time and are never skipped.
        """
        scope = Scope(user_id, agent_id, run_id)
        extra = metadata_copy(metadata)
        if not isinstance(infer, bool):
            raise ValueError(f"infer must be True or False, got {infer!r}")
        parsed = normalize_messages(messages)
        if not parsed:
            return []
        records = [{**message_to_dict(m), "metadata": extra} for m in parsed]
        try:
            if not infer:
                return self._store_verbatim(scope, parsed, records, extra)
            tally: Counter[str] = Counter()
            vectors = self._embed([turn_key_text(m) for m in parsed], tally)  # the flush reuses them
            words = [len(m.content.split()) for m in parsed]
            self._store.pending_add(scope, records, words, vectors, counts=tally)
            if self._store.pending_words(scope) < self.config.buffer_token_threshold:
                return []
            return self._flush_scope(scope, force=False)
        except LLMError as err:
            logger.warning("extraction deferred, the messages stay in the buffer: %s", err)
            return []
        finally:
            self._sleep.touch()

    def flush(
        self, user_id: Optional[str] = None, agent_id: Optional[str] = None, run_id: Optional[str] = None
    ) -> list[MemoryItem]:
        """Turns everything in the short-term buffer of a scope (of every scope if none is given)
        into long-term memory units and returns them. As everywhere, an id left out matches any value:
        `flush(user_id="a")` also flushes what was added with user_id="a" and an agent or run id.

        A scope whose extraction fails (its messages stay in the buffer) does not stop the others:
        each failure is logged with its scope, and once every scope has been tried the first failure
        is raised (the units of the other scopes are stored)."""
        scope = _optional_scope(user_id, agent_id, run_id)
        scopes = [s for s in self._store.pending_scopes() if scope is None or _covers(scope, s)]
        items: list[MemoryItem] = []
        failures: list[Exception] = []
        for each in scopes:
            try:
                items.extend(self._flush_scope(each, force=True))
            except Exception as err:  # raised below, once the other scopes are flushed
                logger.error("flush of %s failed, its messages stay in the buffer: %r", each, err)
                failures.append(err)
        if failures:
            raise failures[0]
        return items

    def _flush_scope(self, scope: Scope, force: bool) -> list[MemoryItem]:
        with self._flush_lock:
            pending = self._store.pending_list(scope)
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
            units = self._extractor(scope).extract([[turns[i] for i in segment] for segment in segments])
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
            except KeyError:
                logger.info("another process extracted these messages first; dropping this extraction")
                return []
            return items

    def _extractor(self, scope: Scope) -> ShortTermMemory:
        """The extraction step for one flush of `scope`, its LLM passes (the fallback's too) counted in
        the scope's counters."""
        return ShortTermMemory(
            CountedLLM(self._llm, self._store, scope),
            self.config.extraction_batch_segments,
            fallback=CountedLLM(OfflineLLM(), self._store, scope),
        )

    def _store_verbatim(
        self,
        scope: Scope,
        messages: Sequence[Message],
        records: Sequence[Mapping[str, Any]],
        metadata: Mapping[str, Any],
    ) -> list[MemoryItem]:
        """One unit per message, its content as it is, keyed by the embedding of that text (`records`:
        the messages as the buffer would hold them, so that a retried add is recognised either way)."""
        units = [ExtractedUnit(m.content, (m.id,), event_time=m.timestamp) for m in messages]
        tally: Counter[str] = Counter()
        vectors = self._unit_vectors(units, {}, tally)
        tally["units_extracted"] += len(units)
        return self._store.add(scope, units, vectors, metadata=metadata, messages=records, counts=tally)

    def _turn_vectors(
        self,
        pending: Sequence[tuple[int, Mapping[str, Any]]],
        messages: Sequence[Message],
        tally: Counter[str],
    ) -> np.ndarray:
        """The embeddings of the buffered turns: those `add` stored, and (for turns buffered by an older
        lightmem, which stored none) embedded now."""
        stored = self._store.pending_vectors([rowid for rowid, _ in pending])
        missing = [i for i, (rowid, _) in enumerate(pending) if rowid not in stored]
        fresh = dict(zip(missing, self._embed([turn_key_text(messages[i]) for i in missing], tally)))
        rows = [fresh[i] if i in fresh else stored[rowid] for i, (rowid, _) in enumerate(pending)]
        return np.stack(rows).astype(np.float32, copy=False)

    def _turn_keys(self, vectors: np.ndarray, segments: Sequence[range]) -> np.ndarray:
        """Each turn's embedding plus `segment_context_weight` times the mean of its topic segment,
        so that a turn is also found by what its conversation around it was about."""
        keys = vectors.copy()
        weight = self.config.segment_context_weight
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
            if weight > 0.0 or not found:
                own_text_needed.append(row)
        if own_text_needed:
            texts = [embedding_text(units[r].text, units[r].event_time) for r in own_text_needed]
            own = self._embed(texts, tally)
            for row, vector in zip(own_text_needed, own):
                has_sources = keys[row].any()
                keys[row] = weight * vector + (1.0 - weight) * keys[row] if has_sources else vector
        return keys

    def _embed(self, texts: Sequence[str], tally: Optional[Counter[str]] = None) -> np.ndarray:
        """Embeddings of `texts` (each distinct text embedded once, and counted as `texts_embedded` in
        `tally` if given)."""
        distinct = list(dict.fromkeys(texts))
        if not distinct:
            return np.zeros((0, self._embedder.dim), dtype=np.float32)
        fresh = dict(zip(distinct, self._embedder.embed(distinct)))
        if tally is not None:
            tally["texts_embedded"] += len(distinct)
        return np.stack([fresh[t] for t in texts]).astype(np.float32, copy=False)

    def update(
        self,
        memory_id: str,
        text: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> MemoryItem:
        """Replaces a memory's text (its history keeps the old one) and/or merges `metadata` into its
        metadata (the keys given replace theirs, the others stay). `MemoryNotFoundError` if no live
        memory has this id in the scope given. The text follows the rules of a message's content in
        `add` (see `lightmem.limits.MAX_MESSAGE_CHARS`)."""
        scope = _optional_scope(user_id, agent_id, run_id)
        if text is None and metadata is None:
            raise ValueError("update needs a new text or metadata")
        new_text = None if text is None else _non_blank(clean_text(text, "text"), "text")
        extra = None if metadata is None else metadata_copy(metadata)
        item = self._store.get(_memory_id(memory_id), scope)
        if item is None:
            raise _not_found(memory_id, scope)
        tally: Counter[str] = Counter()
        vector = None
        if new_text is not None:
            vector = self._embed([embedding_text(new_text, item.event_time)], tally)[0]
        try:
            return self._store.update(
                memory_id, new_text, vector, scope=scope, reason="user update", metadata=extra, counts=tally
            )
        except KeyError:  # deleted meanwhile
            raise _not_found(memory_id, scope) from None

    def delete(
        self,
        memory_id: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> None:
        """Deletes one memory (kept in its history). `MemoryNotFoundError` if no live memory has this
        id in the scope given."""
        scope = _optional_scope(user_id, agent_id, run_id)
        try:
            self._store.delete(_memory_id(memory_id), scope=scope, reason="user delete")
        except KeyError:
            raise _not_found(memory_id, scope) from None

    def delete_all(
        self, user_id: Optional[str] = None, agent_id: Optional[str] = None, run_id: Optional[str] = None
    ) -> int:
        """Deletes every memory of a scope, and its short-term buffer; returns how many memories."""
        return self._store.delete_all(Scope(user_id, agent_id, run_id))

    def reset(self) -> None:
        """Deletes every memory of every scope, all their history, every short-term buffer and every
        counter of `stats`: the directory then holds an empty memory (mem0's `reset`). Content is gone
        for lightmem, though not securely erased from the file's free pages."""
        with self._flush_lock:
            self._store.reset()

    # --- reading -------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        limit: int = 10,
        filters: Optional[Mapping[str, Any]] = None,
        threshold: Optional[float] = None,
    ) -> list[MemoryItem]:
        """The scope's memories most relevant to `query`, best first: by meaning and by keywords fused
        by reciprocal rank (see `LightMemConfig.keyword_weight`).

        `score` is the cosine similarity of the query to the memory's search key, in [0, 1]: it says
        how close in meaning a hit is, whichever ranking found it; `threshold` drops hits below it.
        `filters`: `event_after` / `event_before` / `created_after` / `created_before` (ISO strings
        or datetimes) and `metadata` conditions (see `SearchFilters`); any other key is a ValueError.
        `query` follows the rules of a message's content in `add`; `limit` is at most
        `lightmem.limits.MAX_RESULTS`.
        """
        scope = Scope(user_id, agent_id, run_id)
        query = _non_blank(clean_text(query, "query"), "query")
        check_limit(limit)
        parsed_filters = SearchFilters.from_dict(filters)
        minimum = _threshold(threshold)
        try:
            vector = self._embed([query])[0]
            weight = self.config.keyword_weight
            return hybrid_search(self._store, query, vector, scope, limit, parsed_filters, weight, minimum)
        finally:
            self._sleep.touch()

    def consolidate(
        self,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        *,
        progress: bool = False,
    ) -> ConsolidationReport:
        """Sleep-time consolidation of a scope (of every scope if none is given), now.

        Merges duplicates without LLM calls and asks the LLM about real conflicts only; each change
        is one short transaction with a history row, so `add` and `search` go on meanwhile. A second
        run with nothing new makes no LLM call.
        """
        return self._sleep.run_now(_optional_scope(user_id, agent_id, run_id), progress=progress)

    def get(
        self,
        memory_id: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> Optional[MemoryItem]:
        """One memory by id, or None if no live memory has this id in the scope given (an id of another
        scope is not told apart from an unknown one)."""
        scope = _optional_scope(user_id, agent_id, run_id)
        return self._store.get(_memory_id(memory_id), scope)

    def get_all(
        self,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        limit: Optional[int] = None,
        filters: Optional[Mapping[str, Any]] = None,
    ) -> list[MemoryItem]:
        """Every memory of a scope that passes `filters` (as `search` takes them), oldest first (at most
        `limit`: None, or 0 to `MAX_RESULTS`)."""
        scope = Scope(user_id, agent_id, run_id)
        return self._store.get_all(scope, limit=limit, filters=SearchFilters.from_dict(filters))

    def history(
        self,
        memory_id: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> list[HistoryEntry]:
        """Every recorded change of a memory (a deleted one too), oldest first.
        `MemoryNotFoundError` if no memory with this id was ever in the scope given."""
        scope = _optional_scope(user_id, agent_id, run_id)
        entries = self._store.history(_memory_id(memory_id), scope)
        if not entries:
            raise _not_found(memory_id, scope)
        return entries

    def stats(
        self, user_id: Optional[str] = None, agent_id: Optional[str] = None, run_id: Optional[str] = None
    ) -> MemoryStats:
        """The memories and pending messages of a scope (of the whole store if none is given; an id left
        out matches any value, as in `flush`), and the scope's lifetime counters: what every process has
        done in it since the store was created (or `reset`; `delete_all` keeps them). Work of lightmem
        versions before the counters (schema 5) is not counted."""
        scope = _optional_scope(user_id, agent_id, run_id)
        counters = self._store.counters(scope)
        return MemoryStats(
            memories=self._store.count(scope),
            pending_messages=self._store.pending_count(scope),
            **{name: counters.get(name, 0) for name in _COUNTERS},
        )


class AsyncMemory:
    """`Memory` for asyncio agents: the same verbs as coroutines, run in worker threads."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH, **kwargs: Any) -> None:
        self._memory = Memory(path, **kwargs)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self._memory, method), *args, **kwargs)

    async def add(self, messages: MessagesInput, **kwargs: Any) -> list[MemoryItem]:
        return await self._run("add", messages, **kwargs)

    async def flush(self, **kwargs: Any) -> list[MemoryItem]:
        return await self._run("flush", **kwargs)

    async def search(self, query: str, **kwargs: Any) -> list[MemoryItem]:
        return await self._run("search", query, **kwargs)

    async def get(self, memory_id: str, **kwargs: Any) -> Optional[MemoryItem]:
        return await self._run("get", memory_id, **kwargs)

    async def get_all(self, **kwargs: Any) -> list[MemoryItem]:
        return await self._run("get_all", **kwargs)

    async def update(self, memory_id: str, text: Optional[str] = None, **kwargs: Any) -> MemoryItem:
        return await self._run("update", memory_id, text, **kwargs)

    async def delete(self, memory_id: str, **kwargs: Any) -> None:
        await self._run("delete", memory_id, **kwargs)

    async def delete_all(self, **kwargs: Any) -> int:
        return await self._run("delete_all", **kwargs)

    async def history(self, memory_id: str, **kwargs: Any) -> list[HistoryEntry]:
        return await self._run("history", memory_id, **kwargs)

    async def reset(self) -> None:
        await self._run("reset")

    async def consolidate(self, **kwargs: Any) -> ConsolidationReport:
        return await self._run("consolidate", **kwargs)

    async def stats(self, **kwargs: Any) -> MemoryStats:
        return await self._run("stats", **kwargs)

    async def close(self) -> None:
        await self._run("close")
