"""lightmem's memories and history entries in the shapes mem0 2.x returns them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from lightmem.types import HistoryEntry, MemoryItem

_SCOPE_FIELDS = ("user_id", "agent_id", "run_id")


def memory_result(item: MemoryItem, *, with_score: bool) -> dict[str, Any]:
    """A memory as mem0's `get` / `get_all` / `search` give it: id, memory (the text), hash (MD5 of the
    text, as mem0's), metadata (None when empty), score (search's: see `lightmem.Memory.search`),
    created_at and updated_at (ISO 8601, UTC), and the scope ids it has."""
    result: dict[str, Any] = {
        "id": item.id,
        "memory": item.text,
        "hash": hashlib.md5(item.text.encode("utf-8")).hexdigest(),
        "metadata": dict(item.metadata) or None,
    }
    if with_score:
        result["score"] = item.score
    result["created_at"] = item.created_at.isoformat()
    result["updated_at"] = item.updated_at.isoformat()
    result.update({name: getattr(item, name) for name in _SCOPE_FIELDS if getattr(item, name) is not None})
    return result


def history_results(entries: Sequence[HistoryEntry]) -> list[dict[str, Any]]:
    """A memory's history as mem0's `history` gives it, oldest first: id (the memory id and the
    entry's position), memory_id, old_memory, new_memory, event (ADD, UPDATE or DELETE: a
    consolidation's MERGE is an UPDATE), created_at (of the memory), updated_at (of the change),
    is_deleted. lightmem records no actor_id nor role: they are None."""
    created = entries[0].created_at.isoformat() if entries else None
    return [
        {
            "id": f"{entry.memory_id}:{index}",
            "memory_id": entry.memory_id,
            "old_memory": entry.old_text,
            "new_memory": entry.new_text,
            "event": "UPDATE" if entry.event == "MERGE" else entry.event,
            "created_at": created,
            "updated_at": entry.created_at.isoformat(),
            "is_deleted": entry.event == "DELETE",
            "actor_id": None,
            "role": None,
        }
        for index, entry in enumerate(entries)
    ]
