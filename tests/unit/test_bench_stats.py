"""The benchmark's statistics and formatting helpers (bench/stats.py): pure, so tested alone."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from bench.stats import (ERROR, MEETS, MISSES, Goal, format_ratio, format_summary,
                         format_value, median, paired_ratio, percentile, ratio, render_table,
                         summarize, verdict)


# -- percentiles ------------------------------------------------------------------------------
def test_percentile_interpolates_between_closest_ranks():
    data = [1, 2, 3, 4]
    assert percentile(data, 0) == 1
    assert percentile(data, 100) == 4
    assert percentile(data, 50) == 2.5
    assert percentile(data, 25) == pytest.approx(1.75)
    assert percentile(list(range(1, 21)), 95) == pytest.approx(19.05)


def test_percentile_ignores_input_order_and_handles_one_value():
    assert percentile([9, 1, 5], 50) == 5
    assert percentile([7.5], 95) == 7.5


def test_percentile_matches_statistics_quantiles_inclusive():
    rng = random.Random(1)
    data = [rng.random() for _ in range(37)]
    cuts = statistics.quantiles(data, n=20, method="inclusive")
    assert percentile(data, 95) == pytest.approx(cuts[-1])
    assert percentile(data, 50) == pytest.approx(statistics.median(data))


def test_percentile_refuses_nothing_and_bad_q():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)
    with pytest.raises(ValueError):
        percentile([1], -1)


def test_median_of_even_and_odd_counts():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


# -- summaries ----------------------------------------------------------------------------------
def test_summarize_min_median_max_and_percentiles():
    s = summarize([5, 1, 3, 2, 4])
    assert (s.n, s.min, s.median, s.max, s.p50, s.mean) == (5, 1, 3, 5, 3, 3)
    assert s.p95 == pytest.approx(4.8)
    assert s.get("p95") == s.p95
    assert s.to_dict()["median"] == 3
    with pytest.raises(ValueError):
        s.get("p99")
    with pytest.raises(ValueError):
        summarize([])


# -- ratios and verdicts ------------------------------------------------------------------------
def test_ratio_is_ours_over_baseline_and_none_when_undefined():
    assert ratio(90, 100) == 0.9
    assert ratio(None, 1) is None
    assert ratio(1, None) is None
    assert ratio(1, 0) is None


def test_format_ratio_three_significant_figures():
    assert format_ratio(0.9) == "0.900x"
    assert format_ratio(1.234) == "1.23x"
    assert format_ratio(12.34) == "12.3x"
    assert format_ratio(282.4) == "282x"
    assert format_ratio(0.0843) == "0.0843x"
    assert format_ratio(0) == "0x"
    assert format_ratio(None) == "-"
    assert format_ratio(float("nan")) == "-"
    assert format_ratio(math.inf) == "inf"


def test_goal_on_ours_and_on_ratio():
    latency = Goal("ours", "<=", 0.010, "s")
    assert verdict(latency, 0.004, 0.1) == MEETS
    assert verdict(latency, 0.010, 0.1) == MEETS  # the bound itself meets
    assert verdict(latency, 0.011, 0.1) == MISSES
    speed = Goal("ratio", ">=", 0.9)
    assert verdict(speed, 50.0, 0.95) == MEETS
    assert verdict(speed, 50.0, 0.89) == MISSES
    assert verdict(speed, 50.0, None) == ERROR  # no baseline: no verdict, never a pass


def test_goal_text_and_validation():
    assert Goal("ratio", ">=", 0.9).text() == ">= 0.900x"
    assert Goal("ours", "<=", 0.5, "s").text("p95") == "p95 <= 500 ms"
    assert Goal("ours", "<=", 1.0, "s").text() == "<= 1.00 s"
    assert Goal("ours", "<=", 0, "B").text() == "<= 0 B"
    with pytest.raises(ValueError):
        Goal("baseline", ">=", 1)
    with pytest.raises(ValueError):
        Goal("ours", "<", 1)


# -- formatting ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value, unit, text", [
    (0.00257, "s", "2.57 ms"),
    (0.000308, "s", "308 us"),
    (0.497, "s", "497 ms"),
    (1.234, "s", "1.23 s"),
    (12.0, "s", "12.0 s"),
    (193.4e6, "B/s", "193 MB/s"),
    (0, "B", "0 B"),
    (1536, "B", "1.50 KiB"),
    (64 << 20, "B", "64.0 MiB"),
    (256 << 20, "B", "256 MiB"),
    (3 << 30, "B", "3.00 GiB"),
    (21.5, "/min", "21.5 /min"),
    (None, "s", "-"),
])
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


def test_format_summary_median_with_range_or_percentiles():
    s = summarize([0.1, 0.2, 0.3])
    assert format_summary(s, "s") == "200 ms [100-300]"
    assert format_summary(s, "s", "p95") == "p50 200 ms / p95 290 ms"
    assert format_summary(summarize([2.0]), "s") == "2.00 s"
    assert format_summary(None, "s") == "-"


def test_render_table_pads_columns_under_a_rule():
    text = render_table(("row", "ours"), [("a", "1"), ("longer", "22")])
    lines = text.splitlines()
    assert lines[0] == "row     ours"
    assert lines[1] == "------  ----"
    assert lines[2] == "a       1"
    assert lines[3] == "longer  22"


def test_paired_ratio_is_the_median_of_pair_ratios():
    # the machine slowed down between pairs 1 and 3; each pair still says "twice as slow"
    assert paired_ratio([2, 4, 8], [1, 2, 4]) == 2
    assert paired_ratio([3, 1, 2], [1, 1, 1]) == 2
    assert paired_ratio([1, 2], [1]) is None  # not pairs
    assert paired_ratio([], []) is None
    assert paired_ratio([1], [0]) is None
