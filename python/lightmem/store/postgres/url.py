"""PostgreSQL connection URLs: telling one from a directory, and writing one without its password."""

from __future__ import annotations

import os
import re
from typing import Union
from urllib.parse import quote, urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")
"""The URL prefixes that open a PostgreSQL store instead of a directory."""

_PASSWORD_PARAMETER = re.compile(r"(?i)(password=)[^&]*")


def is_postgres_url(location: Union[str, os.PathLike[str]]) -> bool:
    """Whether `location` is a PostgreSQL URL (postgresql://... or postgres://...) rather than a path."""
    return isinstance(location, str) and location.strip().lower().startswith(SCHEMES)


def masked_url(url: str) -> str:
    """`url` with its password (in the user part or as a `password=` parameter) replaced by `***`, for
    messages and logs: credentials never leave the connection."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            user, _, host = netloc.rpartition("@")
            if ":" in user:
                user = user.split(":", 1)[0] + ":***"
            netloc = f"{user}@{host}"
        query = _PASSWORD_PARAMETER.sub(r"\1***", parts.query)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # not parseable: show the scheme only
        return url.split("://", 1)[0] + "://***"


def schema_url(url: str, schema: str) -> str:
    """`url` with the schema `schema` first on its search path (then `public`, where pgvector's extension
    usually is): a store opened on it keeps its tables there, apart from the database's other stores."""
    parts = urlsplit(url)
    option = "options=" + quote(f"-c search_path={schema},public")
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
