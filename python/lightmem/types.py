"""The value types that cross module boundaries: input messages, scopes, stored memories, history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional


@dataclass(frozen=True)
class Scope:
    """Who a memory belongs to. Every read and write is confined to one scope (mem0's three ids)."""

    user_id: Optional[str] = None
    agent_id: Optional[str] = None
    run_id: Optional[str] = None

    def __post_init__(self) -> None:
        if self.user_id is None and self.agent_id is None and self.run_id is None:
            raise ValueError("a scope needs at least one of user_id, agent_id or run_id")
        for name in ("user_id", "agent_id", "run_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string or None, got {value!r}")
            if value is not None:
                check_unicode(value, name)
                if "\x00" in value:
                    raise ValueError(f"{name} holds a NUL character (\\u0000), which no memory store keeps")


def check_unicode(text: str, what: str) -> None:
    """ValueError naming `what` unless `text` can be stored as UTF-8 (it holds no lone surrogate)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(
                f"{what} is not valid Unicode: a lone surrogate at position {err.start}"
            ) from None


@dataclass(frozen=True)
class Message:
    """One conversation turn after validation (see `lightmem.messages.normalize_messages`)."""

    id: str
    role: str
    content: str
    speaker: Optional[str] = None
    timestamp: Optional[datetime] = None


@dataclass(frozen=True)
class ExtractedUnit:
    """A memory unit as the short-term stage produces it, before it is embedded and stored."""

    text: str
    source: tuple[str, ...]
    topic: Optional[str] = None
    event_time: Optional[datetime] = None
    extractive: bool = False
    """Whether it is its source turns' text itself (the extractive fallback after unusable LLM answers):
    then its search key is theirs, and its text is not embedded again."""


@dataclass(frozen=True)
class MemoryItem:
    """A stored long-term memory unit, as the public API returns it."""

    id: str
    text: str
    user_id: Optional[str]
    agent_id: Optional[str]
    run_id: Optional[str]
    created_at: datetime
    updated_at: datetime
    event_time: Optional[datetime] = None
    topic: Optional[str] = None
    source: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    score: Optional[float] = None
    version: int = 1
    pending: bool = False
    """True for a message still in the short-term buffer, found by `search` before any flush: its `id`
    is `pending:` and a digest of its scope and message id (no memory id yet), its `text` the whole
    message line, its `source` the message id."""

    @property
    def scope_key(self) -> tuple[Optional[str], Optional[str], Optional[str]]:
        """The item's exact scope as a tuple (cheaper to hash and compare than a `Scope`)."""
        return (self.user_id, self.agent_id, self.run_id)


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded change of a memory unit: ADD, UPDATE, MERGE or DELETE."""

    memory_id: str
    event: str
    old_text: Optional[str]
    new_text: Optional[str]
    reason: Optional[str]
    created_at: datetime


class MemoryNotFoundError(KeyError, ValueError):
    """No live memory has this id in the scope given: it never existed, was deleted, or belongs to
    another scope (the three are never told apart). A KeyError, and a ValueError as mem0 raises."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "memory not found"
