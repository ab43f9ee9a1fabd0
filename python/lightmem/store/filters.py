"""`SearchFilters`: the optional constraints of a long-term search (time ranges, metadata equality)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from lightmem.store.codec import check_metadata, encode_time, parse_time

_TIME_BOUNDS = {
    # field: (column, SQL operator)
    "event_after": ("event_time", ">="),
    "event_before": ("event_time", "<"),
    "created_after": ("created_at", ">="),
    "created_before": ("created_at", "<"),
}
_SCOPE_KEYS = ("user_id", "agent_id", "run_id")
_LOGICAL_KEYS = ("AND", "OR", "NOT")


@dataclass(frozen=True)
class SearchFilters:
    """Constraints of a search, all combined with AND; every field is optional.

    Time bounds are half-open: `*_after` is inclusive, `*_before` exclusive; naive datetimes are UTC.
    A bound on the event time excludes units whose event time is unknown. `metadata` requires each
    given top-level key to be present in the unit's metadata with an equal value.
    """

    event_after: Optional[datetime] = None
    event_before: Optional[datetime] = None
    created_after: Optional[datetime] = None
    created_before: Optional[datetime] = None
    metadata: Optional[dict[str, Any]] = None

    def __post_init__(self) -> None:
        for name in _TIME_BOUNDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, datetime):
                raise ValueError(f"{name} must be a datetime or None, got {value!r}")
        if self.metadata is not None:
            object.__setattr__(self, "metadata", check_metadata(self.metadata, "filters metadata"))

    @classmethod
    def from_dict(cls, d: Optional[Mapping[str, Any]]) -> Optional[SearchFilters]:
        """Filters from a mem0-style dict, or None when it sets nothing.

        Recognised keys: the field names above (times as datetimes or ISO 8601 strings) and `metadata`
        (a dict); any other key is a metadata key compared by equality. Scope ids, logical operators
        (AND/OR/NOT) and operator dicts such as {"gte": 3} raise ValueError naming the key.
        """
        if d is None:
            return None
        if not isinstance(d, Mapping):
            raise ValueError(f"filters must be a mapping, got {type(d).__name__}")
        times: dict[str, datetime] = {}
        metadata = check_metadata(d.get("metadata"), "filters['metadata']")
        for key, value in d.items():
            if key == "metadata" or (value is None and key in _TIME_BOUNDS):
                continue
            if key in _TIME_BOUNDS:
                times[key] = parse_time(value, f"filters[{key!r}]")
            else:
                _check_plain_key(key, value, metadata)
                metadata[key] = value
        if not times and not metadata:
            return None
        return cls(**times, metadata=metadata or None)

    def sql(self) -> tuple[list[str], list[Any]]:
        """SQL conditions (on the `units` table) and their parameters for the time bounds."""
        clauses: list[str] = []
        params: list[Any] = []
        for name, (column, operator) in _TIME_BOUNDS.items():
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{column} {operator} ?")
                params.append(encode_time(value))
        return clauses, params

    def matches_metadata(self, metadata: Mapping[str, Any]) -> bool:
        """Whether a unit's metadata satisfies the metadata equalities."""
        wanted = self.metadata or {}
        return all(key in metadata and metadata[key] == value for key, value in wanted.items())


def _check_plain_key(key: object, value: object, metadata: Mapping[str, Any]) -> None:
    """Reject filter keys that would silently match nothing if taken as metadata equalities."""
    if not isinstance(key, str):
        raise ValueError(f"filters keys must be strings, got {key!r}")
    if key in _SCOPE_KEYS:
        raise ValueError(f"filters[{key!r}] is a scope id: pass it as {key}=..., not as a filter")
    if key in _LOGICAL_KEYS:
        raise ValueError(f"filters[{key!r}]: logical operators are not supported, only equality")
    if isinstance(value, Mapping):
        raise ValueError(f"filters[{key!r}]: operator filters such as {{'gte': ...}} are not supported")
    if key in metadata and metadata[key] != value:
        raise ValueError(f"filters[{key!r}] conflicts with filters['metadata'][{key!r}]")
