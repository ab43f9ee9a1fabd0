"""`Memory`, the facade agents use, and its asyncio twin `AsyncMemory`: they check the arguments and
hand each call to the part that does it.

add -> `ingestion` (buffer in `short_term_buffer`; at a flush, in the add or in `background_extraction`'s
       thread: sensory pruning and segmentation, extraction by `short_term`, search keys) -> the
       long-term store (`store.protocol.MemoryStore`)
search -> `retrieval` (hybrid search of the units and the buffer)
consolidate -> `sleep`
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional, Union

from lightmem.background_extraction import BackgroundExtraction
from lightmem.config import LightMemConfig
from lightmem.counted_llm import is_offline
from lightmem.embedding import Embedder, OnnxEmbedder, embed_distinct
from lightmem.ingestion import Ingestion
from lightmem.jobs import MemoryJobs
from lightmem.limits import check_limit, quoted
from lightmem.llm import LLM, LLMError, make_llm
from lightmem.messages import MessagesInput, clean_text, is_blank, normalize_messages
from lightmem.retrieval import Retriever
from lightmem.short_term_buffer import ShortTermBuffer
from lightmem.sleep import ConsolidationReport, SleepScheduler
from lightmem.store import MemoryStore, SearchFilters, StoreError, open_store
from lightmem.store.codec import metadata_copy
from lightmem.store.postgres import is_postgres_url, masked_url
from lightmem.text_keys import embedding_text
from lightmem.types import HistoryEntry, MemoryItem, MemoryNotFoundError, Scope, check_unicode

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
    pending_words: int
    """Words of those messages (an exact scope's buffer is extracted once it holds
    `buffer_token_threshold`; with background extraction, or after an LLM failure, it may hold more)."""
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
    llm_retries: int
    """Extraction requests asked again because the model's first answer was unusable."""
    llm_items_dropped: int
    """Items of model answers dropped as invalid (the valid items beside them were kept)."""
    fallback_units: int
    """Units stored extractively (the turns' own text) because the model's answers were unusable or
    skipped a turn with content."""
    extractions_deferred: int
    """Extractions deferred by an LLM failure (unreachable, timed out): their messages stayed buffered."""

    @property
    def words_pruned(self) -> int:
        """Words removed by the sensory pruner."""
        return self.words_in - self.words_kept

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (with `words_pruned`)."""
        return {**asdict(self), "words_pruned": self.words_pruned}


_COUNTERS = tuple(
    f.name for f in fields(MemoryStats) if f.name not in ("memories", "pending_messages", "pending_words")
)
"""The `MemoryStats` fields that are counters kept in the store."""


def _optional_scope(
    user_id: Optional[str], agent_id: Optional[str], run_id: Optional[str]
) -> Optional[Scope]:
    """The scope given by the ids, or None (no scope check) when all three are None."""
    if user_id is None and agent_id is None and run_id is None:
        return None
    return Scope(user_id, agent_id, run_id)


def _non_blank(text: str, name: str) -> str:
    """`text` without surrounding whitespace; ValueError naming `name` if it shows nothing (`is_blank`)."""
    if is_blank(text):
        raise ValueError(
            f"{name} must show some text (it is empty, or only whitespace, control or invisible characters)"
        )
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
    return MemoryNotFoundError(f"no memory with id {quoted(memory_id)}{within}")


CLOSE_WAIT_S = 30.0
"""How long `Memory.close` waits for a background extraction or consolidation in progress to end."""


def _close(extraction: Optional[BackgroundExtraction], sleep: SleepScheduler, store: MemoryStore) -> None:
    """What `Memory.close` does, also run for a memory left open (it refers to no `Memory`): both threads
    are told to stop at once, and waited for within one CLOSE_WAIT_S."""
    deadline = time.monotonic() + CLOSE_WAIT_S
    if extraction is not None:
        extraction.stop(timeout=0.0)
    sleep.stop(timeout=CLOSE_WAIT_S)
    if extraction is not None:
        extraction.stop(timeout=max(deadline - time.monotonic(), 0.0))
    store.close()


def _threshold(threshold: object) -> Optional[float]:
    """`threshold` itself; ValueError unless it is None or a number in [0, 1]."""
    if threshold is None:
        return None
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1] or None, got {threshold!r}")
    return float(threshold)


def _location(path: object) -> str:
    """`path` as a string; ValueError naming `path` unless it is a str or an `os.PathLike` of one,
    without NUL (`Memory(5)` was a TypeError of `os.fspath` that named no argument)."""
    if isinstance(path, LightMemConfig):
        raise ValueError("path must be a directory or a postgresql:// URL; pass a LightMemConfig as config=")
    location = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(location, str):
        raise ValueError(
            f"path must be a directory or a postgresql:// URL (a str or a pathlib.Path), "
            f"got {type(path).__name__} {path!r:.40}"
        )
    if "\x00" in location:
        raise ValueError(f"path must not hold a NUL character, got {location!r:.80}")
    return location


def _check_parts(config: object, embedder: object, llm: object) -> None:
    """ValueError naming the argument unless `config` is a LightMemConfig, `embedder` has `dim` and
    `embed`, and `llm` a `complete` method (or is a backend's name), each when given."""
    if config is not None and not isinstance(config, LightMemConfig):
        raise ValueError(f"config must be a LightMemConfig, got {type(config).__name__}")
    if embedder is not None and not (hasattr(embedder, "dim") and callable(getattr(embedder, "embed", None))):
        raise ValueError(f"embedder must have a dim and an embed method, got {type(embedder).__name__}")
    if llm is not None and not isinstance(llm, str) and not callable(getattr(llm, "complete", None)):
        raise ValueError(
            f"llm must be 'offline', 'openai' or an object with a complete method, got {llm!r:.40}"
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
        location = _location(path)
        _check_parts(config, embedder, llm)
        if isinstance(llm, str):
            overrides["llm"], llm = llm, None
        self.config = LightMemConfig.from_env(**overrides) if config is None else replace(config, **overrides)
        self.path = masked_url(location) if is_postgres_url(location) else location
        self._embedder = embedder or OnnxEmbedder(
            model_path=self.config.embedding_model_path, batch_size=self.config.embedding_batch_size
        )
        self._llm = llm or make_llm(self.config)
        self._store: MemoryStore = open_store(
            location, dim=self._embedder.dim, oversample=self.config.search_oversample
        )
        self._buffer = ShortTermBuffer(self._store, self.config.buffer_token_threshold)
        self._ingestion = Ingestion(
            self._store,
            self._buffer,
            self._embedder,
            self._llm,
            self.config,
            unit_text_weight=self.config.unit_text_weight_for(offline=is_offline(self._llm)),
        )
        self._retriever = Retriever(self._store, self._embedder, self.config.keyword_weight, self.path)
        self._sleep = SleepScheduler(self._store, self._llm, self._embedder, self.config)
        self.jobs = MemoryJobs(self._buffer, self._ingestion, self._sleep, self._store)
        """The slow work of this memory, for `lightmem.worker.Worker` (agents use the verbs below)."""
        self._extraction: Optional[BackgroundExtraction] = None
        if self.config.extracts_in_background(offline=is_offline(self._llm)):
            self._extraction = BackgroundExtraction(self.jobs, self.config.buffer_token_threshold)
        self._closer = weakref.finalize(self, _close, self._extraction, self._sleep, self._store)

    # --- context manager -----------------------------------------------------------------------
    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the background extraction (after the scope it is extracting) and consolidation (at its
        next cluster batch), waiting at most `CLOSE_WAIT_S` seconds for them, saves the vector index and
        closes the store. Pending messages stay in the buffer, those of an extraction still waiting for
        the LLM then too. A memory never closed (mem0 code has no `close`) is closed so when it is
        garbage-collected or the interpreter exits."""
        self._closer()

    def _check_open(self) -> None:
        """StoreError once `close` was called (it named the store class underneath, which users never
        hold: "open a new SQLiteStore")."""
        if not self._closer.alive:
            raise StoreError(
                f"the memory at {self.path} is closed (close() was called): open it again to go on"
            )

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
        """Adds conversation messages to the scope's short-term buffer (persisted: they are safe, and
        found by `search`, as soon as `add` returns).

        Once the buffer holds `buffer_token_threshold` words its finished topic segments become memory
        units: in this call, which returns them, when extraction is inline; in the memory's background
        thread, after this call has returned [], when it is background (`LightMemConfig.extraction`:
        by default inline with the offline backend, background with an LLM). Often no unit is made
        yet; `flush` forces extraction.

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
        self._check_open()
        scope = Scope(user_id, agent_id, run_id)
        extra = metadata_copy(metadata)
        if not isinstance(infer, bool):
            raise ValueError(f"infer must be True or False, got {infer!r}")
        parsed = normalize_messages(messages)
        if not parsed:
            return []
        try:
            if not infer:
                return self._ingestion.store_verbatim(scope, parsed, extra)
            if not self._ingestion.buffer(scope, parsed, extra):
                return []
            if self._extraction is not None:
                self._extraction.due(scope)
                return []
            return self._ingestion.flush_scope(scope, force=False, wait=False) or []
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

        It extracts in the caller, also when extraction is background (units the background thread
        stores meanwhile are not returned). A scope whose extraction fails (its messages stay in the
        buffer) does not stop the others: each failure is logged with its scope, and once every scope
        has been tried the first failure is raised (the units of the other scopes are stored)."""
        self._check_open()
        return self._ingestion.flush(_optional_scope(user_id, agent_id, run_id))

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
        `add` (see `lightmem.limits.MAX_MESSAGE_CHARS`). An update that changes nothing (the memory's own
        text, metadata it holds) is not written: the memory is returned as it is, with no new version
        and no history entry."""
        self._check_open()
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
            vector = embed_distinct(self._embedder, [embedding_text(new_text, item.event_time)], tally)[0]
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
        self._check_open()
        scope = _optional_scope(user_id, agent_id, run_id)
        try:
            self._store.delete(_memory_id(memory_id), scope=scope, reason="user delete")
        except KeyError:
            raise _not_found(memory_id, scope) from None

    def delete_all(
        self, user_id: Optional[str] = None, agent_id: Optional[str] = None, run_id: Optional[str] = None
    ) -> int:
        """Deletes every memory of a scope, and its short-term buffer; returns how many memories."""
        self._check_open()
        # no claim needed: a flush extracting meanwhile (any process) stores its units in the transaction
        # that removes their messages from the buffer, which fails with nothing stored once they are gone
        return self._store.delete_all(Scope(user_id, agent_id, run_id))

    def reset(self) -> None:
        """Deletes every memory of every scope, all their history, every short-term buffer and every
        counter of `stats`: the directory then holds an empty memory (mem0's `reset`). Content is gone
        for lightmem, though not securely erased from the file's free pages."""
        self._check_open()
        # no wait for a flush in progress (any process): as for `delete_all`, the store refuses its units
        # once their messages have left the buffer, and buffer ids are never reused
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
        self._check_open()
        scope = Scope(user_id, agent_id, run_id)
        query = _non_blank(clean_text(query, "query"), "query")
        check_limit(limit)
        parsed_filters = SearchFilters.from_dict(filters)
        minimum = _threshold(threshold)
        try:
            return self._retriever.search(query, scope, limit, parsed_filters, minimum)
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
        self._check_open()
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
        self._check_open()
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
        self._check_open()
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
        self._check_open()
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
        self._check_open()
        scope = _optional_scope(user_id, agent_id, run_id)
        counters = self._store.counters(scope)
        return MemoryStats(
            memories=self._store.count(scope),
            pending_messages=self._buffer.count(scope),
            pending_words=sum(self._buffer.words(exact) for exact in self._buffer.scopes(scope)),
            **{name: counters.get(name, 0) for name in _COUNTERS},
        )


class AsyncMemory:
    """`Memory` for asyncio agents: the same verbs, with the same arguments, as coroutines run in worker
    threads (see `Memory` for what each does)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        config: Optional[LightMemConfig] = None,
        *,
        embedder: Optional[Embedder] = None,
        llm: Union[LLM, str, None] = None,
        **overrides: Any,
    ) -> None:
        """`Memory`'s arguments."""
        self._memory = Memory(path, config, embedder=embedder, llm=llm, **overrides)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def add(
        self,
        messages: MessagesInput,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        infer: bool = True,
    ) -> list[MemoryItem]:
        """`Memory.add`."""
        return await asyncio.to_thread(self._memory.add, messages, user_id, agent_id, run_id, metadata, infer)

    async def flush(
        self, user_id: Optional[str] = None, agent_id: Optional[str] = None, run_id: Optional[str] = None
    ) -> list[MemoryItem]:
        """`Memory.flush`."""
        return await asyncio.to_thread(self._memory.flush, user_id, agent_id, run_id)

    async def search(
        self,
        query: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        limit: int = 10,
        filters: Optional[Mapping[str, Any]] = None,
        threshold: Optional[float] = None,
    ) -> list[MemoryItem]:
        """`Memory.search`."""
        return await asyncio.to_thread(
            self._memory.search, query, user_id, agent_id, run_id, limit, filters, threshold
        )

    async def get(
        self,
        memory_id: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> Optional[MemoryItem]:
        """`Memory.get`."""
        return await asyncio.to_thread(self._memory.get, memory_id, user_id, agent_id, run_id)

    async def get_all(
        self,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        limit: Optional[int] = None,
        filters: Optional[Mapping[str, Any]] = None,
    ) -> list[MemoryItem]:
        """`Memory.get_all`."""
        return await asyncio.to_thread(self._memory.get_all, user_id, agent_id, run_id, limit, filters)

    async def update(
        self,
        memory_id: str,
        text: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> MemoryItem:
        """`Memory.update`."""
        return await asyncio.to_thread(
            self._memory.update, memory_id, text, user_id, agent_id, run_id, metadata=metadata
        )

    async def delete(
        self,
        memory_id: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> None:
        """`Memory.delete`."""
        await asyncio.to_thread(self._memory.delete, memory_id, user_id, agent_id, run_id)

    async def delete_all(
        self, user_id: Optional[str] = None, agent_id: Optional[str] = None, run_id: Optional[str] = None
    ) -> int:
        """`Memory.delete_all`."""
        return await asyncio.to_thread(self._memory.delete_all, user_id, agent_id, run_id)

    async def history(
        self,
        memory_id: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> list[HistoryEntry]:
        """`Memory.history`."""
        return await asyncio.to_thread(self._memory.history, memory_id, user_id, agent_id, run_id)

    async def reset(self) -> None:
        """`Memory.reset`."""
        await asyncio.to_thread(self._memory.reset)

    async def consolidate(
        self,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        run_id: Optional[str] = None,
        *,
        progress: bool = False,
    ) -> ConsolidationReport:
        """`Memory.consolidate`."""
        return await asyncio.to_thread(self._memory.consolidate, user_id, agent_id, run_id, progress=progress)

    async def stats(
        self, user_id: Optional[str] = None, agent_id: Optional[str] = None, run_id: Optional[str] = None
    ) -> MemoryStats:
        """`Memory.stats`."""
        return await asyncio.to_thread(self._memory.stats, user_id, agent_id, run_id)

    async def close(self) -> None:
        """`Memory.close`."""
        await asyncio.to_thread(self._memory.close)
