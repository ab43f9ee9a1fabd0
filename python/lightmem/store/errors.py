"""What goes wrong in a store, whatever keeps the data."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store cannot be used: a corrupt or foreign database file, a newer schema, another vector
    dimension, a lock that never clears, or a closed store. The message names the file and the fix."""


class VersionConflict(Exception):
    """A change expected another version of a unit: it was changed meanwhile. Nothing was applied."""
