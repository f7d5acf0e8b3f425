"""Frames and timecodes. Frames count from 0, like the video's own timestamps: frame N starts
at N / fps seconds, and the timecode is that start as HH:MM:SS:FF (non-drop)."""

from __future__ import annotations

import math


def frame_rate(fps: float | None) -> int:
    """The whole frame rate a timecode counts in (24 for 23.976, 30 for 29.97)."""
    return max(1, int(round(fps or 24)))


def timecode(frame: int, fps: float | None) -> str:
    rate = frame_rate(fps)
    seconds, ff = divmod(max(0, int(frame)), rate)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


def frame_at(seconds: float, fps: float) -> int:
    """The frame shown at `seconds` (a tiny tolerance absorbs float error at frame starts)."""
    return max(0, int(math.floor(seconds * fps + 1e-6)))


def frame_time(frame: int, fps: float) -> float:
    """Where a player should seek to show `frame`: its middle, so rounding never lands on the
    frame before it."""
    return (int(frame) + 0.5) / fps


def describe_range(frame: int, end_frame: int | None, fps: float | None) -> str:
    """'frame 40 (00:00:01:16)' or 'frames 40-60 (00:00:01:16-00:00:02:12)'."""
    if end_frame is None or end_frame == frame:
        return f"frame {frame} ({timecode(frame, fps)})"
    return (f"frames {frame}-{end_frame} ({timecode(frame, fps)}-"
            f"{timecode(end_frame, fps)})")
