"""The memory systems the harness compares, behind one small interface; lightmem's adapter.

Every system renders a memory the way an agent would read it (the same string that is embedded):
its date, then `speaker: text` (see `lightmem.text_keys.embedding_text`).
"""

from __future__ import annotations

import os
from typing import Protocol

from lightmem.config import LightMemConfig
from lightmem.conversations import Conversation
from lightmem.embedding import Embedder
from lightmem.llm import LLM
from lightmem.memory import Memory
from lightmem.text_keys import embedding_text
from lightmem.types import MemoryItem

from lightmem_bench.metrics import Hit

USER_ID = "locomo"
"""The scope every system stores a benchmark conversation under."""


class System(Protocol):
    """A memory system under test: ingest one conversation, then answer searches over it."""

    def ingest(self, conversation: Conversation) -> None:
        """Store every session of the conversation, ready for search."""
        ...

    def search(self, query: str, limit: int) -> list[Hit]:
        """The `limit` best memories for `query`, best first."""
        ...

    def stored_units(self) -> list[Hit]:
        """Every stored memory: its text as an agent reads it, and the turns it comes from."""
        ...

    def llm_usage(self) -> dict[str, int]:
        """LLM `calls`, `prompt_tokens` and `completion_tokens` spent so far."""
        ...

    def close(self) -> None:
        """Release files and indexes."""
        ...


def _hit(item: MemoryItem) -> Hit:
    return Hit(embedding_text(item.text, item.event_time), item.source)


class LightMemSystem:
    """lightmem's `Memory` in a directory of its own; sessions are added one `add` call each, then flushed."""

    def __init__(self, path: str | os.PathLike[str], config: LightMemConfig, embedder: Embedder, llm: LLM):
        self._llm = llm
        self.memory = Memory(path, config, embedder=embedder, llm=llm)

    def ingest(self, conversation: Conversation) -> None:
        """Add each session as one batch of messages, then flush what is left in the buffer."""
        for session in conversation.sessions:
            self.memory.add(session, user_id=USER_ID)
        self.memory.flush(user_id=USER_ID)

    def search(self, query: str, limit: int) -> list[Hit]:
        """`Memory.search` hits, rendered with their event date."""
        return [_hit(item) for item in self.memory.search(query, user_id=USER_ID, limit=limit)]

    def stored_units(self) -> list[Hit]:
        """Every stored unit, rendered with its event date."""
        return [_hit(item) for item in self.memory.get_all(user_id=USER_ID)]

    def llm_usage(self) -> dict[str, int]:
        """The LLM backend's counters."""
        return self._llm.usage.snapshot()

    def close(self) -> None:
        """Close the memory's store."""
        self.memory.close()
