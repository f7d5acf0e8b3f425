"""Splitting a log read into stored lines: the offset always lands just past a stored line."""

from __future__ import annotations

from backend.runs.follow import complete_lines


def test_complete_lines_keep_partial_lines_and_half_crlf_for_the_next_read():
    data = b"one\n\n  0%| 0/2\r 50%| 1/2\rtwo\r\nhalf"
    lines, used = complete_lines(data, 100, final=False)
    assert [t for _, t in lines] == ["one", "  0%| 0/2", " 50%| 1/2", "two"]
    assert lines[0][0] == 100 and data[lines[3][0] - 100:].startswith(b"two")
    assert used == len(data) - len(b"half")
    # a trailing \r may be half of \r\n: the line is stored, the \r waits for the next read
    assert complete_lines(b"abc\r", 0, final=False) == ([(0, "abc")], 3)
    assert complete_lines(b"abc", 0, final=False) == ([], 0)
    assert complete_lines(b"abc", 7, final=True) == ([(7, "abc")], 3)
    assert complete_lines(b"", 0, final=True) == ([], 0)
    text, used = complete_lines("café\n".encode(), 0, final=False)
    assert text == [(0, "café")] and used == 6
