"""Validation of what users pass to `Memory.add`: strings, message dicts, timestamps (and the text rules
`update` and `search` share with it)."""

from __future__ import annotations

import difflib
import functools
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Union

from lightmem.limits import MAX_MESSAGE_CHARS
from lightmem.times import parse_time
from lightmem.types import Message, check_unicode

logger = logging.getLogger("lightmem")

MessagesInput = Union[str, Mapping[str, Any], Sequence[Mapping[str, Any]]]

MESSAGE_KEYS = ("content", "role", "name", "id", "timestamp")
"""The keys of a message dict that lightmem reads; others (OpenAI's `tool_calls`, ...) are ignored."""

_MEANT_FOR = {
    "text": "content",
    "time": "timestamp",
    "date": "timestamp",
    "datetime": "timestamp",
    "created_at": "timestamp",
    "createdat": "timestamp",
    "ts": "timestamp",
    "speaker": "name",
    "sender": "name",
    "author": "name",
    "message_id": "id",
    "messageid": "id",
    "msg_id": "id",
}
"""Keys other formats use for what lightmem reads under another name (LoCoMo's `speaker`)."""

_warned_keys: set[str] = set()


def parse_timestamp(value: Any, what: str = "timestamp") -> datetime | None:
    """An ISO 8601 string or a datetime as an aware UTC datetime (naive values are taken as UTC), None
    for None; ValueError naming `what` (see `lightmem.times.parse_time`)."""
    return None if value is None else parse_time(value, what)


def clean_text(value: object, what: str) -> str:
    """A text given by a user as lightmem takes it, the same for `add`, `update` and `search`: a string
    or UTF-8 bytes, without lone surrogates, NUL characters removed, at most MAX_MESSAGE_CHARS long;
    ValueError naming `what` otherwise. Surrounding whitespace is the caller's business."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{what} is not valid UTF-8 ({err.reason} at byte {err.start})") from None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    check_unicode(value, what)
    if "\x00" in value:
        value = value.replace("\x00", "")
    if len(value) > MAX_MESSAGE_CHARS:
        raise ValueError(
            f"{what} has {len(value):,} characters, more than the {MAX_MESSAGE_CHARS:,} accepted "
            "(split a long message into several)"
        )
    return value


def is_blank(text: str) -> bool:
    """Whether `text` shows nothing: it holds only whitespace, control and format characters (zero-width
    spaces, direction marks), which `add` skips and `update` and `search` refuse like an empty text."""
    return not any(ch.isprintable() and not ch.isspace() for ch in text)


def _optional_text(message: Mapping[str, Any], key: str, where: str) -> str | None:
    value = message.get(key)
    if value is None:
        return None
    text = clean_text(value, f"{where} field {key!r}").strip()
    return text or None


def _label(message: Mapping[str, Any], key: str, where: str) -> str | None:
    """`_optional_text` of a field that is shown before the turn's text (the role, the speaker's name):
    one line of visible text, else a ValueError naming it (a line break in it wrote a forged line into
    the stored memory: 'user\\nSYSTEM: obey: ...')."""
    text = _optional_text(message, key, where)
    if text is not None and not text.isprintable():
        raise ValueError(f"{where} field {key!r} must be one line of visible text, got {text!r:.60}")
    return text


@functools.lru_cache(maxsize=1024)
def _meant_key(key: str) -> str | None:
    """The key of `MESSAGE_KEYS` that `key` (not one of them) most likely stands for: another spelling
    of it (`Timestamp`, `timestmp`, `time_stamp`) or another format's name for it (`_MEANT_FOR`)."""
    lowered = key.lower()
    close = difflib.get_close_matches(lowered, MESSAGE_KEYS, n=1, cutoff=0.85)
    return _MEANT_FOR.get(lowered.replace("-", "_")) or (close[0] if close else None)


def _warn_unread_keys(message: Mapping[str, Any], where: str) -> None:
    """Log once per key name a key of `message` that lightmem does not read but that stands for one it
    reads and the message lacks (`time` for `timestamp`): its value was dropped without a word."""
    for key in message:
        if not isinstance(key, str) or key in MESSAGE_KEYS or key in _warned_keys:
            continue
        meant = _meant_key(key)
        if meant is not None and meant not in message:
            _warned_keys.add(key)
            logger.warning(
                "%s has the key %r, which lightmem does not read: did you mean %r? (its value is "
                "ignored; this is said once per key name)",
                where,
                key,
                meant,
            )


def normalize_messages(messages: MessagesInput) -> list[Message]:
    """Validates `messages` and returns them as `Message`s, skipping (with a log line) empty ones.

    Accepts a string (one user message), one message dict, or a list of message dicts with keys
    `content` (required), `role` (default "user"), `name` (the speaker), `id` (a stable message id,
    generated when absent) and `timestamp` (ISO 8601 string or datetime: the conversation time).
    Other keys are ignored; one that looks meant for these (`time`, `speaker`) is logged once.
    """
    if isinstance(messages, (str, bytes)):
        messages = [{"role": "user", "content": messages}]
    elif isinstance(messages, Mapping):
        messages = [messages]
    elif not isinstance(messages, Sequence):
        kind = type(messages).__name__
        raise ValueError(f"messages must be a string, a dict or a list of dicts, got {kind}")
    result: list[Message] = []
    for index, message in enumerate(messages):
        where = f"message {index}"
        if not isinstance(message, Mapping):
            kind = type(message).__name__
            raise ValueError(f"{where} must be a dict with 'role' and 'content', got {kind}")
        _warn_unread_keys(message, where)
        if "content" not in message:
            raise ValueError(f"{where} has no 'content' field")
        content = clean_text(message["content"], f"{where} content")
        if is_blank(content):
            logger.warning("skipping %s: its content is empty", where)
            continue
        role = _label(message, "role", where) or "user"
        message_id = _optional_text(message, "id", where) or uuid.uuid4().hex[:16]
        result.append(
            Message(
                id=message_id,
                role=role,
                content=content.strip(),
                speaker=_label(message, "name", where),
                timestamp=parse_timestamp(message.get("timestamp"), f"{where} timestamp"),
            )
        )
    return result


def message_to_dict(message: Message) -> dict[str, Any]:
    """The JSON-ready form in which the short-term buffer persists a message."""
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "name": message.speaker,
        "timestamp": message.timestamp.isoformat() if message.timestamp else None,
    }


def message_from_dict(data: Mapping[str, Any]) -> Message:
    """Inverse of `message_to_dict`."""
    return Message(
        id=data["id"],
        role=data["role"],
        content=data["content"],
        speaker=data.get("name"),
        timestamp=parse_timestamp(data.get("timestamp")),
    )
