"""Conversation files -> message dicts for `Memory.add`: LoCoMo (both shapes), JSON and JSONL messages."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from lightmem.messages import parse_timestamp

logger = logging.getLogger("lightmem")

_SESSION_KEY = re.compile(r"session_(\d+)")
_LOCOMO_DATE = re.compile(
    r"(\d{1,2}):(\d{2})\s*([ap])\.?m\.?\s+on\s+(\d{1,2})\s+([a-z]+)\.?,?\s+(\d{4})", re.IGNORECASE
)
_MONTHS = {
    name: number
    for number, full in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
    for name in (full, full[:3], full[:4])
}
_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")
_MESSAGE_KEYS = ("role", "content", "name", "id", "timestamp")


class ConversationFormatError(ValueError):
    """A conversation file that cannot be read: the message names the file, the place and the problem."""

    def __init__(self, path: str | os.PathLike[str], place: Optional[str], problem: str) -> None:
        where = f"{os.fspath(path)}: {place}" if place else os.fspath(path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Question:
    """A benchmark question about a conversation, with the ids of the turns that hold its answer.

    `answer` is "" for LoCoMo's adversarial questions (category 5), which have no answer in the
    conversation; their tempting wrong answer is kept in `adversarial_answer`.
    """

    question: str
    answer: str
    evidence: tuple[str, ...]
    category: int
    adversarial_answer: Optional[str] = None


@dataclass(frozen=True)
class Conversation:
    """A conversation loaded from a file: sessions of message dicts ready for `Memory.add`."""

    name: str
    sessions: list[list[dict[str, Any]]]
    questions: list[Question]

    @property
    def turns(self) -> int:
        """The number of messages over all sessions."""
        return sum(len(session) for session in self.sessions)


def load_conversations(path: str | os.PathLike[str]) -> list[Conversation]:
    """Reads a conversation file; raises `ConversationFormatError` (a ValueError) on a bad one.

    Accepted shapes: a LoCoMo conversation (object with `speaker_a`, `session_N`, `session_N_date_time`,
    `qa`), the original LoCoMo release (list of `{"sample_id", "conversation", "qa"}`), a JSON list of
    message dicts, an object `{"messages": [...], "user_id": optional name}`, or JSONL (one message dict
    per line). Messages have `content` and optional `role`, `name`, `id`, `timestamp` (ISO 8601).
    """
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise ConversationFormatError(path, None, "the file is empty")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return [_generic(path, path.stem, _jsonl_messages(path, text))]
    try:
        data = json.loads(text)
    except RecursionError:
        raise ConversationFormatError(path, None, "the JSON is nested too deeply") from None
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":
            return [_generic(path, path.stem, _jsonl_messages(path, text))]
        raise ConversationFormatError(
            path, f"line {err.lineno} column {err.colno}", f"not valid JSON ({err.msg})"
        ) from None
    return _from_json(path, data)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ConversationFormatError(path, f"line {line}", f"not UTF-8 text ({err.reason})") from None


def _jsonl_messages(path: Path, text: str) -> list[tuple[str, Any]]:
    messages = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            messages.append((f"line {number}", json.loads(line)))
        except RecursionError:
            raise ConversationFormatError(path, f"line {number}", "the JSON is nested too deeply") from None
        except json.JSONDecodeError as err:
            raise ConversationFormatError(
                path, f"line {number} column {err.colno}", f"not valid JSON ({err.msg})"
            ) from None
    return messages


def _from_json(path: Path, data: Any) -> list[Conversation]:
    if isinstance(data, Mapping):
        if "speaker_a" in data or any(_SESSION_KEY.fullmatch(key) for key in data):
            return [_locomo(path, path.stem, data, data.get("qa", []), "", "qa")]
        if "messages" in data:
            return [_from_messages_object(path, data)]
    elif isinstance(data, list):
        if data and isinstance(data[0], Mapping) and "conversation" in data[0]:
            return [_locomo_sample(path, index, sample) for index, sample in enumerate(data)]
        return [_generic(path, path.stem, [(f"[{i}]", m) for i, m in enumerate(data)])]
    raise ConversationFormatError(
        path,
        None,
        "unknown shape: expected a LoCoMo conversation, a list of LoCoMo samples, a list of message "
        'dicts, an object {"messages": [...]}, or JSONL with one message per line',
    )


def _from_messages_object(path: Path, data: Mapping[str, Any]) -> Conversation:
    messages = data["messages"]
    if not isinstance(messages, list):
        raise ConversationFormatError(
            path, "key 'messages'", f"must be a list, got {type(messages).__name__}"
        )
    name = data.get("user_id") or path.stem
    if not isinstance(name, str):
        raise ConversationFormatError(path, "key 'user_id'", f"must be a string, got {type(name).__name__}")
    return _generic(path, name, [(f"messages[{i}]", m) for i, m in enumerate(messages)])


def _generic(path: Path, name: str, messages: list[tuple[str, Any]]) -> Conversation:
    if not messages:
        raise ConversationFormatError(path, None, "contains no messages")
    return Conversation(
        name=name, sessions=[[_message(path, place, m) for place, m in messages]], questions=[]
    )


def _message(path: Path, place: str, message: Any) -> dict[str, Any]:
    if not isinstance(message, Mapping):
        raise ConversationFormatError(
            path, place, f"a message must be an object with 'content', got {type(message).__name__}"
        )
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ConversationFormatError(path, place, "a message needs a non-empty string 'content'")
    result = {key: message[key] for key in _MESSAGE_KEYS if message.get(key) is not None}
    result.setdefault("role", "user")
    if "timestamp" in result:
        try:
            result["timestamp"] = parse_timestamp(result["timestamp"])
        except ValueError as err:
            raise ConversationFormatError(path, place, str(err)) from None
    return result


def _locomo_sample(path: Path, index: int, sample: Any) -> Conversation:
    place = f"[{index}]"
    if not isinstance(sample, Mapping) or not isinstance(sample.get("conversation"), Mapping):
        raise ConversationFormatError(path, place, "a LoCoMo sample needs a 'conversation' object")
    name = str(sample.get("sample_id") or f"{path.stem}-{index}")
    return _locomo(
        path, name, sample["conversation"], sample.get("qa", []), f"{place}.conversation.", f"{place}.qa"
    )


def _locomo(
    path: Path, name: str, data: Mapping[str, Any], qa: Any, prefix: str, qa_place: str
) -> Conversation:
    """One LoCoMo conversation; `prefix` and `qa_place` locate its session keys and questions in errors."""
    numbers = sorted(int(match[1]) for key in data if (match := _SESSION_KEY.fullmatch(key)))
    sessions = [_locomo_session(path, data, number, prefix) for number in numbers]
    sessions = [session for session in sessions if session]
    if not sessions:
        raise ConversationFormatError(path, f"{prefix}session_*", "the conversation has no turns")
    if not isinstance(qa, list):
        raise ConversationFormatError(path, qa_place, f"must be a list, got {type(qa).__name__}")
    questions = [_question(path, f"{qa_place}[{i}]", item) for i, item in enumerate(qa)]
    return Conversation(name=name, sessions=sessions, questions=questions)


def _locomo_session(path: Path, data: Mapping[str, Any], number: int, prefix: str) -> list[dict[str, Any]]:
    key = f"session_{number}"
    turns = data[key]
    if not isinstance(turns, list):
        raise ConversationFormatError(
            path, prefix + key, f"must be a list of turns, got {type(turns).__name__}"
        )
    if not turns:
        return []
    date_key = f"{key}_date_time"
    if date_key not in data:
        raise ConversationFormatError(path, prefix + key, f"has turns but no {date_key!r}")
    when = _locomo_date(path, prefix + date_key, data[date_key])
    messages = [_locomo_turn(path, f"{prefix}{key}[{i}]", turn, when) for i, turn in enumerate(turns)]
    return [message for message in messages if message is not None]


def _locomo_date(path: Path, place: str, value: Any) -> datetime:
    match = _LOCOMO_DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    month = _MONTHS.get(match[5].lower()) if match else None
    if match is None or month is None:
        raise ConversationFormatError(
            path, place, f"bad date {value!r}, expected like '1:56 pm on 8 May, 2023'"
        )
    hour = int(match[1]) % 12 + (12 if match[3].lower() == "p" else 0)
    try:
        return datetime(int(match[6]), month, int(match[4]), hour, int(match[2]), tzinfo=timezone.utc)
    except ValueError as err:
        raise ConversationFormatError(path, place, f"bad date {value!r} ({err})") from None


def _locomo_turn(path: Path, place: str, turn: Any, when: datetime) -> Optional[dict[str, Any]]:
    if not isinstance(turn, Mapping):
        raise ConversationFormatError(path, place, f"a turn must be an object, got {type(turn).__name__}")
    for key in ("speaker", "dia_id"):
        if not isinstance(turn.get(key), str) or not turn[key].strip():
            raise ConversationFormatError(path, place, f"a turn needs a non-empty string {key!r}")
    text = turn.get("text")
    if not isinstance(text, str):
        raise ConversationFormatError(path, place, "a turn needs a string 'text'")
    caption = turn.get("blip_caption")
    image = f"[shares an image: {caption.strip()}]" if isinstance(caption, str) and caption.strip() else ""
    if not text.strip() and not image:
        raise ConversationFormatError(path, place, "the turn has no text and no image caption")
    return {
        "role": "user",
        "name": turn["speaker"].strip(),
        "id": turn["dia_id"].strip(),
        "timestamp": when,
        "content": f"{text.strip()} {image}".strip(),
    }


def _question(path: Path, place: str, item: Any) -> Question:
    if not isinstance(item, Mapping):
        raise ConversationFormatError(path, place, f"a question must be an object, got {type(item).__name__}")
    question, category = item.get("question"), item.get("category")
    if not isinstance(question, str) or not question.strip():
        raise ConversationFormatError(path, place, "a question needs a non-empty string 'question'")
    if not isinstance(category, int) or not 1 <= category <= 5:
        raise ConversationFormatError(path, place, f"'category' must be an integer 1..5, got {category!r}")
    answer = item.get("answer")
    adversarial = item.get("adversarial_answer")
    if answer is None and category != 5:
        raise ConversationFormatError(path, place, "the question has no 'answer'")
    if not isinstance(answer, (str, int, float, type(None))):
        raise ConversationFormatError(path, place, f"'answer' must be text or a number, got {answer!r}")
    return Question(
        question=question.strip(),
        answer="" if answer is None else str(answer),
        evidence=_evidence(path, place, item.get("evidence", [])),
        category=category,
        adversarial_answer=None if adversarial is None else str(adversarial),
    )


def _evidence(path: Path, place: str, evidence: Any) -> tuple[str, ...]:
    """Turn ids as `D<session>:<turn>`, repairing LoCoMo's slips ("D8:6; D9:17", "D:11:26")."""
    if not isinstance(evidence, list) or not all(isinstance(item, str) for item in evidence):
        raise ConversationFormatError(path, f"{place}.evidence", "must be a list of turn ids like 'D1:3'")
    ids = []
    for item in evidence:
        found = [f"D{session}:{turn}" for session, turn in _EVIDENCE.findall(item)]
        if not found:
            logger.warning("%s: %s.evidence: ignoring %r, not a turn id", path, place, item)
        ids.extend(found)
    return tuple(dict.fromkeys(ids))
