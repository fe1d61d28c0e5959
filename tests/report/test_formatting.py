"""arerec.report.formatting: the one number formatter of the pages, the index, the LaTeX tables and check."""

from __future__ import annotations

import math

from arerec.report import formatting
from arerec.report.formatting import MINUS, NBSP


def test_a_difference_and_its_interval_have_one_precision_and_no_non_zero_value_reads_as_zero():
    assert formatting.signed(-0.0012, 0.0048) == f"{MINUS}0.0012{NBSP}±{NBSP}0.0048"
    assert formatting.signed(0.0031, low=-0.001, high=0.0072) == f"+0.0031 ({MINUS}0.0010 to +0.0072)"
    assert formatting.signed(-0.00001, 0.0048) == f"{MINUS}0.00001{NBSP}±{NBSP}0.00480"  # not −0.0000
    assert formatting.signed(0.0, 0.0) == f"0.0000{NBSP}±{NBSP}0.0000"  # an exact zero has no sign
    assert formatting.signed(0.0123) == "+0.0123" and formatting.signed(math.nan) == "–"


def test_a_mean_and_its_interval():
    assert formatting.interval(0.5621, 0.0043) == f"0.562{NBSP}±{NBSP}0.004"
    assert formatting.interval(0.5621, None) == "0.562"  # one seed: no interval
    assert formatting.interval(math.nan, 0.1) == "n/a"
    assert formatting.pair_decimals(0.56, [0.0004]) == 4 and formatting.pair_decimals(0.56, [0.0]) == 3
    # equal seeds leave floating-point noise, not an interval: 0.804 ± 0.000, not 0.803510 ± 3.38e−16
    assert formatting.pair_decimals(0.80351, [3.38e-16]) == 3
    assert formatting.interval(0.80351, 3.38e-16) == f"0.804{NBSP}±{NBSP}0.000"


def test_numbers_in_cells():
    assert formatting.number(True) == "yes" and formatting.number(None) == "–"
    assert formatting.number(18944) == f"18{NBSP}944" and formatting.number(9999) == "9999"
    assert formatting.number(-0.049, 3) == f"{MINUS}0.049" and formatting.number(-0.0004, 3) == f"{MINUS}0.0004"
    assert formatting.number(-1e-9, 3) == f"{MINUS}1e{MINUS}09"
    assert formatting.significant(2.27e-08) == f"2.27e{MINUS}08" and formatting.significant(16.0) == "16"
    assert formatting.decimals([0.5082, 0.25]) == 3 and formatting.decimals([106.04, 12.5]) == 1


def test_p_values_durations_hashes_and_check_values():
    assert formatting.p_value(0.0123) == "0.012" and formatting.p_value(1e-6) == f"<{NBSP}0.001"
    assert formatting.p_value(None) == "n/a"
    assert formatting.duration(75.0) == "1 min 15 s" and formatting.duration(9469) == "2 h 37 min"
    assert formatting.duration(None) == "–"
    assert formatting.short_hash("a" * 40) == "a" * 12
    assert formatting.text(1.23456789) == "1.23457" and formatting.text("x" * 60) == "'" + "x" * 39 + "…xx'"
