"""`ShortTermBuffer`: the messages of each exact scope that wait to become memory units, and when they do.

The messages are kept by the store (`ShortTermStore`, its pending rows) with their word counts and the
embeddings of their turns, so that a restart or a crash loses nothing and a flush embeds nothing twice.
A scope's buffer is due for extraction once it holds `threshold` words
(`LightMemConfig.buffer_token_threshold`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from lightmem.messages import message_to_dict
from lightmem.store.protocol import ShortTermStore
from lightmem.types import Message, Scope


def buffer_record(message: Message, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """`message` as the buffer keeps it (and as `add(infer=False)` records it, so that a retried add is
    recognised either way): its dict with the `metadata` of its `add` call."""
    return {**message_to_dict(message), "metadata": metadata}


class ShortTermBuffer:
    """The short-term buffer of every exact scope, in `store`; full at `threshold` words."""

    def __init__(self, store: ShortTermStore, threshold: int) -> None:
        self._store = store
        self._threshold = threshold

    def add(
        self,
        scope: Scope,
        messages: Sequence[Message],
        metadata: Mapping[str, Any],
        vectors: np.ndarray,
        counts: Mapping[str, int],
    ) -> bool:
        """Buffers `messages` of `scope` (with the `metadata` of their call, their turns' `vectors` and
        the `counts` to add to the scope's counters, in one transaction; see `ShortTermStore.pending_add`
        for retried and conflicting message ids); whether the scope's buffer is now full."""
        records = [buffer_record(m, metadata) for m in messages]
        words = [len(m.content.split()) for m in messages]
        self._store.pending_add(scope, records, words, vectors, counts=counts)
        return self.words(scope) >= self._threshold

    def words(self, scope: Scope) -> int:
        """Words buffered in the exact `scope`."""
        return self._store.pending_words(scope)

    def messages(self, scope: Scope) -> list[tuple[int, dict[str, Any]]]:
        """(pending id, message record) of the exact `scope`, oldest first."""
        return self._store.pending_list(scope)

    def vectors(self, pending_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The turn embeddings buffered with these pending rows (rows buffered without one are left out)."""
        return self._store.pending_vectors(pending_ids)

    def scopes(self, query: Optional[Scope] = None) -> list[Scope]:
        """The exact scopes with buffered messages that the query scope `query` covers (None ids match any
        value), or all of them."""
        return [s for s in self._store.pending_scopes() if query is None or _covers(query, s)]

    def count(self, scope: Optional[Scope] = None) -> int:
        """Buffered messages of every exact scope `scope` covers, or of the whole store."""
        return self._store.pending_count(scope)


def _covers(query: Scope, exact: Scope) -> bool:
    """Whether the query scope `query` (None ids match any value) covers the exact scope `exact`."""
    return all(
        getattr(query, name) in (None, getattr(exact, name)) for name in ("user_id", "agent_id", "run_id")
    )
