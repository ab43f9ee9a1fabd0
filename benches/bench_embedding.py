"""Embedding throughput of `OnnxEmbedder` (texts/s) for short (10-word) and turn-length (30-word) texts at
batch sizes 16, 32, 64 and 128.

    python benches/bench_embedding.py          # prints the median throughput of each case
    python -m pytest benches/bench_embedding.py  # the same cases under pytest-benchmark
"""

from __future__ import annotations

import random
import statistics
import time

import pytest
from kernel_cases import VOCABULARY
from lightmem.embedding import OnnxEmbedder
from pytest_benchmark.fixture import BenchmarkFixture

TEXTS_PER_CASE = 256
WORD_COUNTS = (10, 30)
BATCH_SIZES = (16, 32, 64, 128)


def make_texts(count: int, words: int, seed: int = 0) -> list[str]:
    """`count` deterministic pseudo-sentences of exactly `words` words each."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCABULARY) for _ in range(words)).capitalize() + "." for _ in range(count)]


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("words", WORD_COUNTS)
def test_embed_throughput(benchmark: BenchmarkFixture, words: int, batch_size: int) -> None:
    embedder = OnnxEmbedder(batch_size=batch_size)
    texts = make_texts(TEXTS_PER_CASE, words)
    embedder.embed(texts[:batch_size])  # load the model and warm up outside the measurement
    vectors = benchmark(embedder.embed, texts)
    assert vectors.shape == (TEXTS_PER_CASE, embedder.dim)


def main(repeats: int = 3) -> None:
    """Print the median throughput of every case over `repeats` runs."""
    print(f"{'words':>5} {'batch':>5} {'texts/s':>9}   ({TEXTS_PER_CASE} texts, median of {repeats} runs)")
    for words in WORD_COUNTS:
        texts = make_texts(TEXTS_PER_CASE, words)
        for batch_size in BATCH_SIZES:
            embedder = OnnxEmbedder(batch_size=batch_size)
            embedder.embed(texts[:batch_size])
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                embedder.embed(texts)
                seconds.append(time.perf_counter() - start)
            print(f"{words:>5} {batch_size:>5} {TEXTS_PER_CASE / statistics.median(seconds):>9.0f}")


if __name__ == "__main__":
    main()
