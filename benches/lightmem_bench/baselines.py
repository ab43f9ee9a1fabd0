"""Baselines run beside lightmem with the same embedder: full history, naive RAG over fixed windows of
turns, and per-turn extraction with online update (the way mem0 works).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import numpy as np
from lightmem.conversations import Conversation
from lightmem.embedding import Embedder
from lightmem.llm import LLM
from lightmem.prompts import (
    Decision,
    InvalidLLMOutput,
    Turn,
    build_consolidate_request,
    build_extract_request,
    consolidate_answer_format,
    extract_answer_format,
    parse_consolidate_response,
    parse_extract_response,
)
from lightmem.text_keys import embedding_text

from lightmem_bench.metrics import Hit

logger = logging.getLogger("lightmem")

NO_LLM_USAGE = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}


def turn_line(message: Mapping[str, Any]) -> str:
    """A conversation message as one line: `speaker: text`."""
    return f"{message.get('name') or message['role']}: {message['content']}"


def chunk_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Consecutive messages as a chunk: the first message's date, then one `speaker: text` line each."""
    return embedding_text("\n".join(turn_line(m) for m in messages), messages[0].get("timestamp"))


def windows(conversation: Conversation, size: Optional[int]) -> list[list[dict[str, Any]]]:
    """Non-overlapping windows of `size` consecutive turns within each session (whole sessions if None)."""
    return [
        session[start : start + (size or len(session))]
        for session in conversation.sessions
        for start in range(0, len(session), size or len(session))
    ]


def full_history_units(conversation: Conversation) -> list[Hit]:
    """The whole conversation as an agent without memory reads it: each session as a chunk under its date."""
    return [
        Hit(chunk_text(session), tuple(m["id"] for m in session)) for session in windows(conversation, None)
    ]


class VectorTable:
    """Unit vectors in a growable matrix, searched exactly (cosine = dot product), ties by row order."""

    def __init__(self, dim: int) -> None:
        self._matrix = np.zeros((64, dim), dtype=np.float32)
        self._alive = np.zeros(64, dtype=bool)
        self._size = 0

    def add(self, vectors: np.ndarray) -> list[int]:
        """Append rows; returns their row numbers."""
        needed = self._size + len(vectors)
        if needed > len(self._matrix):
            capacity = max(needed, 2 * len(self._matrix))
            self._matrix = np.resize(self._matrix, (capacity, self._matrix.shape[1]))
            self._alive = np.concatenate([self._alive, np.zeros(capacity - len(self._alive), dtype=bool)])
        rows = list(range(self._size, needed))
        self._matrix[self._size : needed] = vectors
        self._alive[self._size : needed] = True
        self._size = needed
        return rows

    def replace(self, row: int, vector: np.ndarray) -> None:
        """Overwrite one row's vector."""
        self._matrix[row] = vector

    def remove(self, row: int) -> None:
        """Drop a row from future searches."""
        self._alive[row] = False

    def top(self, query: np.ndarray, k: int) -> list[int]:
        """Rows of the `k` vectors most similar to `query`, best first."""
        scores = self._matrix[: self._size] @ query
        scores[~self._alive[: self._size]] = -np.inf
        count = min(k, int(self._alive[: self._size].sum()))
        return [int(row) for row in np.argsort(-scores, kind="stable")[:count]]


class WindowRAG:
    """Naive RAG: fixed windows of `window` turns (see `chunk_text`), embedded, cosine top-k."""

    def __init__(self, embedder: Embedder, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._embedder = embedder
        self.window = window
        self._table = VectorTable(embedder.dim)
        self._chunks: list[Hit] = []

    def ingest(self, conversation: Conversation) -> None:
        """Chunk and embed the conversation."""
        chunks = windows(conversation, self.window)
        hits = [Hit(chunk_text(chunk), tuple(m["id"] for m in chunk)) for chunk in chunks]
        self._table.add(self._embedder.embed([hit.text for hit in hits]))
        self._chunks.extend(hits)

    def search(self, query: str, limit: int) -> list[Hit]:
        """The chunks most similar to the query."""
        rows = self._table.top(self._embedder.embed([query])[0], limit)
        return [self._chunks[row] for row in rows]

    def stored_units(self) -> list[Hit]:
        """Every chunk."""
        return list(self._chunks)

    def llm_usage(self) -> dict[str, int]:
        """No LLM is used."""
        return dict(NO_LLM_USAGE)

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class _Fact:
    text: str
    source: tuple[str, ...]
    time: Optional[datetime]
    row: int = -1


class PerTurnExtraction:
    """mem0's way of writing memory: every added turn costs one extraction call, and the facts found cost
    one update-decision call (ADD / UPDATE / DELETE / NONE) against their nearest stored memories.

    Uses lightmem's own prompts: extraction of a one-turn segment, then consolidation of one cluster made
    of the new facts and the `neighbours` nearest stored memories of each ("keep" of a new fact = ADD,
    "delete" of it = NONE, "update"/"merge"/"delete" of a stored memory = UPDATE/DELETE). An updated
    memory's source gains the turn. An invalid LLM answer drops the turn's facts, as mem0 does.
    """

    def __init__(self, embedder: Embedder, llm: LLM, neighbours: int = 5) -> None:
        self._embedder = embedder
        self._llm = llm
        self.neighbours = neighbours
        self._table = VectorTable(embedder.dim)
        self._facts: dict[str, _Fact] = {}
        self._by_row: dict[int, str] = {}
        self.dropped_turns = 0

    def ingest(self, conversation: Conversation) -> None:
        """Add the conversation turn by turn."""
        for session in conversation.sessions:
            for message in session:
                self.add_turn(message)

    def add_turn(self, message: Mapping[str, Any]) -> None:
        """Extract the turn's facts and reconcile them with the stored memories."""
        turn = Turn(
            id=message["id"],
            speaker=message.get("name") or message["role"],
            time=message.get("timestamp"),
            text=message["content"],
        )
        segments = [[turn]]
        try:
            request = build_extract_request(segments)
            answer_format = extract_answer_format(segments)
            units = parse_extract_response(
                self._llm.complete(request, answer_format=answer_format).text, segments
            )
        except InvalidLLMOutput as err:
            logger.warning("per-turn extraction: turn %s dropped: %s", turn.id, err)
            self.dropped_turns += 1
            return
        if not units:
            return
        new = {f"new-{i}": _Fact(u.text, u.source, u.event_time) for i, u in enumerate(units)}
        vectors = self._embed(list(new.values()))
        rows = sorted({row for vector in vectors for row in self._table.top(vector, self.neighbours)})
        nearest = [self._by_row[row] for row in rows]  # oldest first, as the prompt says
        cluster = [(fid, self._facts[fid].text, self._facts[fid].time) for fid in nearest]
        cluster += [(fid, fact.text, fact.time) for fid, fact in new.items()]
        try:
            request = build_consolidate_request([cluster])
            answer_format = consolidate_answer_format([cluster])
            answer = self._llm.complete(request, answer_format=answer_format).text
            decisions = parse_consolidate_response(answer, [cluster])
        except InvalidLLMOutput as err:
            logger.warning("per-turn extraction: update decision for turn %s dropped: %s", turn.id, err)
            self.dropped_turns += 1
            return
        self._apply(decisions, new, dict(zip(new, vectors)), turn.id)

    def _apply(
        self, decisions: Sequence[Decision], new: dict[str, _Fact], vectors: dict[str, np.ndarray], turn: str
    ) -> None:
        """Carry out the decisions: ids `new-*` are the turn's facts, the others stored memories."""
        facts = {
            **{d.memory_id: self._facts[d.memory_id] for d in decisions if d.memory_id not in new},
            **new,
        }
        changed: set[str] = set()
        removed: set[str] = set()
        for decision in decisions:
            fact = facts[decision.memory_id]
            if decision.action in ("merge", "delete"):
                removed.add(decision.memory_id)
            target_id = decision.into if decision.action == "merge" else decision.memory_id
            if decision.action in ("update", "merge") and target_id is not None:
                target = facts[target_id]
                target.text = decision.text or target.text
                target.source = tuple(dict.fromkeys((*target.source, *fact.source, turn)))
                changed.add(target_id)
        for fid in removed - new.keys():
            fact = self._facts.pop(fid)
            self._table.remove(fact.row)
            del self._by_row[fact.row]
        changed -= removed
        for fid, fact in new.items():
            if fid not in removed and fid not in changed:
                self._store(fact, vectors[fid])
        rewritten = [facts[fid] for fid in sorted(changed)]
        for fact, vector in zip(rewritten, self._embed(rewritten) if rewritten else []):
            if fact.row < 0:
                self._store(fact, vector)
            else:
                self._table.replace(fact.row, vector)

    def _store(self, fact: _Fact, vector: np.ndarray) -> None:
        fact.row = self._table.add(vector[None, :])[0]
        fid = f"m{fact.row}"
        self._facts[fid] = fact
        self._by_row[fact.row] = fid

    def _embed(self, facts: Sequence[_Fact]) -> np.ndarray:
        return self._embedder.embed([embedding_text(f.text, f.time) for f in facts])

    def search(self, query: str, limit: int) -> list[Hit]:
        """The stored facts most similar to the query."""
        rows = self._table.top(self._embedder.embed([query])[0], limit)
        return [self._hit(self._facts[self._by_row[row]]) for row in rows]

    def stored_units(self) -> list[Hit]:
        """Every stored fact, rendered with its date."""
        return [self._hit(fact) for fact in self._facts.values()]

    @staticmethod
    def _hit(fact: _Fact) -> Hit:
        return Hit(embedding_text(fact.text, fact.time), fact.source)

    def llm_usage(self) -> dict[str, int]:
        """The LLM backend's counters."""
        return self._llm.usage.snapshot()

    def close(self) -> None:
        """Nothing to release."""
