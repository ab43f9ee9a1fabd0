"""`LightMemConfig` refuses a bad setting when it is made, naming it: before, a float, bool, zero or NaN
setting was taken and failed (or silently misbehaved) only at the first flush, search or consolidation
that used it, every time."""

from __future__ import annotations

import math

import pytest
from fakes import HashEmbedder
from lightmem import LightMemConfig, Memory

BAD_SETTINGS = [
    ("compression_ratio", "0.5", r"compression_ratio must be in \(0, 1\], got '0.5'"),
    ("buffer_token_threshold", True, "buffer_token_threshold must be an integer >= 1, got True"),
    ("buffer_token_threshold", 2.5, "buffer_token_threshold must be an integer >= 1, got 2.5"),
    ("segment_max_turns", 2.5, "segment_max_turns must be an integer >= 2, got 2.5"),
    ("extraction_batch_segments", 0, "extraction_batch_segments must be an integer >= 1, got 0"),
    ("embedding_batch_size", 0, "embedding_batch_size must be an integer >= 1, got 0"),
    ("consolidate_neighbors", 0, "consolidate_neighbors must be an integer >= 1, got 0"),
    ("llm_max_retries", -1, "llm_max_retries must be an integer >= 0, got -1"),
    ("llm_timeout_s", 0, r"llm_timeout_s must be in \(0, inf\), got 0"),
    ("llm_timeout_s", math.nan, r"llm_timeout_s must be in \(0, inf\), got nan"),
    ("llm_retry_timeouts", "no", "llm_retry_timeouts must be True or False, got 'no'"),
    ("consolidate_idle_s", -5, r"consolidate_idle_s must be in \[0, inf\), got -5"),
    ("segment_time_gap_hours", -1, r"segment_time_gap_hours must be in \[0, inf\], got -1"),
    ("segment_threshold", math.nan, r"segment_threshold must be in \(-inf, inf\), got nan"),
    ("segment_context_weight", math.nan, r"segment_context_weight must be in \[0, inf\), got nan"),
    ("keyword_weight", math.inf, r"keyword_weight must be in \[0, inf\), got inf"),
    ("conflict_similarity", 0.99, r"conflict_similarity must be in \(0, 0.95\], got 0.99"),
    ("llm_model", 7, "llm_model must be a string or None, got int"),
]


@pytest.mark.parametrize("field, value, said", BAD_SETTINGS)
def test_a_bad_setting_is_refused_when_the_config_is_made(field: str, value: object, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        LightMemConfig(**{field: value})  # type: ignore[arg-type]


def test_a_bad_setting_stores_nothing(tmp_path) -> None:
    with pytest.raises(ValueError, match="extraction_batch_segments"):
        Memory(tmp_path / "m", embedder=HashEmbedder(), extraction_batch_segments=0)
    assert not (tmp_path / "m").exists()


def test_the_defaults_and_the_edges_of_each_range_are_accepted() -> None:
    LightMemConfig()
    LightMemConfig(
        compression_ratio=1,
        segment_min_turns=3,
        segment_max_turns=3,
        segment_threshold=-2.0,
        segment_time_gap_hours=math.inf,
        consolidate_idle_s=0,
        keyword_weight=0,
        unit_text_weight=1,
        conflict_similarity=0.95,
        duplicate_similarity=0.95,
        llm_max_retries=0,
    )


def test_a_server_url_is_never_silently_ignored(tmp_path, llm_server, monkeypatch) -> None:
    """`Memory(path, llm_base_url=..., llm_model=...)` stayed offline without a word: the memories were
    the turns' own words, and the server was never called."""
    options = {"llm_base_url": llm_server.base_url, "llm_model": "m", "buffer_token_threshold": 100_000}
    with Memory(tmp_path / "m", embedder=HashEmbedder(), **options) as memory:
        assert memory.config.llm == "openai"
        memory.add("I adopted a cat named Miso last spring.", user_id="u")
        memory.flush()
    assert len(llm_server.requests) == 1
    with pytest.raises(ValueError, match="llm_base_url is set but llm is 'offline'"):
        LightMemConfig(llm_base_url=llm_server.base_url)
    monkeypatch.setenv("LIGHTMEM_LLM_BASE_URL", llm_server.base_url)
    assert LightMemConfig.from_env().llm == "openai"
    offline = LightMemConfig.from_env(llm="offline")  # offline on purpose: the variable is not used
    assert (offline.llm, offline.llm_base_url) == ("offline", None)


def test_a_misspelled_or_empty_llm_variable_is_told_not_silently_offline(monkeypatch, caplog) -> None:
    """LIGHTMEM_LLM_BASEURL (or LIGHTMEM_LLM_BASE_URL set empty, from an unset shell variable) left the
    LLM offline without a word: every memory was the turns' own words."""
    monkeypatch.setattr("lightmem.config._warned", set())
    monkeypatch.setenv("LIGHTMEM_LLM_BASEURL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("LIGHTMEM_LLM_BASE_URL", "")
    monkeypatch.setenv("LIGHTMEM_LLM_VENV", "/opt/venv")  # a script's own variable: not a typo
    with caplog.at_level("WARNING", logger="lightmem"):
        assert LightMemConfig.from_env().llm == "offline"
        LightMemConfig.from_env()  # told once per name
    said = [record.getMessage() for record in caplog.records]
    assert said == [
        "the environment variable LIGHTMEM_LLM_BASEURL is not read by lightmem: did you mean "
        "LIGHTMEM_LLM_BASE_URL?",
        "LIGHTMEM_LLM_BASE_URL is set but empty: the LLM stays offline",
    ]


@pytest.mark.parametrize(
    "path, options, said",
    [
        (5, {}, "path must be a directory or a postgresql:// URL .* got int 5"),
        (None, {}, "path must be .* got NoneType"),
        (b"/tmp/m", {}, "path must be .* got bytes"),
        (LightMemConfig(), {}, "pass a LightMemConfig as config="),
        ("m\x00x", {}, "path must not hold a NUL character"),
        ("m", {"config": {"compression_ratio": 0.5}}, "config must be a LightMemConfig, got dict"),
        ("m", {"embedder": 5}, "embedder must have a dim and an embed method, got int"),
        ("m", {"llm": 5}, "llm must be 'offline', 'openai' or an object with a complete method, got 5"),
    ],
)
def test_a_wrong_argument_of_memory_is_a_value_error_naming_it(
    tmp_path, monkeypatch, path: object, options: dict[str, object], said: str
) -> None:
    """`Memory(5)` was a TypeError of os.fspath naming no argument, a dict config 'replace() should be
    called on dataclass instances', an embedder=5 an AttributeError; llm=5 was taken, to fail at the
    first flush. Nothing is made on disk."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=said):
        Memory(path, **{"embedder": HashEmbedder(), **options})  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
