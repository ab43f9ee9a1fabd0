"""mem0's Python API over lightmem: change `from mem0 import Memory` to `from lightmem.mem0 import Memory`.

from lightmem.mem0 import Memory
m = Memory()                                    # $LIGHTMEM_PATH or ./lightmem-data, offline by default
m.add("I am allergic to peanuts", user_id="alice", infer=False)
m.search("what is alice allergic to?", filters={"user_id": "alice"}, top_k=3)["results"]
"""

from lightmem.mem0.memory import AsyncMemory, Memory

__all__ = ["AsyncMemory", "Memory"]
