"""mem0's configuration dict, mapped to lightmem's settings where lightmem has them.

lightmem embeds with its own packaged model and stores in its own directory, so mem0's vector store,
embedder, graph store, reranker and history database settings have nothing to configure: they are
ignored, with one warning naming them. The `llm` block is mapped when its provider speaks the OpenAI
chat-completions protocol; any other provider is refused, since ignoring it would change what the
memory does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

logger = logging.getLogger("lightmem")

_IGNORED_BLOCKS = (
    "vector_store",
    "embedder",
    "graph_store",
    "reranker",
    "history_db_path",
    "custom_instructions",
    "custom_fact_extraction_prompt",
    "custom_update_memory_prompt",
)
_ACCEPTED = ("llm", "version", *_IGNORED_BLOCKS)


@dataclass(frozen=True)
class _Provider:
    url_key: str  # the provider's base-URL setting in mem0's llm config
    url_env: Optional[str]  # the environment variable mem0 reads for it
    default_url: str  # of the server's OpenAI-compatible API
    default_model: str  # mem0's default model for the provider
    key_env: Optional[str]  # the environment variable holding its API key


_PROVIDERS = {
    "openai": _Provider(
        "openai_base_url", "OPENAI_BASE_URL", "https://api.openai.com/v1", "gpt-5-mini", "OPENAI_API_KEY"
    ),
    "ollama": _Provider("ollama_base_url", None, "http://localhost:11434", "llama3.1:70b", None),
    "vllm": _Provider(
        "vllm_base_url",
        "VLLM_BASE_URL",
        "http://localhost:8000/v1",
        "Qwen/Qwen2.5-32B-Instruct",
        "VLLM_API_KEY",
    ),
    "lmstudio": _Provider(
        "lmstudio_base_url",
        None,
        "http://localhost:1234/v1",
        "lmstudio-community/Meta-Llama-3.1-70B-Instruct-GGUF/Meta-Llama-3.1-70B-Instruct-IQ2_M.gguf",
        None,
    ),
}


def settings_from_config(config: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """`LightMemConfig` overrides for a mem0 config dict (None: none); logs one warning naming the
    settings it ignores. ValueError for keys mem0 does not have and for non-OpenAI-compatible LLMs."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ValueError(
            f"config must be a dict (mem0's MemoryConfig as a dict), got {type(config).__name__}"
        )
    unknown = sorted(str(key) for key in config if key not in _ACCEPTED)
    if unknown:
        raise ValueError(
            f"unknown mem0 config key(s) {', '.join(unknown)}: the keys are {', '.join(_ACCEPTED)}"
        )
    ignored = [key for key in _IGNORED_BLOCKS if config.get(key) is not None]
    settings: dict[str, Any] = {}
    if config.get("llm") is not None:
        settings, ignored_llm = _llm_settings(config["llm"])
        ignored += ignored_llm
    if ignored:
        logger.warning(
            "lightmem ignores these mem0 settings (it embeds and stores by itself): %s", ", ".join(ignored)
        )
    return settings


def _llm_settings(block: object) -> tuple[dict[str, Any], list[str]]:
    """(overrides, ignored setting names) for mem0's `llm` block."""
    if not isinstance(block, Mapping) or not isinstance(block.get("provider", "openai"), str):
        raise ValueError(
            f"config['llm'] must be a dict with a 'provider' and a 'config' dict, got {block!r:.80}"
        )
    name = block.get("provider", "openai")
    provider = _PROVIDERS.get(name)
    if provider is None:
        raise ValueError(
            f"llm provider {name!r} is not supported: lightmem speaks the OpenAI chat-completions "
            f"protocol, with the providers {', '.join(_PROVIDERS)} (any compatible server: 'openai' "
            "with its openai_base_url)"
        )
    options = block.get("config") or {}
    if not isinstance(options, Mapping):
        raise ValueError(f"config['llm']['config'] must be a dict, got {options!r:.80}")
    url = options.get(provider.url_key) or (provider.url_env and os.environ.get(provider.url_env))
    url = url or provider.default_url
    if name == "ollama" and not url.rstrip("/").endswith("/v1"):
        url = url.rstrip("/") + "/v1"  # Ollama's OpenAI-compatible API
    key = options.get("api_key") or (provider.key_env and os.environ.get(provider.key_env)) or None
    settings = {
        "llm": "openai",
        "llm_base_url": url,
        "llm_model": options.get("model") or provider.default_model,
        "llm_api_key": key,  # None overrides OPENAI_API_KEY: a key goes only to its own provider
    }
    used = {"model", "api_key", provider.url_key}
    ignored = [f"llm.config.{key}" for key in options if key not in used and options[key] is not None]
    ignored += [f"llm.{key}" for key in block if key not in ("provider", "config")]
    return settings, ignored
