"""mem0's scope ids and filters, translated to lightmem's: one scope plus a filters dict.

mem0 2.x takes the scope ids inside `filters` (`{"user_id": "alice", "category": "work"}`), metadata
conditions at the top level beside them, and AND / OR / NOT over lists of such dicts. lightmem reads one
scope at a time, so the ids must be required by the filters (at their top level or in their top-level
AND); every other condition becomes a condition on the unit's metadata (`SearchFilters.metadata`, which
takes mem0's operators). lightmem's own time keys pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

SCOPE_KEYS = ("user_id", "agent_id", "run_id")
_TIME_KEYS = ("event_after", "event_before", "created_after", "created_before")
_UNSUPPORTED = {
    "created_at": "filter creation times with created_after / created_before (ISO 8601) instead",
    "updated_at": "lightmem does not filter on the time of the last update",
    "actor_id": "lightmem does not record a message's actor_id with its memories",
    "role": "lightmem does not record a message's role with its memories",
}


def entity_id(value: object, name: str) -> str:
    """A scope id as mem0 takes it: a string, trimmed, or an integer turned into one (a database key)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string or an integer, got {value!r:.80}")
    return value.strip()


def scope_ids(user_id: object = None, agent_id: object = None, run_id: object = None) -> dict[str, str]:
    """The scope ids given (None left out), checked as mem0 checks them."""
    given = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    return {name: entity_id(value, name) for name, value in given.items() if value is not None}


def translate(
    filters: Optional[Mapping[str, Any]], ids: Mapping[str, str]
) -> tuple[dict[str, str], Optional[dict[str, Any]]]:
    """(scope ids, lightmem filters) for mem0 `filters` and the scope ids given beside them.

    ValueError naming what lightmem cannot express: a scope id that is not one id, or that differs
    from the one given beside, or that sits inside OR / NOT; a filter on created_at, updated_at,
    actor_id or role.
    """
    scope = dict(ids)
    if filters is None:
        return scope, None
    if not isinstance(filters, Mapping):
        raise ValueError(f"filters must be a dict, got {type(filters).__name__}")
    native: dict[str, Any] = {}
    conditions: dict[str, Any] = {}
    for key, value in filters.items():
        if key in SCOPE_KEYS:
            _require(scope, key, value)
        elif key in _TIME_KEYS:
            native[key] = value
        elif key in _UNSUPPORTED:
            raise ValueError(f"filters[{key!r}] is not supported: {_UNSUPPORTED[key]}")
        elif key == "AND":
            rest = _lift_scope_ids(value, scope)
            if rest:
                conditions[key] = rest
        else:
            _reject_scope_ids(value, f"filters[{key!r}]")
            conditions[key] = value
    if conditions:
        native["metadata"] = conditions
    return scope, native or None


def _require(scope: dict[str, str], key: str, value: object) -> None:
    """Add the scope id `key` = `value` to `scope`; ValueError if it is not one id or contradicts it."""
    if isinstance(value, (Mapping, list)) or value == "*":
        raise ValueError(
            f"filters[{key!r}] must be one id: lightmem reads one scope at a time, got {value!r:.80}"
        )
    wanted = entity_id(value, f"filters[{key!r}]")
    if scope.setdefault(key, wanted) != wanted:
        raise ValueError(f"filters[{key!r}] is {wanted!r} but {key} is {scope[key]!r}: one scope at a time")


def _lift_scope_ids(conditions: object, scope: dict[str, str]) -> object:
    """The conditions of a top-level AND without the scope ids it requires (those go to `scope`)."""
    if not isinstance(conditions, list):
        return conditions  # lightmem's filters name the problem
    rest: list[Any] = []
    for i, condition in enumerate(conditions):
        if not isinstance(condition, Mapping):
            rest.append(condition)
            continue
        kept = {}
        for key, value in condition.items():
            if key in SCOPE_KEYS:
                _require(scope, key, value)
            else:
                _reject_scope_ids(value, f"filters['AND'][{i}][{key!r}]")
                kept[key] = value
        if kept:
            rest.append(kept)
    return rest


def _reject_scope_ids(value: object, where: str) -> None:
    """ValueError if a scope id appears anywhere inside `value` (under OR, NOT or a nested AND)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key in SCOPE_KEYS:
                raise ValueError(
                    f"{where} names {key}: lightmem reads one scope at a time, so scope ids go at the top "
                    "level of filters or in its top-level AND, never under OR or NOT"
                )
            _reject_scope_ids(inner, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _reject_scope_ids(inner, f"{where}[{i}]")
