"""Two launches of one clip at the same moment each import it: neither may fail, and the
uploads folder ends with one whole file (backend/operations/inputs.py publish_copy)."""

from __future__ import annotations

import threading

from backend.operations.inputs import publish_copy


def test_many_writers_of_one_content_all_succeed_and_leave_one_whole_file(tmp_path):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"x" * 4_000_000)
    dest = tmp_path / "uploads" / "abc.mp4"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def write() -> None:
        start.wait()
        try:
            publish_copy(src, dest)
        except BaseException as exc:  # the shared `.part` name raised FileNotFoundError here
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["abc.mp4"]  # no temporary left
