"""lightmem: a lightweight, fast memory system for LLM agents."""

from lightmem._core import __version__

__all__ = ["__version__"]
