"""The sizes lightmem accepts, in one place: what `add` takes from users, and what any other way in
(`update`, `search`, metadata, an LLM's answer) must respect too."""

MAX_MESSAGE_CHARS = 200_000
"""Longest accepted message (and memory text). Longer ones are an error (split them), never silently
truncated. Every string of an LLM answer (a unit's text or topic, a decision's text or reason) is held to
it too: a longer one makes the answer invalid."""

EXTRACT_UNITS_PER_TURN = 4
"""An extraction answer may hold at most this many memory units per turn of its request, plus one per
`EXTRACT_CHARS_PER_EXTRA_UNIT` characters of the turns' text (a long turn may hold many facts). More is
an invalid answer, rejected before any unit is built. Honest answers hold one or two units per turn."""

EXTRACT_CHARS_PER_EXTRA_UNIT = 100
"""See `EXTRACT_UNITS_PER_TURN`."""

MAX_LLM_RESPONSE_BYTES = 16 * 1024 * 1024
"""Largest HTTP response body accepted from an LLM server; a larger one fails the attempt (and is not
read further). Far above any honest answer to lightmem's requests, whose texts are capped as above."""

DECISIONS_PER_MEMORY = 2
"""A consolidation answer may hold at most this many decisions per memory of its request (an honest one
holds at most one; decisions naming memories outside the request are dropped one by one, so a model that
adds some is not refused whole). More is an invalid answer, rejected before any decision is parsed."""
