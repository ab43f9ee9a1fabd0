"""lightmem: a lightweight, fast memory system for LLM agents.

from lightmem import Memory
with Memory(path="./memdir") as memory:
    memory.add([{"role": "user", "content": "I moved to Berlin last week."}], user_id="alice")
    memory.flush(user_id="alice")
    hits = memory.search("where does alice live?", user_id="alice")
"""

from lightmem._core import __version__
from lightmem.config import LightMemConfig
from lightmem.memory import AsyncMemory, Memory, MemoryStats
from lightmem.sleep import ConsolidationReport
from lightmem.types import HistoryEntry, MemoryItem, MemoryNotFoundError, Scope

__all__ = [
    "AsyncMemory",
    "ConsolidationReport",
    "HistoryEntry",
    "LightMemConfig",
    "Memory",
    "MemoryItem",
    "MemoryNotFoundError",
    "MemoryStats",
    "Scope",
    "__version__",
]
