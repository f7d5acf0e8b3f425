"""The review room's pure parts (issue 17): drawings, timecodes, mask videos (by their pixels),
the regional prompt in the spec, and the markup the browser side reads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import accounts
from backend.models.params import GenerationParams
from backend.models.profile import JobContext, JobItem, get_profile
from backend.review.drawing import (COLOURS, DrawingError, burn_in, drawing_json, fill_regions,
                                    parse_drawing, regions)
from backend.review.mask import MaskError, check_mask_request, read_gray_frames, write_mask_video
from backend.review.regenerate import RegionMaskRefused, mask_into_params, mask_of, region_refusal
from backend.review.timecode import describe_range, frame_at, frame_time, timecode
from components.review_compare import compare_html
from components.review_html import composer_html, notes_html, player_html, versions_html
from tests.unit.test_components import summary

RED = COLOURS["red"]


def rect(x0, y0, x1, y1, color=RED):
    return {"tool": "rect", "color": color, "width": 0.006, "points": [[x0, y0], [x1, y1]]}


def test_timecodes_count_frames_from_zero():
    assert timecode(0, 24) == "00:00:00:00"
    assert timecode(40, 24) == "00:00:01:16"
    assert timecode(24 * 3661 + 5, 24) == "01:01:01:05"
    assert timecode(30, 29.97) == "00:00:01:00"
    assert describe_range(40, None, 24) == "frame 40 (00:00:01:16)"
    assert describe_range(40, 60, 24) == "frames 40-60 (00:00:01:16-00:00:02:12)"


@given(st.integers(0, 100_000), st.sampled_from([12, 23.976, 24, 25, 30, 60]))
def test_seeking_to_a_frame_shows_that_frame(frame, fps):
    assert frame_at(frame_time(frame, fps), fps) == frame
    assert frame_at(frame / fps, fps) == frame  # the frame's own start is that frame too


def test_drawings_round_trip_and_keep_only_known_shapes():
    shapes = parse_drawing([rect(0.1, 0.2, 0.3, 0.4),
                            {"tool": "freehand", "color": COLOURS["white"],
                             "points": [[0, 0], [0.5, 0.5], [1, 0]]},
                            {"tool": "arrow", "color": COLOURS["blue"], "width": 0.01,
                             "points": [[0.9, 0.9], [0.6, 0.6]]}])
    assert [s.tool for s in shapes] == ["rect", "freehand", "arrow"]
    assert parse_drawing(drawing_json(shapes)) == shapes
    assert [s.tool for s in regions(shapes)] == ["rect", "freehand"]  # arrows only point
    assert parse_drawing("") == [] and parse_drawing(None) == []


@pytest.mark.parametrize("bad,words", [
    ([{"tool": "star", "color": RED, "points": [[0, 0], [1, 1]]}], "not one of"),
    ([rect(0.1, 0.1, 1.2, 0.5)], "outside the frame"),
    ([rect(0.1, 0.1, 0.2, 0.2, color="#123456")], "colour"),
    ([dict(rect(0, 0, 1, 1), width=0.5)], "stroke width"),
    ([{"tool": "rect", "color": RED, "points": [[0, 0]]}], "exactly 2 points"),
    ([{"tool": "freehand", "color": RED, "points": [[0, 0]]}], "2 to"),
    ([{"tool": "rect", "color": RED, "points": [["a", 0], [1, 1]]}], "pair of numbers"),
    ([rect(0, 0, 1, 1)] * 51, "at most 50"),
    ("{not json", "not valid JSON"),
    ({"tool": "rect"}, "list of shapes"),
])
def test_bad_drawings_are_refused_with_what_is_allowed(bad, words):
    with pytest.raises(DrawingError) as caught:
        parse_drawing(bad)
    assert words in str(caught.value)


coords = st.floats(0, 1, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(coords, coords, coords, coords)
def test_a_rectangle_fills_exactly_its_box(x0, y0, x1, y1):
    shapes = parse_drawing([rect(x0, y0, x1, y1)])
    image = fill_regions(shapes, (64, 36))
    assert set(image.tobytes()) <= {0, 255}
    # the box as stored (parse_drawing rounds to 5 places: 1/3 is kept as 0.33333, which is in pixel 11)
    (x0, y0), (x1, y1) = shapes[0].points
    left, right = sorted((x0 * 64, x1 * 64))
    top, bottom = sorted((y0 * 36, y1 * 36))
    # corners on the far edge (a coordinate of 1.0) are its last pixel
    for x, y in ((min(63, int(left)), min(35, int(top))),
                 (min(63, int(right)), min(35, int(bottom)))):
        assert image.getpixel((x, y)) == 255  # its corners are inside
    if right < 60:
        assert image.getpixel((63, min(35, int(bottom)))) == 0  # right of it is outside


def test_burn_in_draws_the_shape_in_its_colour():
    from PIL import Image

    frame = Image.new("RGB", (200, 100), (0, 0, 0))
    out = burn_in(frame, parse_drawing([rect(0.1, 0.1, 0.9, 0.9)]))
    assert out.getpixel((20, 50)) == (255, 59, 48)  # the red outline at x = 0.1
    assert out.getpixel((100, 50)) == (0, 0, 0)  # inside the outline: untouched


def test_mask_video_is_the_drawing_exactly_over_its_frames(tmp_path):
    shapes = parse_drawing([rect(0.25, 0.25, 0.5, 0.75),
                            {"tool": "ellipse", "color": RED,
                             "points": [[0.6, 0.1], [0.9, 0.4]]},
                            {"tool": "arrow", "color": RED, "points": [[0, 0], [1, 1]]}])
    out = write_mask_video(shapes, width=160, height=90, frames=12, fps=24, first=3, last=5,
                           out=tmp_path / "mask.mp4")
    frames = read_gray_frames(out, 160, 90)
    assert len(frames) == 12
    inside = fill_regions(shapes, (160, 90)).tobytes()
    assert inside.count(255) > 0
    for index, frame in enumerate(frames):
        assert frame == (inside if 3 <= index <= 5 else bytes(160 * 90)), index
    odd = write_mask_video(shapes, width=75, height=41, frames=2, fps=24, first=0, last=0,
                           out=tmp_path / "odd.mp4")
    assert read_gray_frames(odd, 75, 41)[0] == fill_regions(shapes, (75, 41)).tobytes()


def test_a_mask_needs_a_region_and_frames_inside_the_video():
    arrow = parse_drawing([{"tool": "arrow", "color": RED, "points": [[0, 0], [1, 1]]}])
    with pytest.raises(MaskError, match="no region"):
        check_mask_request(arrow, 3, None, 10)
    box = parse_drawing([rect(0, 0, 1, 1)])
    with pytest.raises(MaskError, match="outside"):
        check_mask_request(box, 8, 12, 10)
    assert check_mask_request(box, 4, None, 10) == (4, 4)


def _spec_of(params, paths):
    """The spec the run's own profile writes for these staged paths."""
    ctx = JobContext(run_type="inference", folder="/c", checkpoint_dir="checkpoints",
                     num_gpus=1, master_port=29500, offload=())
    command = get_profile(params.model).command(ctx, [JobItem("R", params, paths,
                                                              input_fps=24)])
    return json.loads(command.files[command.spec_files[0]])


def test_the_mask_enters_transfer1_as_a_regional_prompt():
    params = GenerationParams(prompt="a car", negative_prompt="bad", input_video="/in.mp4",
                              weights={"edge": 1.0}, model="transfer1",
                              regional_prompts=[{"prompt": "sky", "box": [0, 0, 1, 0.5]}])
    draft = mask_into_params(params, "/m/note-1.mp4", prompt="  a red car  ")
    assert params.regional_prompts == [{"prompt": "sky", "box": [0, 0, 1, 0.5]}]  # untouched
    assert mask_of(draft) == "/m/note-1.mp4"
    assert mask_of(params) is None
    profile = get_profile("transfer1")
    staged = {f.role: f.path for f in profile.input_files(draft, "inference")}
    assert staged == {"input": "/in.mp4", "region.0": "/m/note-1.mp4"}  # uploaded like inputs
    spec = _spec_of(draft, {"input": "/c/in.mp4", "region.0": "/c/region_0.mp4"})
    assert spec["regional_prompts"] == [
        {"prompt": "a red car", "region_definitions_path": "/c/region_0.mp4"},
        {"prompt": "sky", "region_definitions_path": [0.0, 0.0, 1.0, 0.5]}]
    with pytest.raises(ValueError, match="not staged"):
        _spec_of(draft, {"input": "/c/in.mp4"})
    again = mask_into_params(draft, "/m/note-1.mp4", prompt="a blue car")  # the form's copy
    assert [r["prompt"] for r in again.regional_prompts] == ["a blue car", "sky"]
    assert GenerationParams.from_dict(draft.to_dict()).regional_prompts == \
        draft.regional_prompts


def test_the_mask_enters_transfer2_5_as_the_inverse_mask_of_each_control_in_use(tmp_path):
    """No regional prompts in Transfer2.5: every control the run uses gets the region's
    inverse as its mask_path (white = the control applies), so the controls hold all but the
    region; the note's words are added to the prompt; the spec carries the staged masks."""
    mask = write_mask_video(parse_drawing([rect(0, 0, 0.5, 0.5)]), width=64, height=32,
                            frames=6, fps=24, first=2, last=3, out=tmp_path / "note-1.mp4")
    params = GenerationParams(prompt="a car", negative_prompt="", input_video="/in.mp4",
                              weights={"edge": 1.0, "depth": 0.5, "vis": 0.0},
                              control_options={"depth": {"mask_prompt": "road"}},
                              model="transfer2.5")
    draft = mask_into_params(params, mask, prompt=" make it red ")
    outside = str(tmp_path / "note-1.outside.mp4")
    assert draft.option("edge", "mask_path") == outside
    assert draft.option("depth", "mask_path") == outside
    assert draft.option("depth", "mask_prompt") is None  # exclusive with mask_path
    assert draft.option("vis", "mask_path") is None  # not in use
    assert draft.prompt == "a car make it red"
    again = mask_into_params(draft, mask, prompt="make it red")  # masked again at launch
    assert again.prompt == "a car make it red" and again.control_options == \
        draft.control_options
    assert params.prompt == "a car" and params.option("edge", "mask_path") is None
    assert mask_of(draft) == str(mask) and mask_of(params) is None
    region, inverse = read_gray_frames(mask, 64, 32), read_gray_frames(outside, 64, 32)
    for index in (0, 2):
        assert all(abs(a + b - 255) <= 2 for a, b in zip(region[index], inverse[index]))
    assert inverse[0] == bytes([255]) * (64 * 32)  # no region on that frame: all held
    profile = get_profile("transfer2.5")
    staged = {f.role: f.path for f in profile.input_files(draft, "inference")}
    assert staged["mask.edge"] == outside and staged["mask.depth"] == outside
    roles = {role: f"/c/{role}.mp4" for role in staged}
    spec = _spec_of(draft, roles)
    assert spec["edge"]["mask_path"] == "/c/mask.edge.mp4"
    assert spec["depth"]["mask_path"] == "/c/mask.depth.mp4" and "mask_prompt" not in \
        spec["depth"]


def test_a_model_without_a_way_to_take_the_mask_refuses_it_and_names_those_that_can():
    params = GenerationParams(prompt="a car", negative_prompt="", input_video="/in.mp4",
                              weights={"edge": 1.0}, model="cosmos3")
    with pytest.raises(RegionMaskRefused) as refused:
        mask_into_params(params, "/m/note-1.mp4", prompt="a red car")
    message = str(refused.value)
    assert get_profile("cosmos3").name in message
    assert get_profile("transfer1").name in message
    assert get_profile("transfer2.5").name in message
    assert params.regional_prompts == [] and mask_of(params) is None
    assert region_refusal("transfer1") is None and region_refusal("transfer2.5") is None
    assert "Unknown model" in region_refusal("cosmos-x")


def _note(**kw):
    base = {"id": 7, "run_id": "R" * 26, "parent_id": None, "frame": 40, "end_frame": None,
            "author": "rita", "text": "<b>too</b> bright", "drawing": [rect(0, 0, 1, 1)],
            "resolved": False, "created_at": 1000.0, "where": "frame 40 (00:00:01:16)",
            "replies": [{"author": "olga", "text": "fixing <now>", "created_at": 1001.0}]}
    return dict(base, **kw)


def test_notes_list_escapes_text_and_carries_the_data_the_player_reads():
    viewer = accounts.Identity("olga", "operator")
    html = notes_html("R" * 26, [_note()], viewer, can_regenerate=True, now=1100.0)
    assert "<b>too</b>" not in html and "&lt;b&gt;too&lt;/b&gt;" in html
    assert "fixing &lt;now&gt;" in html and "data-seek-note='7'" in html
    assert "data-action='regenerate'" in html and "olga (you)" in html
    start = html.index("data-notes='") + len("data-notes='")
    import html as html_lib

    data = json.loads(html_lib.unescape(html[start:html.index("'", start)]))
    assert data[0]["frame"] == 40 and data[0]["drawing"][0]["tool"] == "rect"
    reviewer = notes_html("R" * 26, [_note()], accounts.Identity("rita", "reviewer"),
                          can_regenerate=False)
    assert "regenerate" not in reviewer and "data-action='reply'" in reviewer
    assert "No notes yet" in notes_html("R" * 26, [], viewer)


def test_player_and_compare_markup(tmp_path):
    run = summary(status="completed", output_path=str(tmp_path / "o.mp4"),
                  output_info={"width": 1280, "height": 704, "frames": 121, "fps": 24.0})
    html = player_html(run, autoplay=True)
    assert "data-frames='121'" in html and "data-fps='24'" in html
    assert "aspect-ratio: 1280 / 704" in html and "canvas class='rp-draw'" in html
    for act in ("prev", "next", "j", "k", "l", "play"):
        assert f"data-act='{act}'" in html
    assert "No video yet" in player_html(summary(status="running"))
    other = summary(id="B" * 26, status="completed", output_path=str(tmp_path / "b.mp4"),
                    output_info={"width": 1280, "height": 704, "frames": 121, "fps": 24.0})
    cmp = compare_html(run, other, layers={"a": {"edge": "/x/edge.mp4"}})
    for mode in ("side", "wipe", "overlay", "difference", "flicker"):
        assert f"data-mode='{mode}'" in cmp
    assert cmp.count("class='rp-layer rp-follow'") == 1 and "edge control" in cmp
    assert "cp-canvas" in cmp and "cp-sync" in cmp


def test_composer_puts_errors_under_their_fields_and_version_chips():
    html = composer_html(errors={"frame": "Frame 400 is outside", "text": "Write something"})
    assert html.index("Frame 400") < html.index("rv-text'") < html.index("Write something")
    assert "Pick a run" in composer_html(enabled=False)
    stack = {"shot": {"id": "S", "name": "hero", "latest_run_id": "B", "latest_number": 2},
             "versions": [
                 {"run_id": "A", "number": 1, "label": "v1", "status": "completed",
                  "review_status": "needs_changes", "status_by": "rita", "status_at": 5.0,
                  "source_note": None, "is_latest": False},
                 {"run_id": "B", "number": 2, "label": "v2", "status": "completed",
                  "review_status": "in_review", "status_by": None, "status_at": None,
                  "source_note": 7, "is_latest": True}]}
    html = versions_html(stack, run_id="A")
    assert "data-version-run='B'" in html and "Go to latest (v2)" in html
    assert "Needs changes" in html and "rita" in html
    assert "asked for by note #7" in versions_html(stack, run_id="B")
    assert "Go to latest" not in versions_html(stack, run_id="B")
