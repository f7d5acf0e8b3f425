"""probe_video asks ffmpeg once per version of a file, and again when the file changes."""

from __future__ import annotations

import os

import pytest

from backend import media


@pytest.fixture
def ffmpeg_calls(monkeypatch):
    calls = []
    real = media._ffmpeg

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(media, "_ffmpeg", counting)
    return calls


def test_the_same_file_is_probed_once(tmp_path, ffmpeg_calls):
    clip = media.make_test_clip(tmp_path / "a.mp4", width=64, height=48, frames=6)
    ffmpeg_calls.clear()
    first = media.probe_video(clip)
    assert media.probe_video(str(clip)) == first == media.probe_video(clip)
    assert (first.width, first.height, first.frames) == (64, 48, 6)
    assert len(ffmpeg_calls) == 1


def test_a_replaced_file_is_probed_again(tmp_path, ffmpeg_calls):
    clip = media.make_test_clip(tmp_path / "a.mp4", width=64, height=48, frames=6)
    assert media.probe_video(clip).frames == 6
    other = media.make_test_clip(tmp_path / "b.mp4", width=96, height=64, frames=9)
    os.replace(other, clip)  # how our files change: written whole, moved into place
    again = media.probe_video(clip)
    assert (again.width, again.frames) == (96, 9)


def test_a_failed_probe_is_not_remembered(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(media.MediaError):
        media.probe_video(bad)
    clip = media.make_test_clip(tmp_path / "c.mp4", width=64, height=48, frames=6)
    os.replace(clip, bad)
    assert media.probe_video(bad).frames == 6
