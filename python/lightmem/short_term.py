"""Short-term memory: topic segments become memory units, one LLM call per batch of segments.

The buffer itself is `short_term_buffer.ShortTermBuffer`, persisted by the store so that a restart or a
crash loses nothing; this module owns the extraction step and the policy around the LLM's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Optional

from lightmem.llm import LLM, OfflineLLM
from lightmem.prompts import InvalidLLMOutput, Turn, build_extract_request, parse_extract_response
from lightmem.sensory import CompressedTurn, has_content
from lightmem.types import ExtractedUnit

logger = logging.getLogger("lightmem")


class ShortTermMemory:
    """Extracts memory units from topic segments with an LLM.

    An answer that fails validation is asked for once more; if it fails again, the segments are
    stored as extractive units (by the offline backend) rather than dropped. A valid answer may skip
    turns, but not a whole segment that has content (`sensory.has_content`: more than fillers,
    greetings and pleasantries): a segment none of whose turns any unit of the answer cites is stored
    as extractive units too, so that an empty answer never silently discards acknowledged messages.
    An `LLMError` (server unreachable, retries exhausted) propagates, so the caller keeps the segments
    in the buffer.
    """

    def __init__(self, llm: LLM, batch_segments: int = 1, fallback: Optional[LLM] = None) -> None:
        """`fallback`: the extractive backend (an `OfflineLLM`, or one wrapping it), a new one if None."""
        if batch_segments < 1:
            raise ValueError(f"batch_segments must be >= 1, got {batch_segments}")
        self._llm = llm
        self._batch_segments = batch_segments
        self._fallback = OfflineLLM() if fallback is None else fallback

    def extract(self, segments: Sequence[Sequence[CompressedTurn]]) -> list[ExtractedUnit]:
        """Memory units of all `segments`, in segment order."""
        units: list[ExtractedUnit] = []
        for start in range(0, len(segments), self._batch_segments):
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
                for segment in segments[start : start + self._batch_segments]
            ]
            units.extend(self._extract_batch(batch))
        return units

    def _extract_batch(self, batch: list[list[Turn]]) -> list[ExtractedUnit]:
        request = build_extract_request(batch)
        for attempt in (1, 2):
            answer = self._llm.complete(request)
            try:
                units = parse_extract_response(answer.text, batch)
            except InvalidLLMOutput as err:
                logger.warning("LLM extraction answer was invalid (attempt %d of 2): %s", attempt, err)
                continue
            return units + self._uncited(batch, units)
        logger.warning("storing %d segment(s) as extractive units after two invalid answers", len(batch))
        return self._extractive(batch)

    def _uncited(self, batch: list[list[Turn]], units: Sequence[ExtractedUnit]) -> list[ExtractedUnit]:
        """Extractive units of the segments with content of which no unit cites any turn."""
        cited = {turn_id for unit in units for turn_id in unit.source}
        skipped = [
            segment
            for segment in batch
            if not any(turn.id in cited for turn in segment)
            and has_content(" ".join(turn.text for turn in segment))
        ]
        if skipped:
            logger.warning(
                "the LLM answer cites no turn of %d segment(s) with content: stored as extractive units",
                len(skipped),
            )
        return self._extractive(skipped) if skipped else []

    def _extractive(self, segments: list[list[Turn]]) -> list[ExtractedUnit]:
        """The units of `segments` as the offline backend extracts them: one per turn, word for word."""
        return parse_extract_response(self._fallback.complete(build_extract_request(segments)).text, segments)
