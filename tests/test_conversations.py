"""Tests of `lightmem.conversations.load_conversations` on every accepted shape and on bad files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from lightmem.conversations import Conversation, ConversationFormatError, Question, load_conversations

LOCOMO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo"


def locomo_conversation() -> dict[str, Any]:
    """A small conversation in the LoCoMo file format, with its quirks (empty session, image turn)."""
    return {
        "speaker_a": "Caroline",
        "speaker_b": "Melanie",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Caroline", "dia_id": "D1:1", "text": "Hey Mel! I went to a support group."},
            {
                "speaker": "Melanie",
                "dia_id": "D1:2",
                "text": "Look at this!",
                "img_url": ["http://example.invalid/x.jpg"],
                "blip_caption": "a photo of a sunset over a lake",
            },
        ],
        "session_2_date_time": "12:09 am on 13 September, 2023",
        "session_2": [{"speaker": "Caroline", "dia_id": "D2:1", "text": "I moved to Boston."}],
        "session_3_date_time": "10:00 am on 1 October, 2023",
        "session_10_date_time": "10:00 am on 2 October, 2023",
        "session_10": [
            {"speaker": "Melanie", "dia_id": "D10:1", "text": "", "blip_caption": "a painted sunrise"}
        ],
        "session_1_summary": "ignored",
        "qa": [
            {
                "question": "Where does Caroline live?",
                "answer": "Boston",
                "evidence": ["D2:1"],
                "category": 1,
            },
            {"question": "When was the sunset photo?", "answer": 2023, "evidence": ["D1:2"], "category": 2},
            {"question": "Joined?", "answer": "x", "evidence": ["D1:1; D2:1", "D:10:1", "D"], "category": 3},
            {
                "question": "Melanie's job?",
                "evidence": ["D1:2"],
                "category": 5,
                "adversarial_answer": "nurse",
            },
        ],
    }


def write_json(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_locomo_file_gives_sessions_of_message_dicts(tmp_path: Path) -> None:
    (conversation,) = load_conversations(write_json(tmp_path, "conv-7.json", locomo_conversation()))
    assert conversation.name == "conv-7"
    assert [len(session) for session in conversation.sessions] == [2, 1, 1]
    assert conversation.turns == 4
    first = conversation.sessions[0][0]
    assert first == {
        "role": "user",
        "name": "Caroline",
        "id": "D1:1",
        "timestamp": datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc),
        "content": "Hey Mel! I went to a support group.",
    }
    assert (
        conversation.sessions[0][1]["content"]
        == "Look at this! [shares an image: a photo of a sunset over a lake]"
    )
    assert conversation.sessions[1][0]["timestamp"] == datetime(2023, 9, 13, 0, 9, tzinfo=timezone.utc)
    assert conversation.sessions[2][0]["id"] == "D10:1"
    assert conversation.sessions[2][0]["content"] == "[shares an image: a painted sunrise]"


def test_locomo_questions(tmp_path: Path) -> None:
    (conversation,) = load_conversations(write_json(tmp_path, "c.json", locomo_conversation()))
    assert conversation.questions == [
        Question("Where does Caroline live?", "Boston", ("D2:1",), 1),
        Question("When was the sunset photo?", "2023", ("D1:2",), 2),
        Question("Joined?", "x", ("D1:1", "D2:1", "D10:1"), 3),
        Question("Melanie's job?", "", ("D1:2",), 5, adversarial_answer="nurse"),
    ]


def test_locomo_release_shape(tmp_path: Path) -> None:
    sample = locomo_conversation()
    qa = sample.pop("qa")
    data = [
        {"sample_id": "conv-26", "conversation": sample, "qa": qa, "observation": {}},
        {"sample_id": "conv-30", "conversation": sample, "qa": []},
    ]
    conversations = load_conversations(write_json(tmp_path, "locomo10.json", data))
    assert [c.name for c in conversations] == ["conv-26", "conv-30"]
    assert [len(c.questions) for c in conversations] == [4, 0]
    assert conversations[1].sessions == conversations[0].sessions


MESSAGES = [
    {"role": "user", "content": "I adopted a cat called Miso.", "name": "Ana", "id": "m1", "extra": 1},
    {"role": "assistant", "content": "Lovely name!", "timestamp": "2024-03-01T10:00:00Z"},
    {"content": "She is two years old.", "timestamp": "2024-03-01T10:01:00"},
]


def check_generic(conversation: Conversation, name: str) -> None:
    assert conversation.name == name
    assert conversation.questions == []
    assert conversation.sessions == [
        [
            {"role": "user", "content": "I adopted a cat called Miso.", "name": "Ana", "id": "m1"},
            {
                "role": "assistant",
                "content": "Lovely name!",
                "timestamp": datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc),
            },
            {
                "role": "user",
                "content": "She is two years old.",
                "timestamp": datetime(2024, 3, 1, 10, 1, tzinfo=timezone.utc),
            },
        ]
    ]


def test_generic_list_of_messages(tmp_path: Path) -> None:
    (conversation,) = load_conversations(write_json(tmp_path, "chat.json", MESSAGES))
    check_generic(conversation, "chat")


def test_generic_messages_object_named_by_user_id(tmp_path: Path) -> None:
    path = write_json(tmp_path, "chat.json", {"messages": MESSAGES, "user_id": "ana"})
    check_generic(load_conversations(path)[0], "ana")
    path = write_json(tmp_path, "other.json", {"messages": MESSAGES})
    check_generic(load_conversations(path)[0], "other")


@pytest.mark.parametrize("name", ["chat.jsonl", "chat.json"])
def test_jsonl(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(m) for m in MESSAGES[:2]) + "\n\n" + json.dumps(MESSAGES[2]) + "\n")
    check_generic(load_conversations(path)[0], "chat")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xef\xbb\xbf[{", "line 1 column 3: not valid JSON"),
        (b'[\n{"content": "caf\xe9"}]', "line 2: not UTF-8 text"),
        (b"  \n", "the file is empty"),
        (b'{"foo": 1}', "unknown shape"),
        (b"42", "unknown shape"),
        (b"[]", "contains no messages"),
        (b'{"messages": {}}', "key 'messages': must be a list"),
        (b'{"messages": [{"content": "a"}], "user_id": 3}', "key 'user_id': must be a string"),
        (b'{"messages": [{"role": "user"}]}', "messages[0]: a message needs a non-empty string"),
        (b'[{"content": "  "}]', "[0]: a message needs a non-empty string 'content'"),
        (b'[{"content": "a", "timestamp": "May 5"}]', "[0]: timestamp 'May 5' is not an ISO 8601"),
        (b'[{"content": "a"}, "b"]', "[1]: a message must be an object with 'content', got str"),
    ],
)
def test_bad_generic_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "chat.json"
    path.write_bytes(content)
    with pytest.raises(ConversationFormatError) as info:
        load_conversations(path)
    assert str(info.value).startswith(f"{path}: {expected}")
    assert isinstance(info.value, ValueError)


def test_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text('{"content": "a"}\n{"content": \n')
    with pytest.raises(ConversationFormatError, match=r"chat\.jsonl: line 2 column \d+: not valid JSON"):
        load_conversations(path)
    path.write_text('{"content": "a"}\n\n[1]\n')
    with pytest.raises(ConversationFormatError, match=r"chat\.jsonl: line 3: a message must be an object"):
        load_conversations(path)


def broken(change: str) -> dict[str, Any]:
    data = locomo_conversation()
    if change == "date":
        data["session_2_date_time"] = "yesterday"
    elif change == "impossible date":
        data["session_2_date_time"] = "1:00 pm on 31 February, 2023"
    elif change == "month":
        data["session_2_date_time"] = "1:00 pm on 3 Smarch, 2023"
    elif change == "no date":
        del data["session_2_date_time"]
    elif change == "no text":
        data["session_2"][0]["text"] = " "
    elif change == "no dia_id":
        del data["session_1"][1]["dia_id"]
    elif change == "turns not a list":
        data["session_1"] = "hello"
    elif change == "no answer":
        del data["qa"][0]["answer"]
    elif change == "category":
        data["qa"][1]["category"] = 9
    elif change == "evidence":
        data["qa"][2]["evidence"] = "D1:1"
    elif change == "qa":
        data["qa"] = {}
    elif change == "no turns":
        for key in ("session_1", "session_2", "session_10"):
            data[key] = []
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("date", "session_2_date_time: bad date 'yesterday', expected like '1:56 pm on 8 May, 2023'"),
        ("impossible date", "session_2_date_time: bad date '1:00 pm on 31 February, 2023' (day is out"),
        ("month", "session_2_date_time: bad date '1:00 pm on 3 Smarch, 2023'"),
        ("no date", "session_2: has turns but no 'session_2_date_time'"),
        ("no text", "session_2[0]: the turn has no text and no image caption"),
        ("no dia_id", "session_1[1]: a turn needs a non-empty string 'dia_id'"),
        ("turns not a list", "session_1: must be a list of turns, got str"),
        ("no answer", "qa[0]: the question has no 'answer'"),
        ("category", "qa[1]: 'category' must be an integer 1..5, got 9"),
        ("evidence", "qa[2].evidence: must be a list of turn ids"),
        ("qa", "qa: must be a list, got dict"),
        ("no turns", "session_*: the conversation has no turns"),
    ],
)
def test_bad_locomo_files(tmp_path: Path, change: str, expected: str) -> None:
    path = write_json(tmp_path, "conv.json", broken(change))
    with pytest.raises(ConversationFormatError) as info:
        load_conversations(path)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_bad_release_sample_names_its_index(tmp_path: Path) -> None:
    sample = broken("date")
    qa = sample.pop("qa")
    data: list[dict[str, Any]] = [
        {"sample_id": "a", "conversation": locomo_conversation(), "qa": []},
        {"conversation": sample},
    ]
    path = write_json(tmp_path, "locomo10.json", data)
    with pytest.raises(ConversationFormatError, match=r"\[1\]\.conversation\.session_2_date_time: bad date"):
        load_conversations(path)
    data[1] = {"sample_id": "b", "conversation": locomo_conversation(), "qa": [{"question": "?"}, *qa]}
    path = write_json(tmp_path, "locomo10.json", data)
    with pytest.raises(ConversationFormatError, match=r"\[1\]\.qa\[0\]: 'category' must be"):
        load_conversations(path)
    data[1] = {"sample_id": "c", "conversation": []}
    path = write_json(tmp_path, "locomo10.json", data)
    with pytest.raises(
        ConversationFormatError, match=r"\[1\]: a LoCoMo sample needs a 'conversation' object"
    ):
        load_conversations(path)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_conversations(tmp_path / "nope.json")


@pytest.mark.skipif(not LOCOMO_DIR.is_dir(), reason=f"LoCoMo data not found at {LOCOMO_DIR}")
def test_shared_locomo_files_load() -> None:
    conversations = [c for path in sorted(LOCOMO_DIR.glob("*.json")) for c in load_conversations(path)]
    assert len(conversations) == 5
    assert sum(c.turns for c in conversations) == 2760
    assert sum(len(c.questions) for c in conversations) == 999
    for conversation in conversations:
        turns = [m for session in conversation.sessions for m in session]
        assert all(m["timestamp"].tzinfo is timezone.utc and m["content"] for m in turns)
        ids = {m["id"] for m in turns}
        assert len(ids) == len(turns)
        evidence = [e for q in conversation.questions for e in q.evidence]
        assert sum(e in ids for e in evidence) >= 0.98 * len(evidence)
