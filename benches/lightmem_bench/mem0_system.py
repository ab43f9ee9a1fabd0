"""mem0 itself (the optional `mem0ai` package, never a lightmem dependency) as a benchmark system.

mem0 is pointed at lightmem's embedder through the mock server's `/v1/embeddings` (so every system
searches with the same model), at the mock server's chat endpoint offline or at the real LLM server,
and at a local Qdrant collection (qdrant-client's embedded mode) in the run's directory. Each turn is one
`add` (rendered `date: speaker: text`, like a one-turn chunk), tagged with its id for provenance. LLM calls
are counted around mem0's LLM object; tokens are estimated with `estimate_tokens`, as offline; the answers
mem0 can read (see `mem0_reads`) are counted too.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Optional

from lightmem.config import LightMemConfig
from lightmem.conversations import Conversation
from lightmem.embedding import Embedder
from lightmem.llm import Completion, UsageCounter, estimate_tokens

from lightmem_bench.baselines import chunk_text
from lightmem_bench.metrics import Hit
from lightmem_bench.mock_server import MODEL, MockLLMServer
from lightmem_bench.systems import USER_ID


def mem0_available() -> bool:
    """Whether the `mem0ai` package can be imported."""
    try:
        _import_mem0()
    except ImportError:
        return False
    return True


def _import_mem0() -> Any:
    """mem0's `Memory` class; its telemetry off and its home under the temp dir (read at import)."""
    os.environ.setdefault("MEM0_TELEMETRY", "False")
    os.environ.setdefault("MEM0_DIR", os.path.join(tempfile.gettempdir(), "lightmem-bench-mem0"))
    from mem0 import Memory  # type: ignore[import-not-found]

    return Memory


def mem0_reads(answer: object) -> bool:
    """Whether mem0 reads a list of memories from an extraction answer, parsing it as its `Memory.add`
    does: code fences removed, an empty answer is no memory, else a JSON object (or the object found
    inside prose) whose "memory" is a list."""
    from mem0.memory.utils import extract_json, remove_code_blocks  # type: ignore[import-not-found]

    text = remove_code_blocks(answer)
    if not isinstance(text, str) or not text.strip():
        return isinstance(text, str)
    for candidate in (text, extract_json(text)):
        try:
            found = json.loads(candidate, strict=False)
        except ValueError:
            continue
        return isinstance(found, dict) and isinstance(found.get("memory", []), list)
    return False


class Mem0System:
    """mem0's `Memory` with the run's embedder and LLM (see the module docstring)."""

    def __init__(self, workdir: str, embedder: Embedder, real_llm: Optional[LightMemConfig]) -> None:
        memory_class = _import_mem0()
        self._server = MockLLMServer(embedder=embedder).start()
        chat = real_llm.llm_base_url if real_llm else self._server.base_url
        llm_config = {
            "model": real_llm.llm_model if real_llm else MODEL,
            "api_key": (real_llm.llm_api_key if real_llm else None) or "not-needed",
            "openai_base_url": chat,
        }
        embedder_config = {
            "model": "lightmem-embedder",
            "api_key": "not-needed",
            "openai_base_url": self._server.base_url,
            "embedding_dims": embedder.dim,
        }
        store = {
            "collection_name": "bench",
            "path": os.path.join(workdir, "qdrant"),
            "embedding_model_dims": embedder.dim,
            "on_disk": True,
        }
        self.memory = memory_class.from_config(
            {
                "llm": {"provider": "openai", "config": llm_config},
                "embedder": {"provider": "openai", "config": embedder_config},
                "vector_store": {"provider": "qdrant", "config": store},
                "history_db_path": os.path.join(workdir, "history.db"),
            }
        )
        self.usage = UsageCounter()
        self.answers_read = 0
        """LLM answers from which mem0 read a list of memories (possibly empty)."""
        self._count_llm_calls()

    def _count_llm_calls(self) -> None:
        llm = self.memory.llm
        generate = llm.generate_response

        def counted(messages: list[dict[str, str]], *args: Any, **kwargs: Any) -> Any:
            answer = generate(messages, *args, **kwargs)
            prompt = estimate_tokens(*(str(m.get("content", "")) for m in messages))
            self.usage.add(Completion(str(answer), prompt, estimate_tokens(str(answer))))
            self.answers_read += mem0_reads(answer)
            return answer

        llm.generate_response = counted

    def ingest(self, conversation: Conversation) -> None:
        """One mem0 `add` per turn."""
        for session in conversation.sessions:
            for message in session:
                turn = [{"role": "user", "content": chunk_text([message])}]
                self.memory.add(turn, user_id=USER_ID, metadata={"source": message["id"]})

    def _hit(self, result: dict[str, Any]) -> Hit:
        source = (result.get("metadata") or {}).get("source")
        return Hit(result["memory"], (source,) if source else ())

    def search(self, query: str, limit: int) -> list[Hit]:
        """mem0's search (no score threshold, no reranker)."""
        found = self.memory.search(query, filters={"user_id": USER_ID}, top_k=limit, threshold=0.0)
        return [self._hit(result) for result in found["results"]]

    def stored_units(self) -> list[Hit]:
        """Every stored memory."""
        found = self.memory.get_all(filters={"user_id": USER_ID}, top_k=1_000_000)
        return [self._hit(result) for result in found["results"]]

    def llm_usage(self) -> dict[str, int]:
        """mem0's LLM calls and estimated tokens."""
        return self.usage.snapshot()

    def close(self) -> None:
        """Close mem0 and stop the embedding server."""
        self.memory.close()
        self._server.stop()
