"""`Change`: one edit of a consolidation pass (`ConsolidationStore.apply_changes`), checked when made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

_UPDATE_EVENTS = ("UPDATE", "MERGE")
_CHANGE_KINDS = ("update", "delete", "mark_consolidated")


@dataclass(frozen=True, eq=False)
class Change:
    """One edit of a consolidation pass, for `ConsolidationStore.apply_changes`.

    `kind` is 'update', 'delete', or 'mark_consolidated' (the unit has been looked at by sleep-time
    consolidation). An update gives a new `text` with its `vector`, or a new `source`, or both; `event`
    ('UPDATE' or 'MERGE') is recorded in history. `source` replaces the unit's source ids (provenance),
    e.g. extended with those of a duplicate being deleted; an update of the source alone leaves the
    text, the vector and the consolidated mark as they are.

    `expected_version`: the unit's version when the change was decided; if the unit has another version
    when `apply_changes` starts, nothing is applied (`VersionConflict`).
    """

    kind: str
    memory_id: str
    text: Optional[str] = None
    vector: Optional[np.ndarray] = None
    reason: Optional[str] = None
    event: str = "UPDATE"
    source: Optional[tuple[str, ...]] = None
    expected_version: Optional[int] = None

    def __post_init__(self) -> None:
        if self.kind not in _CHANGE_KINDS:
            raise ValueError(f"Change.kind must be one of {_CHANGE_KINDS}, got {self.kind!r}")
        if self.source is not None:
            object.__setattr__(self, "source", _check_source(self.source))
        if self.kind == "update":
            self._check_update()
        elif (self.text, self.vector, self.source) != (None, None, None):
            raise ValueError(f"Change.text, .vector and .source apply to updates only, not to {self.kind!r}")
        version = self.expected_version
        if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
            raise ValueError(f"Change.expected_version must be an integer >= 1 or None, got {version!r}")

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
