"""`lightmem-bench`, the command line of the benchmarks: `lightmem-bench locomo FILE...` runs the LoCoMo
harness (`lightmem-bench locomo --help` lists its options)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Callable, Optional

from lightmem_bench import locomo

SUITES: dict[str, Callable[[Sequence[str]], int]] = {"locomo": locomo.main}
"""Benchmark name -> its own `main(argv) -> exit code`."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the named benchmark with the remaining arguments; returns its exit code."""
    parser = argparse.ArgumentParser(
        prog="lightmem-bench", description="Benchmarks of lightmem (see benches/README.md)."
    )
    parser.add_argument("suite", choices=sorted(SUITES), help="which benchmark")
    parser.add_argument("suite_args", nargs=argparse.REMAINDER, help="the benchmark's own arguments")
    args = parser.parse_args(argv)
    return SUITES[args.suite](args.suite_args)


if __name__ == "__main__":
    raise SystemExit(main())
