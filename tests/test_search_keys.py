"""How `Memory` keys new units for search: whole turns (plus topic context) and, optionally, unit text."""

from __future__ import annotations

import numpy as np
import pytest
from lightmem import LightMemConfig, Memory
from lightmem.messages import parse_timestamp
from lightmem.text_keys import embedding_text

TURNS = [
    {"role": "user", "name": "Ana", "id": "t1", "timestamp": "2024-05-01T10:00:00Z",
     "content": "I finally adopted a grey rescue cat from the shelter on Elm Street, her name is Miso."},
    {"role": "user", "name": "Ben", "id": "t2", "timestamp": "2024-05-01T10:01:00Z",
     "content": "That is lovely news, how is she settling in at your flat so far?"},
    {"role": "user", "name": "Ana", "id": "t3", "timestamp": "2024-05-01T10:02:00Z",
     "content": "She hides under the sofa all day but comes out at night to eat and play with string."},
]  # fmt: skip


def unit_key_oracle(embedder, turns, context_weight: float) -> dict[str, np.ndarray]:
    """Each turn's key as the config documents it, computed directly: one segment here."""
    texts = [
        embedding_text(f"{t['name']}: {t['content']}", m)
        for t, m in zip(turns, [parse_timestamp(t["timestamp"]) for t in turns])
    ]
    vectors = embedder.embed(texts)
    keys = vectors + context_weight * vectors.mean(axis=0)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    return {t["id"]: key for t, key in zip(turns, keys)}


def stored_vectors(memory: Memory) -> dict[str, np.ndarray]:
    items = memory.get_all(user_id="ana")
    vectors = memory._store.vectors([item.id for item in items])
    return {item.source[0]: vector for item, vector in zip(items, vectors)}


@pytest.mark.parametrize("context_weight", [0.0, 0.5, 2.0])
def test_offline_units_are_keyed_by_their_whole_turns_with_topic_context(tmp_path, embedder, context_weight):
    config = LightMemConfig(segment_min_turns=3, segment_context_weight=context_weight)
    with Memory(tmp_path, config, embedder=embedder, compression_ratio=0.4) as memory:
        memory.add(TURNS, user_id="ana")
        memory.flush(user_id="ana")
        stored = stored_vectors(memory)
        expected = unit_key_oracle(embedder, TURNS, context_weight)
        assert set(stored) == set(expected)
        for turn_id, vector in stored.items():
            np.testing.assert_allclose(vector, expected[turn_id], atol=1e-5)
        assert memory.stats().words_kept < memory.stats().words_in  # what is stored is pruned


def test_unit_text_weight_one_keys_units_by_their_own_text(tmp_path, embedder):
    with Memory(tmp_path, embedder=embedder, unit_text_weight=1.0, segment_context_weight=0.0) as memory:
        memory.add(TURNS, user_id="ana")
        items = memory.flush(user_id="ana")
        vectors = memory._store.vectors([item.id for item in items])
        own = embedder.embed([embedding_text(item.text, item.event_time) for item in items])
        np.testing.assert_allclose(vectors, own, atol=1e-5)


def test_a_pruned_away_word_still_finds_its_turn(tmp_path, embedder):
    with Memory(tmp_path, embedder=embedder, compression_ratio=0.3) as memory:
        memory.add(TURNS, user_id="ana")
        memory.flush(user_id="ana")
        assert memory.search("adopted a cat from the shelter", user_id="ana", limit=1)[0].source == ("t1",)


@pytest.mark.parametrize("field, value", [("segment_context_weight", -0.1), ("unit_text_weight", 1.5)])
def test_bad_key_weights_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        LightMemConfig(**{field: value})
