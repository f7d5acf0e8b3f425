"""The suite's file order for parallel runs (tests/durations.py): longest files first."""

from __future__ import annotations

from pathlib import Path

from tests.durations import expected_seconds, from_junit, longest_first

NODES = ["tests/unit/test_a.py::test_1", "tests/unit/test_a.py::test_2",
         "tests/e2e/test_b.py::test_1", "tests/unit/test_c.py::T::test_1",
         "tests/e2e/test_new.py::test_1", "tests/e2e/test_b.py::test_2"]


def test_files_go_longest_first_and_keep_their_tests_in_order():
    table = {"tests/unit/test_a.py": 2.0, "tests/e2e/test_b.py": 90.0,
             "tests/unit/test_c.py": 5.0, "tests/e2e/test_old.py": 30.0}
    order = [NODES[i] for i in longest_first(NODES, table)]
    # test_new.py is not in the table: its folder's median, (90 + 30) / 2 = 60
    assert order == ["tests/e2e/test_b.py::test_1", "tests/e2e/test_b.py::test_2",
                     "tests/e2e/test_new.py::test_1", "tests/unit/test_c.py::T::test_1",
                     "tests/unit/test_a.py::test_1", "tests/unit/test_a.py::test_2"]


def test_without_a_table_the_collection_order_stands():
    assert longest_first(NODES, {}) == [0, 1, 2, 5, 3, 4]  # files grouped, first seen first
    assert expected_seconds(["tests/x/test_y.py"], {"tests/unit/a.py": 4.0}) == {
        "tests/x/test_y.py": 4.0}  # an unknown folder: the table's median


def test_the_table_is_read_from_a_junit_report(tmp_path: Path):
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="tests.unit.test_durations" name="a" time="1.5"/>'
        '<testcase classname="tests.unit.test_durations" name="b" time="2.25"/>'
        '<testcase classname="tests.unit.test_durations.Some" name="c" time="1"/>'
        '<testcase classname="tests.unit.no_such_file" name="d" time="9"/>'
        '</testsuite></testsuites>')
    assert from_junit(report) == {"tests/unit/test_durations.py": 4.8}
