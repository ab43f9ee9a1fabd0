"""Times as lightmem takes them: timezone-aware UTC datetimes, from datetimes or ISO 8601 text."""

from __future__ import annotations

from datetime import datetime, timezone


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def to_utc(value: datetime, name: str = "time") -> datetime:
    """`value` in UTC; a naive datetime is taken to be UTC already. ValueError naming `name` if it has
    no UTC equivalent (an offset pushes it before year 1 or after year 9999)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(
            f"{name} {value.isoformat()} is out of range: in UTC it falls before year 1 or after year 9999"
        ) from None


def parse_time(value: object, name: str) -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 date or datetime string ('Z' suffix allowed;
    naive values are taken as UTC); ValueError naming `name` otherwise."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name} {value!r} is not an ISO 8601 date or datetime") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be an ISO 8601 string or a datetime, got {type(value).__name__}")
    return to_utc(value, name)
