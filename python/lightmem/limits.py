"""The sizes lightmem accepts, in one place: what `add` takes from users, and what any other way in
(`update`, `search`, metadata, an LLM's answer) must respect too."""

MAX_MESSAGE_CHARS = 200_000
"""Longest accepted message (and memory text). Longer ones are an error (split them), never silently
truncated."""
