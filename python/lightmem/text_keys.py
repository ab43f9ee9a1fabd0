"""The strings lightmem embeds and indexes for turns and units: one home, so that a turn is keyed the
same way whether it waits in the short-term buffer, is segmented at a flush or is read back by search;
and `text_hash`, the key under which two texts are the same."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import datetime

from lightmem.types import Message


def embedding_text(text: str, when: datetime | None) -> str:
    """The string embedded for a turn or a unit: its text, prefixed with its date when known."""
    return f"{when:%d %B %Y}: {text}" if when is not None else text


def message_line(message: Message) -> str:
    """A whole (uncompressed) message as a line of conversation: `speaker: text`."""
    return f"{message.speaker or message.role}: {message.content}"


def turn_key_text(message: Message) -> str:
    """The string embedded for a whole turn: its line, prefixed with its date when known."""
    return embedding_text(message_line(message), message.timestamp)


def text_hash(text: str) -> str:
    """sha256 of the text after NFKC normalisation, case folding and whitespace collapsing: equal for
    texts that differ only in case, Unicode compatibility forms or spacing (stored with each unit;
    consolidation takes such units for exact duplicates)."""
    normal = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()
