"""The sizes lightmem accepts, in one place: what `add` takes from users, and what any other way in
(`update`, `search`, `get_all`, metadata, an LLM's answer) must respect too.

A value beyond a limit is refused with a ValueError naming the argument and the limit; nothing is
silently truncated, and nothing is stored from a refused call.
"""

from __future__ import annotations

import math
from typing import Optional

MAX_MESSAGE_CHARS = 200_000
"""Longest accepted text, in characters: a message's content (and its role, name and id) in `add`,
the new text of `update`, a `search` query (and a memory text). Longer ones are an error (split them),
never silently truncated. The same rules apply to all of these (`messages.clean_text`): a string, or
UTF-8 bytes; no lone surrogate; NUL characters removed. Every string of an LLM answer (a unit's text or
topic, a decision's text or reason) is held to it too: a longer one makes the answer invalid."""

EXTRACT_UNITS_PER_TURN = 4
"""An extraction answer may hold at most this many memory units per turn of its request, plus one per
`EXTRACT_CHARS_PER_EXTRA_UNIT` characters of the turns' text (a long turn may hold many facts). More is
an invalid answer, rejected before any unit is built. Honest answers hold one or two units per turn."""

EXTRACT_CHARS_PER_EXTRA_UNIT = 100
"""See `EXTRACT_UNITS_PER_TURN`."""

EXTRACT_ANSWER_TOKENS_PER_TURN = 48
"""Token budget (`max_tokens`) of an extraction answer: 64 plus this many per turn of its request (an
honest answer holds about one unit of up to 40 words per turn), at most `MAX_ANSWER_TOKENS`. An answer
cut off at its budget keeps its complete units."""

CONSOLIDATE_ANSWER_TOKENS_PER_MEMORY = 40
"""Token budget of a consolidation answer: 32 plus this many per memory of its request (only the
memories that change are listed), at most `MAX_ANSWER_TOKENS`."""

MAX_ANSWER_TOKENS = 4096
"""Largest `max_tokens` lightmem asks for: a slow local model spends about this long on the answer."""

MAX_LLM_RESPONSE_BYTES = 16 * 1024 * 1024
"""Largest HTTP response body accepted from an LLM server; a larger one fails the attempt (and is not
read further). Far above any honest answer to lightmem's requests, whose texts are capped as above."""

DECISIONS_PER_MEMORY = 2
"""A consolidation answer may hold at most this many decisions per memory of its request (an honest one
holds at most one; decisions naming memories outside the request are dropped one by one, so a model that
adds some is not refused whole). More is an invalid answer, rejected before any decision is parsed."""

MAX_METADATA_BYTES = 64 * 1024
"""Largest accepted metadata of one `add` call, as compact JSON in UTF-8 bytes. The metadata is copied
into every memory extracted from the call's messages: 20 messages with 10 MB of metadata each made a
258 MB database. Keep large data elsewhere and a reference to it in the metadata."""

MAX_METADATA_DEPTH = 32
"""Deepest accepted nesting of dicts and lists in metadata (`add`'s, a search filter's, a stored unit's);
a flat dict has depth 1. Deeper structures made JSON encoding fail with RecursionError; within this
depth, stored metadata can always be read back."""

MAX_ID_BYTES = 2000
"""Most UTF-8 bytes of a scope's ids together with a message id, in every store: PostgreSQL's btree keys
that hold them stop at 2,704 bytes, and a longer key would fail only at the insert."""

MAX_RESULTS = 1_000_000
"""Largest `limit` of `search` and `get_all` (and `k` of the store's neighbour searches): more than any
one call should return. `get_all(limit=None)` returns every memory of the scope."""


ECHO_CHARS = 80
"""An error message repeats at most this many characters of a value it names (`quoted`)."""


def quoted(value: str) -> str:
    """`value` as an error message repeats it: its repr, cut after `ECHO_CHARS` characters with an
    ellipsis and the full length (a 404 repeated a 60,000-character memory id in full)."""
    if len(value) <= ECHO_CHARS:
        return repr(value)
    return f"{value[:ECHO_CHARS]!r}… ({len(value):,} characters)"


def check_int(value: object, name: str, low: int = 0, high: Optional[int] = None) -> int:
    """`value` itself; ValueError naming `name` unless it is an integer (a bool is not) from `low` (to
    `high`, if given)."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"from {low} to {high:,}"
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r:.40}")
    return value


def check_limit(value: object, name: str = "limit", low: int = 1) -> int:
    """`value` itself; ValueError naming `name` unless it is an integer from `low` to MAX_RESULTS."""
    return check_int(value, name, low, MAX_RESULTS)


def check_number(
    value: object,
    name: str,
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    infinite: bool = False,
) -> float:
    """`value` as a float; ValueError naming `name` and its interval unless it is a real number (a bool
    is not one, NaN never is) from `low` (excluded when `low_open`) to `high`, infinity only when
    `infinite`."""
    top = "inf]" if infinite else "inf)" if high == math.inf else f"{high:g}]"
    interval = f"{'(' if low_open else '['}{low:g}, {top}"
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not (low < number if low_open else low <= number) or not (
        number <= high and (infinite or math.isfinite(number))
    ):
        raise ValueError(f"{name} must be in {interval}, got {value!r:.40}")
    return float(number)
