"""Shared fixtures: one real ONNX embedder for the whole session, the tiny hashing embedder, an
OpenAI-compatible server on loopback whose answers can be scripted to fail, and the store kinds
(`stores.STORE_KINDS`) the behavioural tests run against. The fakes themselves are in fakes.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import HashEmbedder, LLMServer
from lightmem.embedding import OnnxEmbedder
from pg_server import PostgresServer, shared_server
from stores import STORE_KINDS, StoreKind


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    """The real embedder (all-MiniLM-L6-v2 int8), loaded once and shared by every test."""
    model = OnnxEmbedder()
    assert model.dim == 384
    return model


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    """A deterministic 32-d embedder for the tests of scoping and storage, where semantics do not matter."""
    return HashEmbedder()


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A running `LLMServer` on 127.0.0.1."""
    with LLMServer() as server:
        yield server


@pytest.fixture(scope="session", params=STORE_KINDS, ids=[kind.name for kind in STORE_KINDS])
def store_kind(request: pytest.FixtureRequest) -> StoreKind:
    """Each implementation of `MemoryStore` in turn (skipped with its reason where it cannot start)."""
    kind: StoreKind = request.param
    reason = kind.unavailable()
    if reason is not None:
        pytest.skip(f"{kind.name} store: {reason}")
    return kind


@pytest.fixture
def store_location(store_kind: StoreKind, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty location of a store of `store_kind`, for `open_store` and `Memory`."""
    with store_kind.location(tmp_path) as location:
        yield location


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The session's real PostgreSQL with pgvector (`pg_server.shared_server`, also behind the postgres
    store kind); skips, saying why, where none can start."""
    server, reason = shared_server()
    if server is None:
        pytest.skip(reason)
    return server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty store location on `postgres_server` (a schema of its own, dropped after)."""
    url = postgres_server.fresh_url()
    yield url
    postgres_server.drop(url)
