"""LLM backends: the `LLM` protocol, an OpenAI-compatible HTTP client and a deterministic offline backend.

Both backends count every call and its tokens in a `UsageCounter` exposed as ``.usage``.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from lightmem.config import LightMemConfig
from lightmem.limits import MAX_LLM_RESPONSE_BYTES, MAX_MESSAGE_CHARS
from lightmem.prompts import (
    CONSOLIDATE_SYSTEM,
    EXTRACT_SYSTEM,
    AnswerFormat,
    parse_extract_prompt,
)

Messages = list[dict[str, str]]
logger = logging.getLogger("lightmem")


@dataclass(frozen=True)
class Completion:
    """One LLM answer and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    truncated: bool = False
    """Whether the answer stopped at its token budget (``finish_reason`` "length")."""


class UsageCounter:
    """Running totals of LLM calls and tokens; safe to update from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0

    def add(self, completion: Completion) -> None:
        """Count one call and its tokens."""
        with self._lock:
            self._calls += 1
            self._prompt_tokens += completion.prompt_tokens
            self._completion_tokens += completion.completion_tokens

    def snapshot(self) -> dict[str, int]:
        """The totals so far: calls, prompt_tokens, completion_tokens."""
        with self._lock:
            return {
                "calls": self._calls,
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
            }

    @property
    def calls(self) -> int:
        """Completed calls so far."""
        return self.snapshot()["calls"]

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens of the completed calls."""
        return self.snapshot()["prompt_tokens"]

    @property
    def completion_tokens(self) -> int:
        """Completion tokens of the completed calls."""
        return self.snapshot()["completion_tokens"]

    def __repr__(self) -> str:
        return "UsageCounter(" + ", ".join(f"{k}={v}" for k, v in self.snapshot().items()) + ")"


class LLM(Protocol):
    """A chat model. `complete` sends chat messages and returns the answer; ``usage`` counts the calls.

    `json_output`: ask for a JSON answer; `answer_format`: the answer's JSON schema and token budget
    (a backend that cannot enforce them may ignore them)."""

    @property
    def usage(self) -> UsageCounter: ...

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion: ...


class LLMError(RuntimeError):
    """An LLM call failed for good: retries exhausted, a non-retryable answer, or a request it cannot
    serve. The message names the URL and HTTP status, never the API key."""

    def __init__(self, message: str, *, url: Optional[str] = None, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


def estimate_tokens(*texts: str) -> int:
    """A rough token count for English text: 4/3 tokens per whitespace-separated word."""
    return round(sum(len(text.split()) for text in texts) * 4 / 3)


# --- OpenAI-compatible HTTP client -----------------------------------------------------------------------


class _Retryable(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(
        self,
        reason: str,
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
        *,
        timed_out: bool = False,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after
        self.timed_out = timed_out


_RETRYABLE_STATUS = frozenset({408, 429})
_ERROR_DETAIL_CHARS = 300
_READ_CHUNK_BYTES = 64 * 1024


class OpenAIClient:
    """The OpenAI chat-completions protocol against any server: OpenAI, vLLM, Ollama, llama.cpp, ...

    Each call POSTs to ``{base_url}/chat/completions`` with temperature 0 and ``max_tokens`` (the answer
    format's budget, else `max_tokens`). With `json_output` it asks for JSON: as ``response_format``
    ``json_schema`` with the answer format's schema when one is given, else ``json_object``. A server that
    refuses that ``response_format`` (see `_refuses_format`) is asked again at once, without retries,
    with the next weaker one (``json_object`` with a ``schema``, ``json_object``, then none: lightmem's
    parsers read JSON in plain text too); once a weaker one is answered, the client remembers the refusal
    and no longer sends the refused formats. Timeouts, connection errors, 408, 429 and 5xx answers, and
    malformed or oversized bodies (more than `MAX_LLM_RESPONSE_BYTES`) are retried up to `max_retries`
    times, after an exponential backoff with jitter (``backoff_s * 2**attempt``, scaled by a random factor
    in [0.5, 1], at most `max_backoff_s`); a 429's Retry-After is honoured when it is at most
    `max_backoff_s`, and the call gives up at once when it is longer. Other 4xx answers are not retried.

    A timed-out attempt is retried only when `retry_timeouts` (a local server usually goes on computing
    the abandoned answer, so that a retry waits behind it). `timeout_s` is the deadline of a whole
    attempt (connecting, sending, and receiving the status, headers and body), however slowly the server
    sends; a call ends by `max_total_time_s`. Redirects (3xx) are
    never followed, so the API key only ever goes to `base_url`'s origin: a redirect fails the call at once,
    naming the status and the origin it points to. Failures raise `LLMError`. Thread-safe; standard
    library only (proxies from the environment are honoured, as by `urllib`).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: Optional[str] = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_tokens: int = 1024,
        retry_timeouts: bool = True,
    ) -> None:
        _check_base_url(base_url)
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if backoff_s < 0 or max_backoff_s < 0:
            raise ValueError(f"backoff_s and max_backoff_s must be >= 0, got {backoff_s} and {max_backoff_s}")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_tokens = max_tokens
        self.retry_timeouts = retry_timeouts
        self._api_key = api_key or None
        self._refused: set[str] = set()
        self._refused_lock = threading.Lock()
        self._opener = _opener()
        self._random = random.Random()
        self._usage = UsageCounter()

    @classmethod
    def from_config(cls, cfg: LightMemConfig) -> OpenAIClient:
        """A client for ``cfg.llm_base_url`` and ``cfg.llm_model`` with the config's key, timeout, retries."""
        if not cfg.llm_base_url:
            raise ValueError("llm_base_url is not set: set LIGHTMEM_LLM_BASE_URL or config.llm_base_url")
        if not cfg.llm_model:
            raise ValueError("llm_model is not set: set LIGHTMEM_LLM_MODEL or config.llm_model")
        return cls(
            cfg.llm_base_url,
            cfg.llm_model,
            api_key=cfg.llm_api_key,
            timeout_s=cfg.llm_timeout_s,
            max_retries=cfg.llm_max_retries,
            retry_timeouts=cfg.llm_retry_timeouts,
        )

    @property
    def usage(self) -> UsageCounter:
        """Calls and tokens so far (tokens as the server reports them, else estimated)."""
        return self._usage

    @property
    def max_total_time_s(self) -> float:
        """The deadline of one `complete` call: every attempt's timeout plus every backoff."""
        return (self.max_retries + 1) * self.timeout_s + self.max_retries * self.max_backoff_s

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        """Send `messages` and return the answer; raises `LLMError` when the call fails for good."""
        if not messages:
            raise ValueError("messages must not be empty")
        formats = self._formats(json_output, answer_format)
        for position, kind in enumerate(formats):
            request: dict[str, Any] = {
                "model": self.model,
                "messages": messages,
                "temperature": 0,
                "max_tokens": self.max_tokens if answer_format is None else answer_format.max_tokens,
            }
            if kind != "plain":
                request["response_format"] = _response_format(kind, answer_format)
            body = json.dumps(request, ensure_ascii=False).encode("utf-8")
            try:
                completion = self._post_with_retries(body, messages, format_sent=kind != "plain")
            except _FormatRefused as err:
                if position + 1 == len(formats):
                    raise
                logger.warning("%s; asking again with response_format %s", err, formats[position + 1])
                continue
            if position:
                with self._refused_lock:
                    self._refused.update(formats[:position])
            self._usage.add(completion)
            return completion
        raise AssertionError("unreachable: the last format is never skipped")

    def _formats(self, json_output: bool, answer_format: Optional[AnswerFormat]) -> list[str]:
        """The response formats to try, strongest first, leaving out those the server refused."""
        if not json_output:
            return ["plain"]
        wanted = ["json_object", "plain"]
        if answer_format is not None:
            wanted[:0] = ["json_schema", "json_object_schema"]
        with self._refused_lock:
            return [kind for kind in wanted if kind not in self._refused]

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        return f"OpenAIClient(url={self.url!r}, model={self.model!r}, api_key={key})"

    def _post_with_retries(self, body: bytes, messages: Messages, *, format_sent: bool = False) -> Completion:
        call_deadline = time.monotonic() + self.max_total_time_s
        attempts = 0
        while True:
            attempts += 1
            deadline = min(time.monotonic() + self.timeout_s, call_deadline)
            try:
                return self._post_once(body, messages, deadline, format_sent)
            except _Retryable as exc:
                failure = exc
            if failure.timed_out and not self.retry_timeouts:
                raise self._error(
                    f"no answer within timeout_s={self.timeout_s:g} s, not retried (the server may still be "
                    "computing it, and a retry would wait behind it): raise the timeout for a slow model",
                    None,
                )
            if failure.retry_after is not None and failure.retry_after > self.max_backoff_s:
                raise self._error(
                    f"{failure}; the server asks to retry after {failure.retry_after:g} s, "
                    f"more than max_backoff_s={self.max_backoff_s:g}",
                    failure.status,
                )
            delay = self._delay(attempts - 1, failure.retry_after)
            if attempts > self.max_retries or time.monotonic() + delay >= call_deadline:
                break
            time.sleep(delay)
        raise self._error(f"gave up after {attempts} attempt(s); last: {failure}", failure.status)

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return retry_after
        backoff: float = min(self.max_backoff_s, self.backoff_s * 2.0**attempt)
        return backoff * self._random.uniform(0.5, 1.0)

    def _post_once(self, body: bytes, messages: Messages, deadline: float, format_sent: bool) -> Completion:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "lightmem"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=_remaining(deadline)) as response:
                raw = _read_at_most(response, MAX_LLM_RESPONSE_BYTES)
        except urllib.error.HTTPError as err:
            with err:
                raise self._http_failure(err, format_sent) from None
        except (OSError, http.client.HTTPException) as err:  # timeouts, lost connections, cut bodies
            timed_out = isinstance(err, TimeoutError) or isinstance(
                getattr(err, "reason", None), TimeoutError
            )
            raise _Retryable(f"{type(err).__name__}: {err}", timed_out=timed_out) from None
        if raw is None:
            raise _Retryable(f"the response body is larger than {MAX_LLM_RESPONSE_BYTES:,} bytes")
        return self._parse_body(raw, messages)

    def _http_failure(self, err: urllib.error.HTTPError, format_sent: bool) -> Exception:
        if 300 <= err.code < 400:
            where = _redirect_target(self.url, err.headers)
            return self._error(f"HTTP {err.code} redirect{where}, not followed", err.code)
        reason = f"HTTP {err.code}"
        detail_bytes = _ERROR_DETAIL_CHARS * 4 + len(self._api_key or "")  # room for a whole key to redact
        try:
            detail = err.read(detail_bytes)
        except (OSError, http.client.HTTPException):
            detail = b""
        if detail.strip():
            reason += ": " + self._excerpt(detail, _ERROR_DETAIL_CHARS, whole=len(detail) < detail_bytes)
        if format_sent and _refuses_format(err.code, reason):
            refused = self._error(reason, err.code)
            return _FormatRefused(str(refused), url=refused.url, status=refused.status)
        if err.code in _RETRYABLE_STATUS or err.code >= 500:
            return _Retryable(reason, err.code, _retry_after(err.headers.get("Retry-After")))
        return self._error(reason, err.code)

    def _parse_body(self, raw: bytes, messages: Messages) -> Completion:
        try:
            answer = json.loads(raw)
            text = answer["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            raise _Retryable(f"malformed response body: {self._excerpt(raw, 120, whole=True)!r}") from None
        if not isinstance(text, str):
            raise _Retryable("the response has no text content")
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        finish = answer["choices"][0].get("finish_reason") if isinstance(answer["choices"][0], dict) else None
        return Completion(
            text=text,
            truncated=finish == "length",
            prompt_tokens=_count(usage, "prompt_tokens", lambda: estimate_tokens(*_contents(messages))),
            completion_tokens=_count(usage, "completion_tokens", lambda: estimate_tokens(text)),
        )

    def _error(self, detail: str, status: Optional[int]) -> LLMError:
        message = self._redact(f"LLM request to {self.url} failed: {detail}")
        return LLMError(message, url=self.url, status=status)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _excerpt(self, data: bytes, chars: int, *, whole: bool) -> str:
        """The first `chars` characters of `data`, redacted before they are cut so that no part of the
        key survives. Unless `data` is `whole`, its last characters, where a key cut off by the read may
        begin, are dropped (after the redaction, which cannot see a partial key)."""
        text = self._redact(data.decode("utf-8", "replace"))
        if not whole and self._api_key:
            text = text[: max(0, len(text) - len(self._api_key) + 1)]
        return text.strip()[:chars]


class _FormatRefused(LLMError):
    """The server refused the request's ``response_format`` (not retried: a weaker one is tried)."""


_FORMAT_REFUSAL = re.compile(r"response_format|json|schema|grammar|format", re.IGNORECASE)
_FORMAT_NAMED = re.compile(r"response_format|json_schema", re.IGNORECASE)


def _refuses_format(status: int, reason: str) -> bool:
    """Whether an HTTP error answering a request with a ``response_format`` refuses that format: a 400 or
    422 naming a format, JSON or a schema, or a 5xx naming ``response_format`` (llama-cpp-python's server
    answers an unknown format with a 500 validation error)."""
    if status in (400, 422):
        return bool(_FORMAT_REFUSAL.search(reason))
    return status >= 500 and bool(_FORMAT_NAMED.search(reason))


def _response_format(kind: str, answer_format: Optional[AnswerFormat]) -> dict[str, Any]:
    """The ``response_format`` of a request: ``json_schema`` (OpenAI, vLLM, Ollama, llama.cpp's own
    server), ``json_object`` with a ``schema`` (llama-cpp-python's server), or plain ``json_object``."""
    schema = {} if answer_format is None else answer_format.schema
    if kind == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    if kind == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_object"}


def _remaining(deadline: float) -> float:
    """Seconds until `deadline` (a `time.monotonic()` time); raises a timeout once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out: the attempt's deadline passed")
    return left


def _read_at_most(response: http.client.HTTPResponse, limit: int) -> Optional[bytes]:
    """The body of `response`, or None as soon as it proves longer than `limit` bytes. A body cut short
    of its Content-Length raises `http.client.IncompleteRead` (reads in chunks do not check it)."""
    if response.length is not None and response.length > limit:
        return None
    chunks = []
    size = 0
    while chunk := response.read(_READ_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    if response.length:  # bytes announced but never sent
        raise http.client.IncompleteRead(b"".join(chunks), response.length)
    return b"".join(chunks)


def _check_base_url(base_url: object) -> None:
    """ValueError unless `base_url` is an http(s) URL of a host, with no user, password, query or
    fragment: urllib took `user:password@host` for a host name, and a query ended up before the
    /chat/completions appended to it; both failed only at the first call, and their secrets were shown
    in every error, log line and repr of the client. The message never shows the URL's parts."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r:.40}")
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError as err:
        raise ValueError(f"base_url is not a valid URL: {err}") from None
    if "@" in parts.netloc:
        raise ValueError(
            "base_url must not hold a user name or password (user:password@host): give the key as "
            "llm_api_key (OPENAI_API_KEY), which is sent as a Bearer token"
        )
    if parts.query or parts.fragment or base_url.endswith(("?", "#")):
        raise ValueError(
            "base_url must not have a query (?...) or fragment (#...): /chat/completions is appended to "
            "it; give a key as llm_api_key (OPENAI_API_KEY)"
        )
    if not parts.hostname:
        raise ValueError("base_url names no host")


def _redirect_target(url: str, headers: Any) -> str:
    """`` to <origin>`` of a redirect's Location (scheme, host and port only: its path and query may
    carry secrets), or a note that it has none."""
    location = headers.get("Location") if headers is not None else None
    if not location:
        return " without a Location"
    try:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
        host, port = parts.hostname or "?", parts.port
    except ValueError:
        return " to an invalid Location"
    host = f"[{host}]" if ":" in host else host
    return f" to {parts.scheme}://{host}" + (f":{port}" if port is not None else "")


# --- HTTP with a deadline and without redirects ----------------------------------------------------------


def _opener() -> urllib.request.OpenerDirector:
    """urllib's machinery (proxies from the environment, HTTP errors raised) over connections bound by a
    deadline, and without a redirect handler: a 3xx answer is raised as an `HTTPError`, never followed."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _DeadlineHTTPHandler(),
        _DeadlineHTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose whole exchange ends `timeout` seconds after it starts connecting."""

    def connect(self) -> None:
        deadline = _deadline(self.timeout)
        super().connect()
        self.sock = _DeadlineSocket(self.sock, deadline)


class _DeadlineHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose whole exchange ends `timeout` seconds after it starts connecting (the TLS
    handshake is bounded by `timeout` as a whole, by the `ssl` module)."""

    def connect(self) -> None:
        deadline = _deadline(self.timeout)
        super().connect()
        self.sock = _DeadlineSocket(self.sock, deadline)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPConnection, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPSConnection, req)


def _deadline(timeout: Optional[float]) -> float:
    if not isinstance(timeout, (int, float)):
        raise TypeError("a deadline connection needs a timeout in seconds")
    return time.monotonic() + timeout


class _DeadlineSocket:
    """A connected socket whose every send and receive ends by `deadline` (a `time.monotonic()` time),
    however slowly the peer trickles bytes; other attributes are the socket's."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: Any) -> None:
        self._sock.settimeout(_remaining(self._deadline))  # a timeout bounds a whole sendall
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"a deadline socket only reads bytes, not mode {mode!r}")
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineReader(io.RawIOBase):
    """The receiving side of a socket: each read waits at most until `deadline`."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # counted by the socket: it stays open until closed
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> Optional[int]:
        self._sock.settimeout(_remaining(self._deadline))
        return self._raw.readinto(buffer)

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        self._raw.close()
        super().close()


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After in seconds; None when absent or an HTTP date (then the usual backoff applies)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _count(usage: dict[str, Any], key: str, estimate: Callable[[], int]) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else estimate()


def _contents(messages: Messages) -> list[str]:
    return [str(message.get("content", "")) for message in messages]


# --- offline backend -----------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each even ever few for from further
    get got had has have having he her here hers herself him himself his how i if in into is it its itself
    just know like made make many me might more most much must my myself no nor not now of off on once only
    or other our ours ourselves out over own really same she should so some such than that the their
    theirs them themselves then there these they thing things think this those through to too under until
    up very was we well were what when where which while who whom why will with would yeah yes you your
    yours yourself yourselves going gonna want wanted said says something anything everything yesterday
    today tomorrow tonight""".split()
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_SPACE = re.compile(r"\s")


class OfflineLLM:
    """A deterministic backend with no model and no network: extractive answers to lightmem's own prompts.

    It reads the request (the first user message) of an extraction or consolidation prompt, which it
    tells apart by the system prompt. Extraction: one unit per `turns_per_unit` consecutive turns of a
    segment, text ``"<speaker>: <turn text>"`` (turns joined by a space), citing those turns (so its time
    is theirs), topic = the segment's three longest distinct non-stopwords (ties broken by first
    occurrence); a unit text longer than `MAX_MESSAGE_CHARS` becomes several consecutive units (nothing
    is cut). Consolidation: no change (it cannot judge contradictions). Tokens are estimated with
    `estimate_tokens` over all messages.
    """

    def __init__(self, turns_per_unit: int = 1) -> None:
        if isinstance(turns_per_unit, bool) or not isinstance(turns_per_unit, int) or turns_per_unit < 1:
            raise ValueError(f"turns_per_unit must be an integer >= 1, got {turns_per_unit!r}")
        self.turns_per_unit = turns_per_unit
        self._usage = UsageCounter()

    @property
    def usage(self) -> UsageCounter:
        """Calls and estimated tokens so far."""
        return self._usage

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        json_output: bool = True,
        answer_format: Optional[AnswerFormat] = None,
    ) -> Completion:
        """Answer a lightmem request (always in JSON); raises `LLMError` for any other request."""
        system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
        user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
        if user is None:
            raise LLMError("offline LLM: the messages hold no user message")
        if system == EXTRACT_SYSTEM:
            try:
                segments = parse_extract_prompt(user)
            except ValueError as exc:
                raise LLMError(f"offline LLM: malformed extraction request ({exc})") from None
            answer: dict[str, Any] = {"memories": self._extract_units(segments)}
        elif system == CONSOLIDATE_SYSTEM:
            answer = {"changes": []}
        else:
            raise LLMError("offline LLM: not a lightmem extraction or consolidation request")
        text = json.dumps(answer, ensure_ascii=False)
        completion = Completion(text, estimate_tokens(*_contents(messages)), estimate_tokens(text))
        self._usage.add(completion)
        return completion

    def __repr__(self) -> str:
        return f"OfflineLLM(turns_per_unit={self.turns_per_unit})"

    def _extract_units(self, segments: Sequence[Sequence[tuple[str, str]]]) -> list[dict[str, Any]]:
        units: list[dict[str, Any]] = []
        first = 1
        for segment in segments:
            turns = [(first + i, speaker, text) for i, (speaker, text) in enumerate(segment) if text.strip()]
            first += len(segment)
            topic = _salient_words(" ".join(text for _, _, text in turns))
            for start in range(0, len(turns), self.turns_per_unit):
                group = turns[start : start + self.turns_per_unit]
                text = " ".join(f"{speaker}: {text.strip()}" for _, speaker, text in group)
                cited = [number for number, _, _ in group]
                pieces = _pieces(text, MAX_MESSAGE_CHARS)
                units.extend({"text": piece, "turns": cited, "topic": topic} for piece in pieces)
        return units


def _pieces(text: str, size: int) -> Iterator[str]:
    """`text` in consecutive pieces of at most `size` characters, each cut at the last whitespace that
    fits (inside a word only when none does), stripped, leaving out blank ones."""
    rest = text
    while rest:
        if len(rest) <= size:
            piece, rest = rest, ""
        else:
            head = rest[: size + 1]
            cut = max((match.start() for match in _SPACE.finditer(head)), default=0) or size
            piece, rest = rest[:cut], rest[cut:].lstrip()
        if piece.strip():
            yield piece.strip()


def _salient_words(text: str, count: int = 3) -> Optional[str]:
    """The `count` longest distinct non-stopwords of `text`, in order of first occurrence."""
    first_seen: dict[str, int] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) > 2 and word not in _STOPWORDS:
            first_seen.setdefault(word, len(first_seen))
    longest = sorted(first_seen, key=lambda w: (-len(w), first_seen[w]))[:count]
    return ", ".join(sorted(longest, key=first_seen.__getitem__)) or None


def make_llm(cfg: LightMemConfig) -> LLM:
    """The backend ``cfg.llm`` names: `OfflineLLM` or `OpenAIClient`."""
    if cfg.llm == "openai":
        return OpenAIClient.from_config(cfg)
    return OfflineLLM()
