"""`Memory` and `AsyncMemory` with mem0 2.x's signatures, argument names and return shapes, over
`lightmem.Memory`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from lightmem.config import path_from_env
from lightmem.limits import MAX_RESULTS, check_int
from lightmem.mem0.config import settings_from_config
from lightmem.mem0.filters import scope_ids, translate
from lightmem.mem0.results import history_results, memory_result
from lightmem.memory import DEFAULT_PATH
from lightmem.memory import Memory as NativeMemory
from lightmem.messages import MessagesInput, message_to_dict, normalize_messages

logger = logging.getLogger("lightmem")

DEFAULT_TOP_K = 20
"""mem0's default number of results of `search` and `get_all`."""
DEFAULT_THRESHOLD = 0.1
"""mem0's default minimum similarity of a search hit."""
_IDENTITY_KEYS = ("user_id", "agent_id", "run_id", "actor_id")
_UNSET: Any = object()


class Memory:
    """mem0's `Memory` over lightmem: `from lightmem.mem0 import Memory` in place of `from mem0 import
    Memory`, and the same calls return the same shapes.

    What differs, by design: `add` with `infer=True` (the default) puts the messages in lightmem's
    short-term buffer, which becomes memories one LLM call per batch of topic segments once it holds
    `buffer_token_threshold` words (or at `native.flush()`); `add` returns the memories made then,
    often none. `infer=False` stores each message at once, as mem0 does. Scores are cosine similarities
    in [0, 1]; `threshold` (default 0.1, as mem0's) drops hits below it. `rerank`, `explain` and
    `show_expired` are accepted and change nothing (no reranker, nothing expires). Refused with a
    ValueError naming them: `timestamp`, `expiration_date`, `memory_type`, `prompt`, and filters that
    lightmem cannot express (see `lightmem.mem0.filters`). An unknown memory id raises
    `lightmem.MemoryNotFoundError` (a ValueError, as mem0 raises) from `update`, `delete` and `history`;
    `get` returns None.
    """

    def __init__(
        self, config: Optional[Mapping[str, Any]] = None, *, path: Optional[str] = None, **options: Any
    ) -> None:
        """`config`: mem0's config dict (see `from_config`). `path`: the memory directory (default:
        $LIGHTMEM_PATH, else ./lightmem-data). `options`: `lightmem.Memory`'s keyword arguments
        (`embedder`, `llm`, any `LightMemConfig` field), which take precedence over `config`."""
        settings = settings_from_config(config)
        directory = path if path is not None else path_from_env() or DEFAULT_PATH
        self._memory = NativeMemory(directory, **{**settings, **options})

    @classmethod
    def from_config(cls, config_dict: Mapping[str, Any], **options: Any) -> Memory:
        """A memory configured by mem0's config dict: the `llm` block of an OpenAI-compatible provider
        (openai, ollama, vllm, lmstudio: base URL, model, API key) is used; the vector store, embedder,
        graph store, reranker and history database settings are ignored with one warning."""
        return cls(config_dict, **options)

    @property
    def native(self) -> NativeMemory:
        """The `lightmem.Memory` underneath, for what mem0 lacks: `flush`, `consolidate`, `stats`."""
        return self._memory

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Saves the vector index and closes the store (messages in the buffer stay there)."""
        self._memory.close()

    def add(
        self,
        messages: MessagesInput,
        *,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        metadata: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        expiration_date: Any = None,
        infer: bool = True,
        memory_type: Optional[str] = None,
        prompt: Optional[str] = None,
    ) -> dict[str, Any]:
        """Remembers `messages` in one scope: `{"results": [{"id", "memory", "event": "ADD"}, ...]}` for
        the memories made now (with `infer=False`, one per message, also with its `actor_id` (the
        message's name) and `role`). System messages are skipped, as mem0 does: they instruct the agent's
        model (mem0's chat loop puts the memories it found there), they are not the conversation; so are
        messages whose content is None (an assistant's tool call), as mem0 does."""
        _refuse("add", timestamp=timestamp, expiration_date=expiration_date, memory_type=memory_type)
        if prompt is not None and infer:
            raise ValueError("add(prompt=...) is not supported: lightmem's extraction prompt is fixed")
        ids = scope_ids(user_id, agent_id, run_id)
        extra = _without_identity(metadata, "add")
        kept = [m for m in normalize_messages(_with_content(messages)) if m.role != "system"]
        made = self._memory.add([message_to_dict(m) for m in kept], **ids, metadata=extra, infer=infer)
        if infer is not False:
            return {"results": [{"id": item.id, "memory": item.text, "event": "ADD"} for item in made]}
        said = {m.id: m for m in kept}  # each memory's own message: a retried one makes none
        results = []
        for item in made:
            message = said[item.source[0]]
            made_now = {"id": item.id, "memory": item.text, "event": "ADD"}
            results.append({**made_now, "actor_id": message.speaker, "role": message.role})
        return {"results": results}

    def search(
        self,
        query: str,
        *,
        top_k: Optional[int] = None,
        filters: Optional[Mapping[str, Any]] = None,
        threshold: Optional[float] = DEFAULT_THRESHOLD,
        rerank: bool = False,
        explain: bool = False,
        reference_date: Any = None,
        show_expired: bool = False,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        limit: Optional[int] = None,
    ) -> dict[str, Any]:
        """The memories of the scope most relevant to `query`, best first, at most `top_k` (or `limit`;
        default 20), none scoring below `threshold` (None: 0.1, as mem0):
        `{"results": [{"id", "memory", "hash", "metadata", "score", "created_at", "updated_at",
        "user_id", ...}, ...]}`. The scope ids go in `filters` (mem0 2.x) or beside it (1.x)."""
        _refuse("search", reference_date=reference_date)
        count = _count(top_k, limit)
        scope, native_filters = translate(filters, scope_ids(user_id, agent_id, run_id))
        if count == 0:
            return {"results": []}
        minimum = DEFAULT_THRESHOLD if threshold is None else threshold
        hits = self._memory.search(query, **scope, limit=count, filters=native_filters, threshold=minimum)
        return {"results": [memory_result(hit, with_score=True) for hit in hits]}

    def get(
        self, memory_id: str, *, user_id: Any = None, agent_id: Any = None, run_id: Any = None
    ) -> Optional[dict[str, Any]]:
        """One memory (with `"score": None`), or None if no live memory has this id (in the scope of the
        ids given, a lightmem extension: any scope without them)."""
        item = self._memory.get(memory_id, **scope_ids(user_id, agent_id, run_id))
        return None if item is None else memory_result(item, with_score=True)

    def get_all(
        self,
        *,
        filters: Optional[Mapping[str, Any]] = None,
        top_k: Optional[int] = None,
        show_expired: bool = False,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        limit: Optional[int] = None,
    ) -> dict[str, Any]:
        """The memories of the scope that pass `filters`, oldest first, at most `top_k` (or `limit`;
        default 20): `{"results": [...]}`, shaped as `search`'s without the score."""
        count = _count(top_k, limit)
        scope, native_filters = translate(filters, scope_ids(user_id, agent_id, run_id))
        items = self._memory.get_all(**scope, limit=count, filters=native_filters)
        return {"results": [memory_result(item, with_score=False) for item in items]}

    def update(
        self,
        memory_id: str,
        text: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        expiration_date: Any = _UNSET,
        data: Optional[str] = None,
        *,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
    ) -> dict[str, str]:
        """Replaces a memory's text (`data`: mem0 1.x's name for it) and/or merges `metadata` into its
        metadata (scope ids in it are ignored, with a warning: a memory keeps its scope). The scope ids,
        when given, confine it to a memory of that scope."""
        if expiration_date is not _UNSET:
            _refuse("update", expiration_date=expiration_date)
        if text is not None and data is not None and text != data:
            raise ValueError("text and data name the same thing (data: mem0 1.x's name): give one")
        new_text = text if text is not None else data
        extra = None if metadata is None else _without_identity(metadata, "update")
        self._memory.update(memory_id, new_text, **scope_ids(user_id, agent_id, run_id), metadata=extra)
        return {"message": "Memory updated successfully!"}

    def delete(
        self, memory_id: str, *, user_id: Any = None, agent_id: Any = None, run_id: Any = None
    ) -> dict[str, str]:
        """Deletes one memory (its history keeps it); of that scope only, when scope ids are given."""
        self._memory.delete(memory_id, **scope_ids(user_id, agent_id, run_id))
        return {"message": "Memory deleted successfully!"}

    def delete_all(self, user_id: Any = None, agent_id: Any = None, run_id: Any = None) -> dict[str, str]:
        """Deletes every memory of a scope (and its short-term buffer); `reset` deletes everything."""
        ids = scope_ids(user_id, agent_id, run_id)
        if not ids:
            raise ValueError(
                "delete_all needs one of user_id, agent_id or run_id; reset() deletes everything"
            )
        self._memory.delete_all(**ids)
        return {"message": "Memories deleted successfully!"}

    def history(
        self, memory_id: str, *, user_id: Any = None, agent_id: Any = None, run_id: Any = None
    ) -> list[dict[str, Any]]:
        """The recorded changes of a memory, oldest first (see `lightmem.mem0.results.history_results`);
        of a memory of that scope only, when scope ids are given."""
        return history_results(self._memory.history(memory_id, **scope_ids(user_id, agent_id, run_id)))

    def reset(self) -> None:
        """Deletes every memory of every scope, all history and every buffer."""
        self._memory.reset()


class AsyncMemory:
    """mem0's `AsyncMemory` over lightmem: `Memory`'s verbs, with the same arguments, as coroutines run
    in worker threads (see `Memory` for what each does)."""

    def __init__(
        self, config: Optional[Mapping[str, Any]] = None, *, path: Optional[str] = None, **options: Any
    ) -> None:
        self._sync = Memory(config, path=path, **options)

    @classmethod
    def from_config(cls, config_dict: Mapping[str, Any], **options: Any) -> AsyncMemory:
        """See `Memory.from_config`."""
        return cls(config_dict, **options)

    @property
    def native(self) -> NativeMemory:
        """The `lightmem.Memory` underneath."""
        return self._sync.native

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """See `Memory.close` (not a coroutine, as mem0's)."""
        self._sync.close()

    async def add(
        self,
        messages: MessagesInput,
        *,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        metadata: Optional[Mapping[str, Any]] = None,
        timestamp: Any = None,
        expiration_date: Any = None,
        infer: bool = True,
        memory_type: Optional[str] = None,
        prompt: Optional[str] = None,
    ) -> dict[str, Any]:
        """`Memory.add`."""
        return await asyncio.to_thread(
            self._sync.add,
            messages,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            metadata=metadata,
            timestamp=timestamp,
            expiration_date=expiration_date,
            infer=infer,
            memory_type=memory_type,
            prompt=prompt,
        )

    async def search(
        self,
        query: str,
        *,
        top_k: Optional[int] = None,
        filters: Optional[Mapping[str, Any]] = None,
        threshold: Optional[float] = DEFAULT_THRESHOLD,
        rerank: bool = False,
        explain: bool = False,
        reference_date: Any = None,
        show_expired: bool = False,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        limit: Optional[int] = None,
    ) -> dict[str, Any]:
        """`Memory.search`."""
        return await asyncio.to_thread(
            self._sync.search,
            query,
            top_k=top_k,
            filters=filters,
            threshold=threshold,
            rerank=rerank,
            explain=explain,
            reference_date=reference_date,
            show_expired=show_expired,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            limit=limit,
        )

    async def get(
        self, memory_id: str, *, user_id: Any = None, agent_id: Any = None, run_id: Any = None
    ) -> Optional[dict[str, Any]]:
        """`Memory.get`."""
        return await asyncio.to_thread(
            self._sync.get, memory_id, user_id=user_id, agent_id=agent_id, run_id=run_id
        )

    async def get_all(
        self,
        *,
        filters: Optional[Mapping[str, Any]] = None,
        top_k: Optional[int] = None,
        show_expired: bool = False,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
        limit: Optional[int] = None,
    ) -> dict[str, Any]:
        """`Memory.get_all`."""
        return await asyncio.to_thread(
            self._sync.get_all,
            filters=filters,
            top_k=top_k,
            show_expired=show_expired,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            limit=limit,
        )

    async def update(
        self,
        memory_id: str,
        text: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        expiration_date: Any = _UNSET,
        data: Optional[str] = None,
        *,
        user_id: Any = None,
        agent_id: Any = None,
        run_id: Any = None,
    ) -> dict[str, str]:
        """`Memory.update`."""
        return await asyncio.to_thread(
            self._sync.update,
            memory_id,
            text,
            metadata,
            expiration_date,
            data,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
        )

    async def delete(
        self, memory_id: str, *, user_id: Any = None, agent_id: Any = None, run_id: Any = None
    ) -> dict[str, str]:
        """`Memory.delete`."""
        return await asyncio.to_thread(
            self._sync.delete, memory_id, user_id=user_id, agent_id=agent_id, run_id=run_id
        )

    async def delete_all(
        self, user_id: Any = None, agent_id: Any = None, run_id: Any = None
    ) -> dict[str, str]:
        """`Memory.delete_all`."""
        return await asyncio.to_thread(self._sync.delete_all, user_id, agent_id, run_id)

    async def history(
        self, memory_id: str, *, user_id: Any = None, agent_id: Any = None, run_id: Any = None
    ) -> list[dict[str, Any]]:
        """`Memory.history`."""
        return await asyncio.to_thread(
            self._sync.history, memory_id, user_id=user_id, agent_id=agent_id, run_id=run_id
        )

    async def reset(self) -> None:
        """`Memory.reset`."""
        await asyncio.to_thread(self._sync.reset)


def _with_content(messages: MessagesInput) -> MessagesInput:
    """`messages` without the message dicts whose content is None, each skipped with a log line as mem0
    does (an OpenAI chat history holds such assistant messages with their tool calls: the whole add was
    a ValueError)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, (Mapping, Sequence)):
        return messages
    listed: Sequence[Any] = [messages] if isinstance(messages, Mapping) else messages
    kept = [m for m in listed if not (isinstance(m, Mapping) and "content" in m and m["content"] is None)]
    if len(kept) < len(listed):
        logger.warning("add: skipped %d message(s) whose content is None", len(listed) - len(kept))
    return kept


def _refuse(verb: str, **arguments: Any) -> None:
    """ValueError naming the first of `arguments` that is set: mem0 parameters lightmem does not have."""
    for name, value in arguments.items():
        if value is not None:
            raise ValueError(f"{verb}({name}=...) is not supported by lightmem's mem0 drop-in")


def _count(top_k: object, limit: object) -> int:
    """How many results `top_k` or `limit` (mem0 1.x's name) ask for: an integer from 0 to MAX_RESULTS,
    default 20; ValueError naming the one given."""
    if top_k is not None and limit is not None and top_k != limit:
        raise ValueError(f"top_k={top_k!r} and limit={limit!r} name the same setting: give one")
    if top_k is None and limit is not None:
        return check_int(limit, "limit", 0, MAX_RESULTS)
    return check_int(DEFAULT_TOP_K if top_k is None else top_k, "top_k", 0, MAX_RESULTS)


def _without_identity(metadata: Optional[Mapping[str, Any]], verb: str) -> Optional[dict[str, Any]]:
    """`metadata` without scope and actor ids, which mem0 also drops (a memory's scope comes from the
    arguments, never from its metadata); a warning names those dropped."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    dropped = [key for key in _IDENTITY_KEYS if key in metadata]
    if dropped:
        logger.warning("%s: ignoring %s in metadata: a memory's scope comes from its ids", verb, dropped)
    return {key: value for key, value in metadata.items() if key not in _IDENTITY_KEYS}
