"""`lightmem.limits.check_int`, the one integer check of arguments and settings."""

from __future__ import annotations

import math
from typing import Optional

import pytest
from lightmem.limits import MAX_RESULTS, check_int, check_limit, check_number


@pytest.mark.parametrize(
    "value, low, high, said",
    [
        (True, 0, None, "n must be an integer >= 0, got True"),
        (1.0, 0, None, "n must be an integer >= 0, got 1.0"),
        ("3", 0, None, "n must be an integer >= 0, got '3'"),
        (0, 1, None, "n must be an integer >= 1, got 0"),
        (11, 1, 10, "n must be an integer from 1 to 10, got 11"),
        ("x" * 100, 1, 10, "n must be an integer from 1 to 10, got 'x{39}$"),
    ],
)
def test_check_int_names_the_argument_and_its_bounds(
    value: object, low: int, high: Optional[int], said: str
) -> None:
    with pytest.raises(ValueError, match=said):
        check_int(value, "n", low, high)


def test_check_int_returns_the_integers_within_bounds() -> None:
    assert check_int(0, "n") == 0 and check_int(10, "n", 1, 10) == 10 and check_int(2**70, "n") == 2**70
    assert check_limit(MAX_RESULTS) == MAX_RESULTS
    with pytest.raises(ValueError, match="limit must be an integer from 1 to 1,000,000, got 0"):
        check_limit(0)


def test_check_number_names_the_interval_and_refuses_nan_and_bools() -> None:
    assert check_number(3, "n", 0.0) == 3.0 and check_number(math.inf, "n", 0.0, infinite=True) == math.inf
    for value in (True, None, "1", math.nan, -1, 2):
        with pytest.raises(ValueError, match=r"n must be in \[0, 1\], got "):
            check_number(value, "n", 0.0, 1.0)
