"""`SearchFilters`: the optional constraints of a long-term search: time ranges, and conditions on the
units' metadata (equality, comparisons, membership, substrings, AND / OR / NOT)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

from lightmem.store.codec import check_metadata, encode_json, encode_time
from lightmem.times import parse_time, to_utc

_TIME_BOUNDS = {
    # field: (column, SQL operator)
    "event_after": ("event_time", ">="),
    "event_before": ("event_time", "<"),
    "created_after": ("created_at", ">="),
    "created_before": ("created_at", "<"),
}
FILTER_KEYS = (*sorted(_TIME_BOUNDS), "metadata")
"""The keys a filters dict may have."""
_SCOPE_KEYS = ("user_id", "agent_id", "run_id")
LOGICAL_KEYS = ("AND", "OR", "NOT")
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains")
WILDCARD = "*"

Predicate = Callable[[Mapping[str, Any]], bool]
"""A compiled metadata condition: whether a unit's metadata satisfies it."""


@dataclass(frozen=True)
class SearchFilters:
    """Constraints of a search, all combined with AND; every field is optional.

    Time bounds are half-open: `*_after` is inclusive, `*_before` exclusive (and must be later: a
    ValueError else); naive datetimes are UTC (the bounds are kept in UTC).
    A bound on the event time excludes units whose event time is unknown.

    `metadata` holds conditions on the unit's metadata, all of which must hold (mem0's grammar):
    `{"key": value}` (equal; True and 1 differ), `{"key": "*"}` (present and not null),
    `{"key": {"op": operand, ...}}` with the operators `eq`, `ne`, `gt`, `gte`, `lt`, `lte` (numbers
    with numbers, strings with strings), `in`, `nin` (a list), `contains`, `icontains` (a substring of a
    string value, or an element of a list value; `icontains` ignores case), and `{"AND": [...]}`,
    `{"OR": [...]}`, `{"NOT": [...]}` over lists of such condition dicts (NOT: none of them holds).
    `ne` and `nin` hold when the key is absent; every other condition needs the key.
    """

    event_after: Optional[datetime] = None
    event_before: Optional[datetime] = None
    created_after: Optional[datetime] = None
    created_before: Optional[datetime] = None
    metadata: Optional[dict[str, Any]] = None
    _predicate: Optional[Predicate] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in _TIME_BOUNDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, datetime):
                raise ValueError(f"{name} must be a datetime or None, got {value!r}")
            if value is not None:
                object.__setattr__(self, name, to_utc(value, name))
        for kind in ("event", "created"):  # swapped bounds matched nothing, without a word
            after, before = getattr(self, f"{kind}_after"), getattr(self, f"{kind}_before")
            if after is not None and before is not None and after >= before:
                raise ValueError(
                    f"{kind}_after {after.isoformat()} must be earlier than {kind}_before "
                    f"{before.isoformat()}: no time is at or after the one and before the other"
                )
        if self.metadata is not None:
            metadata = check_metadata(self.metadata, "filters['metadata']")
            object.__setattr__(self, "metadata", metadata)
            object.__setattr__(self, "_predicate", compile_conditions(metadata, "filters['metadata']"))

    @classmethod
    def from_dict(cls, d: Optional[Mapping[str, Any]]) -> Optional[SearchFilters]:
        """Filters from a dict with the keys of `FILTER_KEYS` (times as datetimes or ISO 8601
        strings), or None when it sets nothing; a `SearchFilters` is returned as it is.

        Any other key raises ValueError naming the allowed ones: a mistyped key would otherwise match
        nothing. Scope ids are arguments of the call, not filters.
        """
        if d is None or isinstance(d, SearchFilters):
            return d
        if not isinstance(d, Mapping):
            raise ValueError(f"filters must be a mapping, got {type(d).__name__}")
        for key in d:
            _check_key(key)
        times = {k: parse_time(d[k], f"filters[{k!r}]") for k in _TIME_BOUNDS if d.get(k) is not None}
        metadata = check_metadata(d.get("metadata"), "filters['metadata']")
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

    def admits(
        self, event_time: Optional[datetime], created_at: datetime, metadata: Mapping[str, Any]
    ) -> bool:
        """Whether something with these times and metadata passes every filter (what `sql` and
        `matches_metadata` check together, for what is not a row of the `units` table)."""
        times = {"event_time": event_time, "created_at": created_at}
        for name, (column, operator) in _TIME_BOUNDS.items():
            bound, value = getattr(self, name), times[column]
            if bound is None:
                continue
            if value is None or (value < to_utc(bound) if operator == ">=" else value >= to_utc(bound)):
                return False
        return self.matches_metadata(metadata)

    def matches_metadata(self, metadata: Mapping[str, Any]) -> bool:
        """Whether a unit's metadata satisfies the metadata conditions."""
        return self._predicate is None or self._predicate(metadata)


def _check_key(key: object) -> None:
    """ValueError unless `key` is one of `FILTER_KEYS`, saying where a scope id or a metadata key goes."""
    if key in FILTER_KEYS:
        return
    if key in _SCOPE_KEYS:
        raise ValueError(f"filters[{key!r}] is a scope id: pass it as {key}=..., not as a filter")
    allowed = ", ".join(FILTER_KEYS)
    raise ValueError(
        f"unknown filter key {key!r}: the keys are {allowed}; conditions on metadata go under "
        f"'metadata', e.g. {{'metadata': {{{key!r}: ...}}}}"
    )


def compile_conditions(conditions: Mapping[str, Any], where: str) -> Predicate:
    """The predicate of a dict of metadata conditions (the grammar of `SearchFilters.metadata`), all of
    which must hold; ValueError naming the part at `where` that is malformed."""
    if not isinstance(conditions, Mapping):
        raise ValueError(f"{where} must be a dict of conditions, got {conditions!r:.80}")
    parts = [_compile_entry(key, value, f"{where}[{key!r}]") for key, value in conditions.items()]
    return lambda metadata: all(part(metadata) for part in parts)


def _compile_entry(key: object, value: Any, where: str) -> Predicate:
    if not isinstance(key, str):
        raise ValueError(f"{where}: condition keys must be strings")
    if key in LOGICAL_KEYS:
        branches = [
            compile_conditions(c, f"{where}[{i}]") for i, c in enumerate(_branches(key, value, where))
        ]
        if key == "AND":
            return lambda metadata: all(branch(metadata) for branch in branches)
        if key == "OR":
            return lambda metadata: any(branch(metadata) for branch in branches)
        return lambda metadata: not any(branch(metadata) for branch in branches)
    if key.lstrip("$").upper() in LOGICAL_KEYS and _is_condition_list(value):
        raise ValueError(
            f"{where}: the logical operators are written AND, OR and NOT (this would compare the metadata "
            f"key {key!r} with a list, and match nothing); to mean that, write {{{key!r}: {{'eq': [...]}}}}"
        )
    if isinstance(value, str) and value == WILDCARD:
        return lambda metadata: metadata.get(key) is not None
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"{where}: an empty operator dict; use {{'eq': {{}}}} to compare with {{}}")
        tests = [_compile_operator(key, op, operand, f"{where}[{op!r}]") for op, operand in value.items()]
        return lambda metadata: all(test(metadata) for test in tests)
    return _compile_operator(key, "eq", value, where)


def _branches(key: str, value: Any, where: str) -> Sequence[Any]:
    """The condition dicts of a logical operator: a non-empty list (NOT also takes one dict)."""
    if key == "NOT" and isinstance(value, Mapping):
        return [value]
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{where} must be a non-empty list of condition dicts, got {value!r:.80}")
    return value


def _is_condition_list(value: Any) -> bool:
    """Whether `value` is a non-empty list of dicts: the operand of a logical operator."""
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(c, Mapping) for c in value)


def _compile_operator(key: str, op: object, operand: Any, where: str) -> Predicate:
    if op not in OPERATORS:
        raise ValueError(f"{where}: unknown operator {op!r}; the operators are {', '.join(OPERATORS)}")
    encode_json(operand, where)
    if op in ("in", "nin"):
        if isinstance(operand, (str, bytes, Mapping)) or not isinstance(operand, Sequence):
            raise ValueError(f"{where} must be a list of values, got {operand!r:.80}")
        members = list(operand)
        inside: Predicate = lambda m: key in m and any(_same(m[key], x) for x in members)  # noqa: E731
        return inside if op == "in" else lambda m: not inside(m)
    if op in ("eq", "ne"):
        equal: Predicate = lambda m: key in m and _same(m[key], operand)  # noqa: E731
        return equal if op == "eq" else lambda m: not equal(m)
    if op in ("contains", "icontains"):
        if not isinstance(operand, str):
            raise ValueError(f"{where} must be a string, got {operand!r:.80}")
        fold = op == "icontains"
        return lambda m: key in m and _contains(m[key], operand, fold)
    if not isinstance(operand, (str, int, float)) or isinstance(operand, bool):
        raise ValueError(f"{where} must be a number or a string, got {operand!r:.80}")
    return lambda m: key in m and _compare(m[key], str(op), operand)


def _same(value: Any, other: Any) -> bool:
    """JSON equality: a boolean equals only a boolean (True is not 1)."""
    if isinstance(value, bool) or isinstance(other, bool):
        return type(value) is type(other) and value == other
    return bool(value == other)


def _contains(value: Any, part: str, fold: bool) -> bool:
    """Whether `part` is a substring of a string `value` or an element of a list `value`."""

    def norm(text: str) -> str:
        return text.casefold() if fold else text

    if isinstance(value, str):
        return norm(part) in norm(value)
    if isinstance(value, list):
        return norm(part) in [norm(v) for v in value if isinstance(v, str)]
    return False


def _compare(value: Any, op: str, operand: Any) -> bool:
    """`value op operand` when both are numbers or both are strings; False otherwise."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (value, operand))
    if not numbers and not (isinstance(value, str) and isinstance(operand, str)):
        return False
    if op == "gt":
        return bool(value > operand)
    if op == "gte":
        return bool(value >= operand)
    if op == "lt":
        return bool(value < operand)
    return bool(value <= operand)
