"""Answers of a real small model, replayed: SmolLM2-135M-Instruct (Q4 GGUF) served by llama.cpp on the
first 50 turns of a LoCoMo conversation, recorded by ``benches/real_llm.py --record tests/fixtures/smollm2``
(see scripts/real_llm.sh). They hold what small models write: missing fields, prose around the JSON,
answers cut off at their token budget. The default suite replays them through the scripted server, so no
test needs the model or its compiled server."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import HashEmbedder, LLMServer, Reply
from lightmem.config import LightMemConfig
from lightmem.embedding import OnnxEmbedder
from lightmem.limits import MAX_MESSAGE_CHARS
from lightmem.memory import Memory
from lightmem.prompts import (
    InvalidLLMOutput,
    Turn,
    parse_consolidate_prompt,
    parse_extract_prompt,
    read_consolidate_answer,
    read_extract_answer,
)
from lightmem.sleep import consolidate
from lightmem.store import SQLiteStore
from lightmem.types import ExtractedUnit, Scope

FIXTURES = Path(__file__).parent / "fixtures" / "smollm2"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def calls(name: str, kind: str) -> list[dict[str, Any]]:
    return [call for call in fixture(name)["calls"] if call["kind"].startswith(kind)]


def turns_of(prompt: str) -> list[list[Turn]]:
    """The turns of a recorded extraction request (its first user message), numbered as ids."""
    segments = parse_extract_prompt(prompt.split("\n\n")[0])
    number = iter(range(1, 10_000))
    return [
        [Turn(str(next(number)), speaker, None, text) for speaker, text in segment] for segment in segments
    ]


@pytest.mark.parametrize("name", ["lightmem_50", "per-turn_20"])
def test_every_recorded_extraction_answer_is_read_without_surprise(name: str) -> None:
    used = 0
    answers = calls(name, "extract")
    for call in answers:
        segments = turns_of(call["prompt"])
        ids = {turn.id for segment in segments for turn in segment}
        try:
            answer = read_extract_answer(call["answer"], segments)
        except InvalidLLMOutput:
            continue
        used += bool(answer.units)
        for unit in answer.units:
            assert unit.source and set(unit.source) <= ids
            assert 0 < len(unit.text) <= MAX_MESSAGE_CHARS and unit.text == unit.text.strip()
    assert answers and used > 0


def test_every_recorded_consolidation_answer_touches_only_its_request() -> None:
    for call in calls("per-turn_20", "consolidate"):
        clusters = parse_consolidate_prompt(call["prompt"])
        members = [[(f"m{number}", text, None) for number, text in cluster] for cluster in clusters]
        try:
            answer = read_consolidate_answer(call["answer"], members)
        except InvalidLLMOutput:
            continue
        assert [d.memory_id for d in answer.decisions] == [m[0] for c in members for m in c]
        assert all(d.into is None or d.into in {m[0] for c in members for m in c} for d in answer.decisions)


def test_no_recorded_rewrite_of_a_memory_into_other_words_is_applied() -> None:
    """SmolLM2's consolidation of a whole conversation (419 turns) rewrote 7 memories and merged 2 into
    text they never said ("went hiking last week and got into a bad spot with some people" became "I'm
    so glad to have you in my life. You are a great person.", read by hand: benches/README.md); every
    such decision is dropped and the memory kept."""
    rewrites = 0
    for call in calls("consolidate_419", "consolidate"):
        clusters = parse_consolidate_prompt(call["prompt"].split("\n\n")[0])
        members = [[(f"m{number}", text, None) for number, text in cluster] for cluster in clusters]
        try:
            answer = read_consolidate_answer(call["answer"], members)
        except InvalidLLMOutput:
            continue
        assert [d.action for d in answer.decisions if d.action in ("update", "merge")] == []
        rewrites += sum("keeps what the memory says" in problem for problem in answer.problems)
    assert rewrites == 9


def test_lightmem_stores_the_recorded_answers_and_loses_no_turn(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    recorded = fixture("lightmem_50")
    replies = [
        Reply(
            content=call["answer"],
            finish_reason=call["finish_reason"],
            usage={"prompt_tokens": call["prompt_tokens"], "completion_tokens": call["completion_tokens"]},
        )
        for call in recorded["calls"]
    ]
    with LLMServer() as server:
        server.script(*replies)
        client = server.client(timeout_s=10.0)  # inline: the answers were recorded in the order its adds ask
        with Memory(tmp_path / "memory", embedder=embedder, llm=client, extraction="inline") as memory:
            for session in recorded["sessions"]:
                memory.add(session, user_id="u")
            memory.flush(user_id="u")
            stats = memory.stats(user_id="u")
            items = memory.get_all(user_id="u")
    assert stats.pending_messages == 0 and stats.llm_calls == len(recorded["calls"])
    assert stats.prompt_tokens == sum(call["prompt_tokens"] for call in recorded["calls"])
    speakers = {m["id"]: m["name"] for session in recorded["sessions"] for m in session}
    model_units = [
        i for i in items if not (len(i.source) == 1 and i.text.startswith(speakers[i.source[0]] + ": "))
    ]
    assert model_units, "no unit of the model's was stored"
    assert len(items) - len(model_units) >= stats.fallback_units  # a model may copy a turn too


_DATED_LINE = re.compile(r"\d+\. \[(\d{4}-\d{2}-\d{2})\] ")


def recorded_clusters(name: str) -> list[list[tuple[datetime, str]]]:
    """The clusters of a fixture's first consolidation requests (not the retries, which repeat them),
    in request order: each member's date, as the prompt shows it, and text."""
    clusters = []
    for call in calls(name, "consolidate"):
        if call["kind"] != "consolidate":
            continue
        members = iter(line for line in call["prompt"].split("\n") if not line.startswith("Cluster "))
        for cluster in parse_consolidate_prompt(call["prompt"]):
            clusters.append([(_date_of(next(members)), text) for _, text in cluster])
    return clusters


def _date_of(line: str) -> datetime:
    dated = _DATED_LINE.match(line)
    assert dated is not None, line
    return datetime.fromisoformat(dated.group(1)).replace(tzinfo=timezone.utc)


class ReplayServer(LLMServer):
    """Answers each consolidation request as the model did in `recorded` (the same request, or the same
    retry; a retry the fixture lacks gets the request's first answer again: the rules that refuse these
    answers came after the recording, which had one retry)."""

    def __init__(self, recorded: Sequence[dict[str, Any]]) -> None:
        super().__init__()
        self.answers = {(call["kind"], call["prompt"].split("\n\n")[0]): call for call in recorded}

    def _next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
        messages = request["json"]["messages"]
        asked = messages[1]["content"]
        call = self.answers.get(("consolidate-retry" if len(messages) > 2 else "consolidate", asked))
        call = call or self.answers[("consolidate", asked)]
        usage = {"prompt_tokens": call["prompt_tokens"], "completion_tokens": call["completion_tokens"]}
        return Reply(content=call["answer"], finish_reason=call["finish_reason"], usage=usage)


def test_recorded_unusable_consolidation_answers_are_paid_for_once(tmp_path: Path) -> None:
    """SmolLM2's consolidation of a whole conversation (90 clusters of 388 units in 12 requests),
    replayed: the memories are stored again with vectors that give the recorded clusters back, so each
    request is the recorded one and gets the model's answer. Its batches with nothing usable twice were
    deferred, and every later pass asked them again at the same cost; now they are kept as they are and
    the next pass costs nothing."""
    clusters = recorded_clusters("consolidate_419")
    rng = np.random.default_rng(7)
    dim = 64
    centres = rng.standard_normal((len(clusters), dim))
    scope = Scope(user_id="u")
    with SQLiteStore(tmp_path / "memory", dim=dim) as store:
        for centre, cluster in zip(centres, clusters):
            for when, text in cluster:  # one unit a transaction: the recorded order within a cluster
                noise = rng.standard_normal(dim)
                vector = centre / np.linalg.norm(centre) + 0.3 * noise / np.linalg.norm(noise)
                store.add(
                    scope,
                    [ExtractedUnit(text, source=(), event_time=when)],
                    vector[None, :].astype(np.float32),
                )
        before = [(item.id, item.text) for item in store.get_all(scope)]
        with ReplayServer(fixture("consolidate_419")["calls"]) as server:
            first = consolidate(store, server.client(), HashEmbedder(dim), LightMemConfig())
            second = consolidate(store, server.client(), HashEmbedder(dim), LightMemConfig())
        after = [(item.id, item.text) for item in store.get_all(scope)]
        assert store.unconsolidated(scope) == []
    assert (first.clusters_found, first.llm_calls, first.llm_retries) == (90, 19, 7)
    assert (first.clusters_unjudged, first.updated, first.merged, first.deleted) == (56, 0, 0, 0)
    assert (second.units_examined, second.llm_calls, second.prompt_tokens) == (0, 0, 0)
    assert after == before and len(server.requests) == 19
