"""relulab.display: every number a person reads, written one way."""

from __future__ import annotations

import math

import numpy as np
import pytest

from relulab import display


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -math.inf, "text"])
def test_one_mark_for_a_missing_value(missing) -> None:
    for fmt in (display.number, display.percent, display.signed_percent, display.p_value,
                display.seconds, display.short_number):
        assert fmt(missing) == display.MISSING == "–"
    assert display.spec(missing, ".2f") == display.MISSING
    assert display.interval(missing, 1.0) == ""


def test_numbers() -> None:
    assert display.number(0.5) == "0.500"  # trailing zeros kept
    assert display.number(1234.6) == "1,235"  # no 1.23e+03
    assert display.number(-12.34) == "−12.3"  # a true minus sign
    assert display.number(0.0004) == "4.00e−04"
    assert display.number(np.float64(3.0)) == "3.00"
    assert display.short_number(-12.0) == "-12.0" and display.short_number(123.4) == "123"


def test_percentages_and_p_values() -> None:
    assert display.percent(0.5) == "50%" and display.percent(0.1234, 1) == "12.3%"
    assert display.signed_percent(0.183) == "+18.3%"
    assert display.signed_percent(-0.004) == "−0.4%"
    assert display.signed_percent(-0.0001) == "0.0%"  # no sign on nothing
    assert display.p_value(0.0004) == "< 0.001" and display.p_value(0.0412) == "0.041"
    # In a sentence: "p < 0.001", never "p = < 0.001".
    assert display.p_is(display.p_value(0.0004)) == "< 0.001"
    assert display.p_is(display.p_value(0.0412)) == "= 0.041"
    assert display.metric_value(0.75, "percent") == "75%"
    assert display.metric_value(0.75, "plain") == "0.750"


def test_seconds_and_intervals() -> None:
    assert display.seconds(12.44) == "12.4 s" and display.seconds(185) == "3 min 5 s"
    assert display.interval(0.1, 0.25) == "[0.100, 0.250]"
    assert display.interval(-0.1, 0.2, display.signed_percent, sep=" to ",
                            brackets="") == "−10.0% to +20.0%"
    assert display.spec(0.123456, ".4g") == "0.1235"
