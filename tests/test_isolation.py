"""Scope isolation: random sequences of every verb, checked against a plain model of what each scope sees.

A query scope sees the units whose ids equal its non-None ids (a None id matches any value, as in
mem0). No verb may return, update, delete or show the history of a unit outside the scope it is given.
The embedder is the tiny hashing one: this is about scoping, not semantics.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Optional

import pytest
from fakes import HashEmbedder
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from lightmem.memory import Memory
from lightmem.types import MemoryItem, MemoryNotFoundError
from stores import StoreKind

Ids = tuple[Optional[str], Optional[str], Optional[str]]
SCOPES: list[Ids] = [
    s for s in product((None, "alice", "bob"), (None, "a1", "a2"), (None, "r1")) if s != (None, None, None)
]
WORDS = "cat dog Paris Lyon marathon ramen violin garden train snow beach coffee".split()

scopes = st.sampled_from(SCOPES)
texts = st.lists(st.sampled_from(WORDS), min_size=2, max_size=8).map(" ".join)
tags = st.sampled_from(("x", "y"))


def kwargs(scope: Ids) -> dict[str, Any]:
    return dict(zip(("user_id", "agent_id", "run_id"), scope))


def covers(query: Ids, exact: Ids) -> bool:
    return all(q is None or q == e for q, e in zip(query, exact))


@dataclass
class Unit:
    """What the model knows of a unit."""

    scope: Ids
    text: str
    tag: str
    events: list[str] = field(default_factory=lambda: ["ADD"])
    live: bool = True


class ScopedMemory(RuleBasedStateMachine):
    """Operations with random scopes on one memory, and the model of which units each scope sees."""

    ids = Bundle("ids")

    def __init__(self, kind: StoreKind) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="lightmem-isolation-")
        self.cleanup = ExitStack()
        location = self.cleanup.enter_context(kind.location(Path(self.directory)))
        self.memory = Memory(location, embedder=HashEmbedder(), buffer_token_threshold=1)
        self.units: dict[str, Unit] = {}

    def teardown(self) -> None:
        self.memory.close()
        self.cleanup.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def visible(self, query: Ids, tag: Optional[str] = None) -> set[str]:
        return {
            i
            for i, u in self.units.items()
            if u.live and covers(query, u.scope) and (tag is None or u.tag == tag)
        }

    def check_item(self, item: MemoryItem) -> None:
        unit = self.units[item.id]
        assert (item.user_id, item.agent_id, item.run_id) == unit.scope
        assert item.text == unit.text

    @rule(target=ids, scope=scopes, text=texts, tag=tags)
    def add(self, scope: Ids, text: str, tag: str) -> str:
        (item,) = self.memory.add(text, metadata={"tag": tag}, **kwargs(scope))
        assert (item.user_id, item.agent_id, item.run_id) == scope
        self.units[item.id] = Unit(scope, item.text, tag)
        return item.id

    @rule(memory_id=ids | st.just("no-such-id"), query=st.none() | scopes)
    def get(self, memory_id: str, query: Optional[Ids]) -> None:
        item = self.memory.get(memory_id, **kwargs(query or (None, None, None)))
        unit = self.units.get(memory_id)
        expected = unit is not None and unit.live and (query is None or covers(query, unit.scope))
        assert (item is not None) == expected
        if item is not None:
            self.check_item(item)

    @rule(query=scopes, text=texts, tag=st.none() | tags)
    def search(self, query: Ids, text: str, tag: Optional[str]) -> None:
        filters = None if tag is None else {"metadata": {"tag": tag}}
        found = self.memory.search(text, limit=1000, filters=filters, **kwargs(query))
        assert {item.id for item in found} == self.visible(query, tag)
        for item in found:
            self.check_item(item)

    @rule(query=scopes, limit=st.integers(1, 3))
    def search_limited(self, query: Ids, limit: int) -> None:
        found = self.memory.search("cat dog", limit=limit, **kwargs(query))
        visible = self.visible(query)
        assert len(found) == min(limit, len(visible)) and {item.id for item in found} <= visible

    @rule(query=scopes)
    def get_all(self, query: Ids) -> None:
        found = self.memory.get_all(**kwargs(query))
        assert {item.id for item in found} == self.visible(query)
        for item in found:
            self.check_item(item)

    @rule(memory_id=ids, query=st.none() | scopes, text=texts)
    def update(self, memory_id: str, query: Optional[Ids], text: str) -> None:
        unit = self.units[memory_id]
        if unit.live and (query is None or covers(query, unit.scope)):
            item = self.memory.update(memory_id, text, **kwargs(query or (None, None, None)))
            unit.text = text
            unit.events.append("UPDATE")
            self.check_item(item)
        else:
            with pytest.raises(KeyError):
                self.memory.update(memory_id, text, **kwargs(query or (None, None, None)))

    @rule(memory_id=ids, query=st.none() | scopes)
    def delete(self, memory_id: str, query: Optional[Ids]) -> None:
        unit = self.units[memory_id]
        if unit.live and (query is None or covers(query, unit.scope)):
            self.memory.delete(memory_id, **kwargs(query or (None, None, None)))
            unit.live = False
            unit.events.append("DELETE")
        else:
            with pytest.raises(KeyError):
                self.memory.delete(memory_id, **kwargs(query or (None, None, None)))

    @precondition(lambda self: len(self.units) >= 4)  # else it wipes the memory too often
    @rule(query=scopes)
    def delete_all(self, query: Ids) -> None:
        doomed = self.visible(query)
        assert self.memory.delete_all(**kwargs(query)) == len(doomed)
        for memory_id in doomed:
            self.units[memory_id].live = False
            self.units[memory_id].events.append("DELETE")

    @rule(memory_id=ids | st.just("no-such-id"), query=st.none() | scopes)
    def history(self, memory_id: str, query: Optional[Ids]) -> None:
        unit = self.units.get(memory_id)
        if unit is None or (query is not None and not covers(query, unit.scope)):
            with pytest.raises(MemoryNotFoundError):
                self.memory.history(memory_id, **kwargs(query or (None, None, None)))
        else:
            entries = self.memory.history(memory_id, **kwargs(query or (None, None, None)))
            assert [entry.event for entry in entries] == unit.events

    @invariant()
    def counts_agree(self) -> None:
        assert self.memory.stats().memories == sum(u.live for u in self.units.values())
        assert self.memory.stats().pending_messages == 0


def test_no_verb_crosses_a_scope(store_kind: StoreKind) -> None:
    run_state_machine_as_test(
        lambda: ScopedMemory(store_kind),
        settings=settings(
            max_examples=30,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
