"""Question answering from retrieved memories, graded by an LLM judge (run only with a real LLM).

Both requests are chat messages: a fixed system prompt, then a user message holding a JSON object
(question, memories, gold answer). Both answers are plain text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lightmem.llm import LLM

ANSWER_SYSTEM = """\
You answer a question about a long conversation between two people, using only the memories given.
The user message is a JSON object: {"question": <the question>, "memories": [<memory, dated>, ...]}.
Answer in at most a short sentence: the fact itself (a name, a date, a place, a list), with absolute \
dates (resolve "yesterday" or "last week" against the memory's date). If the memories do not hold the \
answer, answer "unknown"."""

JUDGE_SYSTEM = """\
You grade an answer to a question about a conversation against the gold answer.
The user message is a JSON object: {"question": ..., "gold_answer": ..., "answer": ...}.
The answer is CORRECT when it states the same fact as the gold answer, even in other words, with more \
detail, or with a date in another format that denotes the same day, month or period; it is WRONG when it \
misses, contradicts or only guesses the gold answer. Reply with one word: CORRECT or WRONG."""

_VERDICT = re.compile(r"\b(CORRECT|WRONG)\b")


@dataclass(frozen=True)
class Graded:
    """One answered question: the answer given and the judge's verdict."""

    answer: str
    correct: bool


def _messages(system: str, payload: dict[str, object]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
    ]


def build_answer_request(question: str, memories: Sequence[str]) -> list[dict[str, str]]:
    """The chat messages asking an LLM to answer `question` from `memories`."""
    return _messages(ANSWER_SYSTEM, {"question": question, "memories": list(memories)})


def build_judge_request(question: str, gold: str, answer: str) -> list[dict[str, str]]:
    """The chat messages asking an LLM whether `answer` states the `gold` answer."""
    return _messages(JUDGE_SYSTEM, {"question": question, "gold_answer": gold, "answer": answer})


def parse_verdict(text: str) -> bool:
    """True for CORRECT; the first of CORRECT / WRONG in the reply counts, and neither means WRONG."""
    match = _VERDICT.search(text.upper())
    return match is not None and match.group(1) == "CORRECT"


def answer_and_judge(llm: LLM, question: str, gold: str, memories: Sequence[str]) -> Graded:
    """Answer `question` from `memories` with `llm`, then have the same LLM judge it against `gold`."""
    answer = llm.complete(build_answer_request(question, memories), json_output=False).text.strip()
    verdict = llm.complete(build_judge_request(question, gold, answer), json_output=False).text
    return Graded(answer, parse_verdict(verdict))
