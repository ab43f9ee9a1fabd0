"""Short-term memory: topic segments become memory units, one LLM call per batch of segments.

The buffer itself is `short_term_buffer.ShortTermBuffer`, persisted by the store so that a restart or a
crash loses nothing; this module owns the extraction step and the policy around the LLM's answer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Optional

from lightmem.answer_words import long_words
from lightmem.llm import LLM, Completion, OfflineLLM
from lightmem.prompts import (
    RETRY_CUT_OFF,
    RETRY_NO_VALID_ITEM,
    RETRY_NOT_JSON,
    RETRY_TOO_MANY,
    ExtractAnswer,
    InvalidLLMOutput,
    TooManyItems,
    Turn,
    build_extract_request,
    build_retry_request,
    extract_answer_format,
    log_extract_answer,
    parse_extract_response,
    read_extract_answer,
)
from lightmem.sensory import CompressedTurn, has_content
from lightmem.types import ExtractedUnit

logger = logging.getLogger("lightmem")


class ShortTermMemory:
    """Extracts memory units from topic segments with an LLM.

    Each request carries its answer's JSON schema and token budget. The valid units of an answer are
    kept, whatever is wrong with its other items (those are dropped and counted). An answer with no usable
    unit (not JSON, every item invalid, too many items) is asked for once more, with a note saying what was
    wrong (never the same request twice); if the second answer is no better, the segments are stored as
    extractive units (by the offline backend) rather than dropped. A valid answer may skip turns, but not
    a turn that has content (`sensory.has_content`: more than fillers, greetings and pleasantries): a turn
    with content that no unit of the answer cites is stored as an extractive unit too, so that an answer
    never silently discards acknowledged messages. An `LLMError`
    (server unreachable, retries exhausted) propagates, so the caller keeps the segments in the buffer.

    `counts` adds up what the extraction cost beyond its LLM calls: ``llm_retries`` (second requests after
    an unusable answer), ``llm_items_dropped`` (invalid items of answers), ``fallback_units`` (units stored
    extractively in place of the model's).
    """

    def __init__(
        self,
        llm: LLM,
        batch_segments: int = 1,
        fallback: Optional[LLM] = None,
        batch_words: Optional[int] = None,
    ) -> None:
        """`batch_segments`, `batch_words`: the most segments, and words (of the messages as said), that one
        LLM call extracts (a segment longer than `batch_words` goes alone; None: no word bound).
        `fallback`: the extractive backend (an `OfflineLLM`, or one wrapping it), a new one if None."""
        if batch_segments < 1:
            raise ValueError(f"batch_segments must be >= 1, got {batch_segments}")
        self._llm = llm
        self._batch_segments = batch_segments
        self._batch_words = batch_words
        self._fallback = OfflineLLM() if fallback is None else fallback
        self.counts: Counter[str] = Counter()

    def extract(self, segments: Sequence[Sequence[CompressedTurn]]) -> list[ExtractedUnit]:
        """Memory units of all `segments`, in segment order."""
        units: list[ExtractedUnit] = []
        for segments_of_call in self._batches(segments):
            batch = [
                [
                    Turn(
                        id=turn.message.id,
                        speaker=turn.message.speaker or turn.message.role,
                        time=turn.message.timestamp,
                        text=turn.text,
                    )
                    for turn in segment
                ]
                for segment in segments_of_call
            ]
            units.extend(self._extract_batch(batch))
        return units

    def _batches(
        self, segments: Sequence[Sequence[CompressedTurn]]
    ) -> Iterator[Sequence[Sequence[CompressedTurn]]]:
        """`segments` in order, cut into the batches of one LLM call each: at most `batch_segments`
        segments and, past the first segment, `batch_words` words. A buffer that grew while the LLM
        worked (background extraction, a failed flush) is extracted in calls of the usual size, not in
        one call that a small model reads worse."""
        batch: list[Sequence[CompressedTurn]] = []
        words = 0
        for segment in segments:
            size = sum(len(turn.message.content.split()) for turn in segment)
            full = len(batch) == self._batch_segments
            if batch and (full or (self._batch_words is not None and words + size > self._batch_words)):
                yield batch
                batch, words = [], 0
            batch.append(segment)
            words += size
        if batch:
            yield batch

    def _extract_batch(self, batch: list[list[Turn]]) -> list[ExtractedUnit]:
        request = build_extract_request(batch)
        answer_format = extract_answer_format(batch)
        messages = request
        for attempt in (1, 2):
            completion = self._llm.complete(messages, answer_format=answer_format)
            answer, why = self._read(completion, batch)
            if answer is not None:
                units = _distinct(answer.units)
                return units + self._uncited(batch, units)
            logger.warning("LLM extraction answer was unusable (attempt %d of 2): %s", attempt, why)
            if attempt == 1:
                self.counts["llm_retries"] += 1
                messages = build_retry_request(request, why)
        logger.warning("storing %d segment(s) as extractive units after two unusable answers", len(batch))
        return self._extractive(batch)

    def _read(self, completion: Completion, batch: list[list[Turn]]) -> tuple[Optional[ExtractAnswer], str]:
        """The answer when it is usable (some valid unit, or no item at all), else why it is not (one of
        the ``RETRY_*`` texts). Dropped items are logged and counted either way."""
        try:
            answer = read_extract_answer(completion.text, batch)
        except TooManyItems as err:
            logger.warning("LLM extraction answer refused: %s", err)
            return None, RETRY_TOO_MANY
        except InvalidLLMOutput as err:
            logger.warning("LLM extraction answer unreadable: %s", err)
            return None, RETRY_CUT_OFF if completion.truncated else RETRY_NOT_JSON
        log_extract_answer(answer)
        self.counts["llm_items_dropped"] += len(answer.problems)
        if answer.units or not answer.problems:
            return answer, ""
        return None, RETRY_CUT_OFF if completion.truncated else RETRY_NO_VALID_ITEM

    def _uncited(self, batch: list[list[Turn]], units: Sequence[ExtractedUnit]) -> list[ExtractedUnit]:
        """Extractive units of the turns with content that no unit cites sharing a word with it (a unit
        "ok" citing every turn, or another conversation's words citing a turn, stood for turns it lost);
        a turn without a word of three letters ("42", "9am") is cited by any unit that cites it."""
        words = {turn.id: long_words(turn.text) for segment in batch for turn in segment}
        cited = {
            turn_id
            for unit in units
            for turn_id in unit.source
            if not words.get(turn_id) or words[turn_id] & long_words(unit.text)
        }
        skipped = [
            turns
            for segment in batch
            if (turns := [turn for turn in segment if turn.id not in cited and has_content(turn.text)])
        ]
        if skipped:
            logger.warning(
                "the LLM answer cites no memory for %d turn(s) with content: stored as extractive units",
                sum(map(len, skipped)),
            )
        return self._extractive(skipped) if skipped else []

    def _extractive(self, segments: list[list[Turn]]) -> list[ExtractedUnit]:
        """The units of `segments` as the offline backend extracts them: one per turn, word for word
        (marked `extractive`, and counted as ``fallback_units``)."""
        answer = self._fallback.complete(build_extract_request(segments))
        units = [replace(unit, extractive=True) for unit in parse_extract_response(answer.text, segments)]
        self.counts["fallback_units"] += len(units)
        return units


def _distinct(units: Sequence[ExtractedUnit]) -> list[ExtractedUnit]:
    """`units` with each text once (a unit repeating an earlier one's text adds its turns to it)."""
    by_text: dict[str, ExtractedUnit] = {}
    for unit in units:
        first = by_text.get(unit.text)
        by_text[unit.text] = (
            unit if first is None else replace(first, source=tuple(dict.fromkeys(first.source + unit.source)))
        )
    return list(by_text.values())
