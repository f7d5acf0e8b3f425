"""Image sequences -> a run's videos: real files made here (Pillow, OpenEXR), real ffmpeg, the
videos probed and decoded back."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from backend import media
from backend.operations import ValidationFailed
from backend.prepare import frames as fr
from backend.wiring import start_backend
from tests.helpers import make_settings

W, H = 64, 48


@pytest.fixture
def ops(tmp_path):
    backend = start_backend(make_settings(tmp_path), with_scheduler=False)
    yield backend.ops
    backend.close()


def png_sequence(folder: Path, prefix: str = "shot.", count: int = 30, first: int = 1001,
                 size: tuple[int, int] = (W, H), grey: bool = False) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        value = (i * 8) % 256
        mode, colour = ("L", value) if grey else ("RGB", (value, 255 - value, 128))
        path = folder / f"{prefix}{first + i:04d}.png"
        Image.new(mode, size, colour).save(path)
        paths.append(path)
    return paths


def write_exr(path: Path, channels: dict[str, np.ndarray]) -> None:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {k: v.astype(np.float32) for k, v in channels.items()}) as exr:
        exr.write(str(path))


def decoded(video: str | Path, width: int, height: int) -> np.ndarray:
    """Every frame of a video as uint8 RGB, N x H x W x 3 (ffmpeg decodes)."""
    raw = subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-i", str(video), "-f",
                          "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True,
                         check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def errors_of(exc: pytest.ExceptionInfo) -> str:
    return " | ".join(f"{e.field}: {e.message}" for e in exc.value.errors)


def test_thirty_png_frames_become_thirty_frames_at_the_given_fps(ops, tmp_path):
    png_sequence(tmp_path / "plate")
    out = tmp_path / "out" / "plate.mp4"
    result = ops.prepare_sequence(tmp_path / "plate", fps="24000/1001", output=out)
    info = media.probe_video(out)
    assert info.frames == 30 and (info.width, info.height) == (W, H)
    assert info.fps == pytest.approx(24000 / 1001, abs=0.01)  # ffmpeg prints 23.98
    assert result["fps"] == "24000/1001"
    assert result["input"]["pattern"] == "shot.%04d.png"
    assert (result["input"]["first"], result["input"]["last"]) == (1001, 1030)
    assert result["controls"] == {}
    # the frames are the frames, in order: frame i's red channel is i * 8
    reds = decoded(out, W, H)[:, H // 2, W // 2, 0].astype(int)
    assert np.abs(reds - np.arange(30) * 8).max() <= 3


def test_a_range_keeps_only_those_frames(ops, tmp_path):
    png_sequence(tmp_path / "plate")
    result = ops.prepare_sequence(tmp_path / "plate", fps=25, output=tmp_path / "a.mp4",
                                  start=1005, end=1014)
    assert result["input"]["frames"] == 10 == media.probe_video(tmp_path / "a.mp4").frames
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(tmp_path / "plate", fps=25, output=tmp_path / "b.mp4", end=1100)
    assert "frames 1001-1030" in errors_of(err) and errors_of(err).startswith("end:")


def test_a_gap_is_reported_with_the_missing_numbers(ops, tmp_path):
    paths = png_sequence(tmp_path / "plate")
    for n in (1005, 1006, 1017):
        paths[n - 1001].unlink()
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(tmp_path / "plate", fps=24, output=tmp_path / "x.mp4")
    message = errors_of(err)
    assert "3 missing: 1005-1006, 1017" in message and "--start/--end" in message
    assert not (tmp_path / "x.mp4").exists()
    # a range that avoids the gaps is fine
    ops.prepare_sequence(tmp_path / "plate", fps=24, output=tmp_path / "y.mp4", start=1018)
    assert media.probe_video(tmp_path / "y.mp4").frames == 13


def test_hdr_exr_is_tone_mapped_into_range(ops, tmp_path):
    folder = tmp_path / "exr"
    folder.mkdir()
    for i in range(6):
        rgb = np.zeros((H, W, 3))
        rgb[:, : W // 2] = 4.0 + i  # far above 1.0
        rgb[:, W // 2:] = 0.18  # mid grey
        write_exr(folder / f"beauty.{i:04d}.exr", {"RGB": rgb})
    out = tmp_path / "exr.mp4"
    result = ops.prepare_sequence(folder, fps=24, output=out)
    assert result["input"]["frames"] == 6 and "reinhard" in result["input"]["conversion"]
    video = decoded(out, W, H).astype(int)
    # Reinhard then sRGB: 4.0 -> 0.8 -> 231; 0.18 -> 0.1525 -> 109 (never clipped to 255)
    assert abs(video[0, H // 2, 4, 1] - 231) <= 3
    assert abs(video[0, H // 2, W - 4, 1] - 109) <= 3
    assert video[:, :, : W // 2].max() < 250  # the highlights kept their detail
    assert video[5, H // 2, 4, 1] > video[0, H // 2, 4, 1]  # brighter stays brighter
    # the same by the frame function, exactly
    assert fr.to_bytes(fr.srgb_encode(fr.tonemap(np.array([4.0]), "reinhard")))[0] == 231
    assert fr.to_bytes(fr.srgb_encode(fr.tonemap(np.array([4.0]), "clamp")))[0] == 255
    assert fr.to_bytes(fr.srgb_encode(fr.tonemap(np.array([np.nan, -1.0]), "clamp"))).tolist() \
        == [0, 0]


def test_beauty_with_depth_and_seg_becomes_input_and_two_controls(ops, tmp_path):
    shot = tmp_path / "shot"
    png_sequence(shot, "shot.", count=12)
    (shot / "depth").mkdir()
    for i in range(12):
        z = np.tile(np.linspace(1.0, 10.0, W), (H, 1))  # near on the left, far on the right
        z[:4] = np.inf  # sky: no surface
        write_exr(shot / "depth" / f"shot.{1001 + i:04d}.exr", {"Z": z})
    png_sequence(shot, "shot_seg.", count=12)
    result = ops.prepare_sequence(shot, fps=24, output=tmp_path / "shot.mp4")
    assert set(result["controls"]) == {"depth", "seg"}
    assert result["controls"]["depth"]["path"] == str(tmp_path / "shot.depth.mp4")
    for video in [result["input"], *result["controls"].values()]:
        info = media.probe_video(video["path"])
        assert (info.frames, info.width, info.height) == (12, W, H)
    depth = decoded(tmp_path / "shot.depth.mp4", W, H).astype(int)
    row = depth[0, H // 2, :, 0]
    inverse = 1 / np.linspace(1.0, 10.0, W)
    expected = np.round((inverse - inverse.min()) / (inverse.max() - inverse.min()) * 255)
    assert np.abs(row - expected).max() <= 4  # 1/Z over the sequence: near bright, far dark
    assert row[0] > 245 and row[-1] < 10
    assert depth[0, 1, W // 2, 0] < 15  # no surface: far, dark
    assert "near bright" in result["controls"]["depth"]["conversion"]


def test_mixed_sizes_are_refused_naming_the_frame(ops, tmp_path):
    paths = png_sequence(tmp_path / "plate", count=10)
    Image.new("RGB", (W * 2, H), (0, 0, 0)).save(paths[6])
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(tmp_path / "plate", fps=24, output=tmp_path / "x.mp4")
    assert f"shot.1007.png (beauty) is {W * 2}x{H}" in errors_of(err)
    assert "one size" in errors_of(err)


def test_a_pass_short_of_frames_or_of_another_size_is_refused(ops, tmp_path):
    shot = tmp_path / "shot"
    png_sequence(shot, "shot.", count=10)
    png_sequence(shot, "shot_depth.", count=9, grey=True)
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(shot, fps=24, output=tmp_path / "x.mp4")
    assert "depth pass shot_depth.%04d.png lacks frames" in errors_of(err)
    assert "1010" in errors_of(err)
    png_sequence(shot, "shot_depth.", count=10, grey=True, size=(W, H + 2))
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(shot, fps=24, output=tmp_path / "x.mp4")
    assert "(depth) is 64x50" in errors_of(err)


def test_non_images_are_named(ops, tmp_path):
    paths = png_sequence(tmp_path / "plate", count=5)
    paths[2].write_text("not a picture")
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(tmp_path / "plate", fps=24, output=tmp_path / "x.mp4")
    assert "shot.1003.png is not an image" in errors_of(err)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("hi")
    (docs / "clip.mov").write_bytes(b"\0" * 10)
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(docs, fps=24, output=tmp_path / "x.mp4")
    assert "no image sequence in docs" in errors_of(err)
    assert "clip.mov, notes.txt" in errors_of(err)
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(docs / "notes.txt", fps=24)
    assert "a single file" in errors_of(err)


@pytest.mark.parametrize("fps,words", [("0", "from 1 to 240"), ("abc", "24000/1001"),
                                       ("24/0", "not valid"), ("", "(empty)"),
                                       ("nan", "not valid")])
def test_bad_fps_says_what_is_allowed(ops, tmp_path, fps, words):
    png_sequence(tmp_path / "plate", count=2)
    with pytest.raises(ValidationFailed) as err:
        ops.prepare_sequence(tmp_path / "plate", fps=fps, output=tmp_path / "x.mp4")
    assert errors_of(err).startswith("fps:") and words in errors_of(err)


def test_start_after_end_and_bad_numbers(ops, tmp_path):
    png_sequence(tmp_path / "plate", count=3)
    with pytest.raises(ValidationFailed, match="before start"):
        ops.prepare_sequence(tmp_path / "plate", fps=24, start=1003, end=1001)
    with pytest.raises(ValidationFailed, match="a frame number"):
        ops.prepare_sequence(tmp_path / "plate", fps=24, start="first")


def test_a_zip_is_unpacked_into_the_uploads_and_a_hostile_one_refused(ops, tmp_path):
    png_sequence(tmp_path / "plate", count=4)
    archive = tmp_path / "plate.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted((tmp_path / "plate").iterdir()):
            zf.write(p, f"plate/{p.name}")
        zf.writestr("plate/readme.txt", "hello")
    result = ops.prepare_sequence(archive, fps=24)
    made = Path(result["input"]["path"])
    assert made.is_relative_to(ops.settings.uploads_dir) and made.name == "plate.mp4"
    assert media.probe_video(made).frames == 4
    assert not any((ops.settings.uploads_dir / "sequences").iterdir())  # frames not kept
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escape.0001.png", "x")
    with pytest.raises(ValidationFailed, match="outside the zip"):
        ops.prepare_sequence(bad, fps=24)
    assert not (ops.settings.uploads_dir.parent / "escape.0001.png").exists()


def test_the_web_app_reads_only_folders_under_its_input_roots(tmp_path):
    from backend.operations import Operations

    settings = make_settings(tmp_path)
    png_sequence(tmp_path / "elsewhere", count=2)
    backend = start_backend(settings, with_scheduler=False,
                            input_roots=[settings.uploads_dir])
    try:
        assert isinstance(backend.ops, Operations)
        with pytest.raises(ValidationFailed, match="Not an allowed input"):
            backend.ops.prepare_sequence(tmp_path / "elsewhere", fps=24)
    finally:
        backend.close()


def test_pass_patterns_are_configurable_and_validated(tmp_path):
    from backend.config import ConfigError

    settings = make_settings(tmp_path, extra_top='[prepare]\npasses = { depth = ["*_z*"] }\n'
                             'tonemap = "clamp"')
    assert settings.prepare.passes == {"depth": ("*_z*",)}
    assert settings.prepare.tonemap == "clamp"
    for bad, word in (('passes = { normals = ["*n*"] }', "controls from vis, edge"),
                      ('passes = { depth = [] }', "glob patterns"),
                      ('tonemap = "aces"', "reinhard, clamp"), ("exposure = 99", "stops")):
        with pytest.raises(ConfigError, match=word):
            make_settings(tmp_path, extra_top=f"[prepare]\n{bad}")


def test_odd_sizes_are_padded_and_said_and_16_bit_depth_is_scaled(ops, tmp_path):
    shot = tmp_path / "odd"
    png_sequence(shot, "shot.", count=3, size=(63, 47))
    shot.joinpath("depth").mkdir()
    for i in range(3):  # a 16-bit grey depth pass, already drawn near-bright
        Image.fromarray(np.full((47, 63), 65535 if i == 0 else 32896, np.uint16)).save(
            shot / "depth" / f"shot.{1001 + i:04d}.png")
    result = ops.prepare_sequence(shot, fps=24, output=tmp_path / "odd.mp4")
    assert (result["input"]["width"], result["input"]["height"]) == (64, 48)
    assert any("odd side" in note and "64x48" in note for note in result["notes"])
    depth = decoded(tmp_path / "odd.depth.mp4", 64, 48).astype(int)
    assert depth[0, 20, 20, 0] > 250 and abs(depth[1, 20, 20, 0] - 128) <= 3
    assert result["controls"]["depth"]["conversion"] == "as drawn (grey)"
