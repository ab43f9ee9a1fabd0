"""What the benchmark scripts share: a vocabulary for synthetic chat text, and the pytest checks and
pytest-benchmark timings of a table of kernel cases (a Rust call, its numpy version, and a check that
the two agree)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

Case = tuple[Callable[[], Any], Callable[[], Any], Callable[[Any, Any], None]]
"""(Rust kernel call, numpy version of it, check(rust result, numpy result) raising when they differ)."""

VOCABULARY = """
I we you she he they went go bought read painted visited called told asked planned moved started finished
loved liked hated felt thought remembered yesterday today tomorrow last next week month year summer weekend
morning evening the a my our her his their new old big small favourite first great lovely difficult
camping trip beach mountains museum concert library school office garden kitchen park city lake river
friend friends family mother father sister brother kids dog cat neighbour teacher doctor team group
book books painting pottery guitar piano running hiking swimming cooking dinner lunch coffee cake job
interview conference project support adoption career counselling workshop festival parade wedding birthday
with about at in on to for from after before because and but so really very quite also again still just
""".split()
"""Everyday words of chat turns, for text-shaped inputs of a controlled length."""


def kernel_tests(cases: dict[str, Case], rounds: Optional[int] = None) -> tuple[Callable[..., None], ...]:
    """The pytest functions of a bench module: `test_numpy_version_agrees` (per case) and `test_kernel`
    (per case and implementation, timed by pytest-benchmark; `rounds` fixes the number of rounds of
    slow kernels). Assign them to module-level names starting with `test_`."""

    @pytest.mark.parametrize("name", list(cases))
    def test_numpy_version_agrees(name: str) -> None:
        rust, numpy_version, check = cases[name]
        check(rust(), numpy_version())

    @pytest.mark.parametrize("implementation", ["rust", "numpy"])
    @pytest.mark.parametrize("name", list(cases))
    def test_kernel(benchmark: BenchmarkFixture, name: str, implementation: str) -> None:
        benchmark.group = name
        rust, numpy_version, _ = cases[name]
        call = rust if implementation == "rust" else numpy_version
        if rounds is None:
            benchmark(call)
        else:
            benchmark.pedantic(call, rounds=rounds, warmup_rounds=1)

    return test_numpy_version_agrees, test_kernel
