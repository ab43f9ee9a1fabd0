"""`CountedLLM`: an LLM backend whose every answered pass is counted in the store, under the scope it
works for (the lifetime counters `Memory.stats` reports)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from lightmem.llm import LLM, Completion, OfflineLLM, UsageCounter
from lightmem.prompts import AnswerFormat
from lightmem.types import Scope

if TYPE_CHECKING:  # the store is not imported here: usearch loaded before onnxruntime crashes it
    from lightmem.store import UnitStore


def is_offline(llm: LLM) -> bool:
    """Whether `llm` is the offline extractive backend (or a `CountedLLM` of it): no model runs, its units
    are the turns themselves.

    A type check, not a member of the `LLM` protocol: a protocol member cannot have a default, so it would
    break every backend written against the protocol (an `OfflineLLM` wrapped by another object counts as
    a model)."""
    return isinstance(llm.backend if isinstance(llm, CountedLLM) else llm, OfflineLLM)


def pass_counts(llm: LLM, completion: Completion) -> dict[str, int]:
    """What one answered pass of `llm` adds to the counters: a real model's call is one `llm_calls` and
    its tokens; a pass of the offline extractive backend is one `offline_extractions` (no model ran:
    nothing was sent, no token was spent)."""
    if is_offline(llm):
        return {"offline_extractions": 1}
    return {
        "llm_calls": 1,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
    }


class CountedLLM:
    """`llm`, each answered pass of which is added to the counters of the exact `scope` in `store` at once,
    in a small transaction of its own (a call that fails is not counted; its answer is, even when the
    work it was for is dropped later). `usage` is `llm`'s own, per-process counter."""

    def __init__(self, llm: LLM, store: UnitStore, scope: Scope) -> None:
        self._llm = llm
        self._store = store
        self._scope = scope

    @property
    def backend(self) -> LLM:
        """The wrapped backend."""
        return self._llm

    @property
    def usage(self) -> UsageCounter:
        """The wrapped backend's counter."""
        return self._llm.usage

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        """`llm.complete`, then the pass counted."""
        completion = self._llm.complete(messages, json_output=json_output, answer_format=answer_format)
        self._store.add_counts(self._scope, pass_counts(self._llm, completion))
        return completion
