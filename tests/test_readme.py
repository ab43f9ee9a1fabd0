"""Every code block of README.md runs as written: each `python` block in a fresh interpreter, each `bash`
block in bash with errors fatal, both in an empty directory with the installed `lightmem` first on PATH.

A block may be left out only with a reason written just above it in README.md, as
`<!-- not run by tests: REASON -->` (installing and building are what scripts/test.sh itself does).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_NOT_RUN = re.compile(r"<!-- not run by tests: (.+?) -->\s*$")
_TIMEOUT_S = 300


class Block(NamedTuple):
    language: str
    code: str
    line: int
    skip_reason: Optional[str]


def _blocks() -> list[Block]:
    if not README.is_file():
        return []
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = _NOT_RUN.search(before)
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(match.group(1), match.group(2), line, reason.group(1) if reason else None))
    return blocks


BLOCKS = _blocks()


def test_readme_has_code_blocks_and_each_is_runnable_or_says_why_not() -> None:
    if not README.is_file():
        pytest.skip(f"{README} is not here (tests run outside the source tree)")
    assert any(block.language == "python" for block in BLOCKS)
    unknown = [(block.line, block.language) for block in BLOCKS if block.language not in ("python", "bash")]
    assert not unknown, f"README blocks must be python or bash (the test runs them): {unknown}"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.skip_reason is None], ids=lambda b: f"README.md:{b.line}:{b.language}"
)
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LIGHTMEM_", "OPENAI_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if block.language == "python":
        command = [sys.executable, "-c", block.code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"README.md:{block.line} failed:\n{result.stdout}\n{result.stderr}"
