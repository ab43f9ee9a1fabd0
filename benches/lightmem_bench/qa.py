"""Question answering from retrieved memories, graded by an LLM judge (run only with a real LLM).

Both requests are chat messages: a fixed system prompt, then a user message of plain lines (the
memories, one a line, then the question; or the question, the gold answer and the answer), which
`read_request` reads back. Both answers are plain text with a small token budget (an answer is a few
words, a verdict one word): a small model left to the client's default budget talks on for a thousand
tokens and minutes per question, and a 135M model given the request as a JSON object echoed the object
instead of answering (19 of 19 questions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lightmem.llm import LLM
from lightmem.prompts import AnswerFormat

ANSWER_SYSTEM = """\
You answer a question about a long conversation between two people, using only the memories given.
The user message lists the memories, one a line starting with its date, then the question.
Answer with a few words only, no explanation and no copy of the memories: the fact itself (a name, a \
date, a place, a list), with absolute dates (resolve "yesterday" or "last week" against the memory's \
date). If the memories do not hold the answer, answer "unknown"."""

JUDGE_SYSTEM = """\
You grade an answer to a question about a conversation against the gold answer.
The user message has three lines: the question, the gold answer and the answer to grade.
The answer is CORRECT when it states the same fact as the gold answer, even in other words, with more \
detail, or with a date in another format that denotes the same day, month or period; it is WRONG when it \
misses, contradicts or only guesses the gold answer. Reply with one word: CORRECT or WRONG."""

ANSWER_TOKENS = 32
"""The answer's token budget: a name, a date or a short list."""
JUDGE_TOKENS = 4
"""The verdict's token budget: CORRECT or WRONG."""

_FIELDS = {"Question: ": "question", "Gold answer: ": "gold_answer", "Answer: ": "answer"}
_MEMORIES = "Memories:"
_ITEM = "- "

_VERDICT = re.compile(r"\b(CORRECT|WRONG)\b")


@dataclass(frozen=True)
class Graded:
    """One answered question: the answer given and the judge's verdict."""

    answer: str
    correct: bool


def _messages(system: str, lines: Sequence[str]) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def _line(text: str) -> str:
    """`text` on one line (its whitespace runs, line breaks included, as one space)."""
    return " ".join(text.split())


def build_answer_request(question: str, memories: Sequence[str]) -> list[dict[str, str]]:
    """The chat messages asking an LLM to answer `question` from `memories`."""
    lines = [_MEMORIES, *(_ITEM + _line(memory) for memory in memories), "Question: " + _line(question)]
    return _messages(ANSWER_SYSTEM, lines)


def build_judge_request(question: str, gold: str, answer: str) -> list[dict[str, str]]:
    """The chat messages asking an LLM whether `answer` states the `gold` answer."""
    lines = ["Question: " + _line(question), "Gold answer: " + _line(gold), "Answer: " + _line(answer)]
    return _messages(JUDGE_SYSTEM, lines)


def read_request(content: str) -> dict[str, object]:
    """The fields of the user message of `build_answer_request` or `build_judge_request`: "question",
    "memories" (a list), "gold_answer", "answer"; ValueError for a line of neither."""
    fields: dict[str, object] = {}
    memories: list[str] = []
    for line in content.split("\n"):
        prefix = next((p for p in _FIELDS if line.startswith(p)), None)
        if prefix is not None:
            fields[_FIELDS[prefix]] = line[len(prefix) :]
        elif line.startswith(_ITEM):
            memories.append(line[len(_ITEM) :])
        elif line != _MEMORIES:
            raise ValueError(f"not a line of a QA request: {line[:80]!r}")
    return {**fields, "memories": memories}


def parse_verdict(text: str) -> bool:
    """True for CORRECT; the first of CORRECT / WRONG in the reply counts, and neither means WRONG."""
    match = _VERDICT.search(text.upper())
    return match is not None and match.group(1) == "CORRECT"


def answer_and_judge(llm: LLM, question: str, gold: str, memories: Sequence[str]) -> Graded:
    """Answer `question` from `memories` with `llm`, then have the same LLM judge it against `gold`."""
    answer_request = build_answer_request(question, memories)
    answer = _plain(llm, answer_request, ANSWER_TOKENS).strip()
    verdict = _plain(llm, build_judge_request(question, gold, answer), JUDGE_TOKENS)
    return Graded(answer, parse_verdict(verdict))


def _plain(llm: LLM, messages: list[dict[str, str]], max_tokens: int) -> str:
    """A plain-text answer of at most `max_tokens` tokens."""
    return llm.complete(messages, json_output=False, answer_format=AnswerFormat({}, max_tokens)).text
