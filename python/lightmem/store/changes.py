"""`Change`: one edit of a consolidation pass (`ConsolidationStore.apply_changes`), checked when made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Optional, get_args

import numpy as np

from lightmem.limits import check_int

ChangeKind = Literal["update", "delete", "mark_consolidated"]
"""What a `Change` does to its unit."""
UpdateEvent = Literal["UPDATE", "MERGE"]
"""The history event an update records: a plain rewrite, or a merge of duplicates."""
_CHANGE_KINDS: tuple[str, ...] = get_args(ChangeKind)
_UPDATE_EVENTS: tuple[str, ...] = get_args(UpdateEvent)


@dataclass(frozen=True, eq=False, init=False)
class Change:
    """One edit of a consolidation pass, for `ConsolidationStore.apply_changes`.

    `kind` is 'update', 'delete', or 'mark_consolidated' (the unit has been looked at by sleep-time
    consolidation). An update gives a new `text` with its `vector`, or a new `source`, or both; `event`
    ('UPDATE' or 'MERGE') is recorded in history. `source` replaces the unit's source ids (provenance),
    e.g. extended with those of a duplicate being deleted; an update of the source alone leaves the
    text, the vector and the consolidated mark as they are.

    `expected_version`: the unit's version when the change was decided; if the unit has another version
    when `apply_changes` starts, nothing is applied (`VersionConflict`).

    Built from keyword arguments only: `Change(kind="delete", memory_id=unit.id, reason=...)`.
    """

    kind: ChangeKind
    memory_id: str
    text: Optional[str] = None
    vector: Optional[np.ndarray] = None
    reason: Optional[str] = None
    event: UpdateEvent = "UPDATE"
    source: Optional[tuple[str, ...]] = None
    expected_version: Optional[int] = None

    def __init__(
        self,
        *,
        kind: ChangeKind,
        memory_id: str,
        text: Optional[str] = None,
        vector: Optional[np.ndarray] = None,
        reason: Optional[str] = None,
        event: UpdateEvent = "UPDATE",
        source: Optional[Sequence[str]] = None,
        expected_version: Optional[int] = None,
    ) -> None:
        """ValueError naming the field if the change is invalid (see the class docstring)."""
        if kind not in _CHANGE_KINDS:
            raise ValueError(f"Change.kind must be one of {_CHANGE_KINDS}, got {kind!r}")
        if expected_version is not None:
            check_int(expected_version, "Change.expected_version", low=1)
        fields = {
            "kind": kind,
            "memory_id": memory_id,
            "text": text,
            "vector": vector,
            "reason": reason,
            "event": event,
            "source": None if source is None else _check_source(source),
            "expected_version": expected_version,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        if kind == "update":
            self._check_update()
        elif (text, vector, source) != (None, None, None):
            raise ValueError(f"Change.text, .vector and .source apply to updates only, not to {kind!r}")

    def _check_update(self) -> None:
        if self.text is None and self.vector is None:
            if self.source is None:
                raise ValueError("an update needs a text with its vector, or a source")
        else:
            check_text(self.text, "Change.text")
            if self.vector is None:
                raise ValueError("Change.vector is required for an update of the text")
        check_event(self.event)


def _check_source(source: object) -> tuple[str, ...]:
    """`source` as a tuple; ValueError unless it is a sequence of strings."""
    if isinstance(source, (str, bytes)) or not isinstance(source, Sequence):
        raise ValueError(f"Change.source must be a sequence of strings, got {source!r}")
    if not all(isinstance(s, str) for s in source):
        raise ValueError(f"Change.source must hold strings only, got {list(source)!r}")
    return tuple(source)


def check_text(text: object, name: str) -> None:
    """ValueError naming `name` unless `text` is a non-blank string."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{name} must be a non-empty string, got {text!r}")


def check_event(event: object) -> None:
    """ValueError unless `event` is a history event an update may record."""
    if event not in _UPDATE_EVENTS:
        raise ValueError(f"event must be one of {_UPDATE_EVENTS}, got {event!r}")
