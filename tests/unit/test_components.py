"""The UI's pure helpers: form values <-> params, where errors go, the spec preview, filters,
paging, and the HTML the views render (escaped, with the ids the browser tests rely on)."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from backend.models.transfer1.params import CONTROLS, GenerationParams
from backend.models.transfer1.validate import FieldError
from backend.operations import RunSummary
from components import common
from components.compare import diff_html, player_html, prompt_diff_html
from components.form_values import (ERROR_SLOTS, FIELDS, UPLOAD, chosen_input, errors_by_slot,
                                    params_from_values, slot_for, spec_preview,
                                    values_from_params, weight_sum_note)
from components.gallery import grid_html
from components.hosts import host_card
from components.log_panel import log_payload
from components.nav import pick_toggle
from components.notify import notification_items
from components.run_details import metrics_frame, progress_parts, status_html
from components.runs_table import DAY, clamp_page, make_filter, page_label, table_html


def summary(**kw) -> RunSummary:
    base = dict(id="01abcdefghjkmnpqrstvwxyz00", name="", run_type="inference",
                status="running", host="sim", simulated=True, prompt="a <b>bold</b> prompt",
                created_at=1000.0, started_at=1010.0, finished_at=None, exit_code=None,
                failure_cause=None, failure_evidence=None, output_path=None,
                thumbnail_path=None, command=None, spec=None, progress=None,
                params={"prompt": "a <b>bold</b> prompt", "weights": {"edge": 1.0}},
                log_lines=0, cancel_requested=None)
    base.update(kw)
    return RunSummary(**base)


# -- form values ------------------------------------------------------------------------------
def test_error_slots_cover_field_names_from_validation():
    assert slot_for("prompt") == "prompt"
    assert slot_for("weights.edge") == "weights.edge"
    assert slot_for("control_videos.seg") == "control_videos.seg"
    assert slot_for("weights") == "weights"
    assert slot_for("weights.lidar") == "weights"  # unknown control: under the weights
    assert slot_for("num_steps") == "num_steps"
    assert slot_for("something_new") == "general"
    slots = errors_by_slot([FieldError("prompt", "empty"), FieldError("weights.edge", "bad"),
                            FieldError("weights.edge", "worse"), FieldError("x", "?")])
    assert slots == {"prompt": ["empty"], "weights.edge": ["bad", "worse"], "general": ["?"]}
    assert len(set(ERROR_SLOTS)) == len(ERROR_SLOTS)


def test_chosen_input_prefers_the_dropdown_unless_upload_is_chosen():
    assert chosen_input("/s/sample.mp4", "/tmp/up.mp4") == "/s/sample.mp4"
    assert chosen_input(UPLOAD, "/tmp/up.mp4") == "/tmp/up.mp4"
    assert chosen_input(UPLOAD, None) is None


def test_params_round_trip_through_form_values():
    params = GenerationParams(prompt="p", negative_prompt="n", input_video="/v/in.mp4",
                              weights={"vis": 0.2, "edge": 0.5, "depth": 0.0, "seg": 0.3,
                                       "keypoint": 0.0},
                              control_videos={"depth": "/v/depth.mp4"}, seg_prompt="car . road",
                              sigma_max=60.0, guidance=7.0, num_steps=20, seed=42, fps=12,
                              blur_strength="high", canny_threshold="low", num_gpus=2,
                              upscale_weight=0.7)
    values = values_from_params(params)
    assert set(values) <= set(FIELDS)
    assert params_from_values(values) == params


def test_preset_values_leave_prompt_and_videos_alone():
    values = values_from_params(GenerationParams(prompt="p", negative_prompt="n",
                                                 input_video="/x.mp4"), content=False)
    assert "prompt" not in values and "input_choice" not in values
    assert not any(k.startswith("control.") for k in values)


def test_form_numbers_keep_bad_values_for_validation_and_blank_means_default():
    p = params_from_values({"num_steps": None, "seed": 3.0, "fps": 0, "num_gpus": 2.0})
    assert (p.num_steps, p.seed, p.fps, p.num_gpus) == (35, 3, None, 2)
    assert params_from_values({"num_steps": 2.5}).num_steps == 2.5  # validation names it


def test_weight_note_says_what_cosmos_does():
    assert "All controls are off" in weight_sum_note({})
    assert "used as set" in weight_sum_note({"edge": 0.5, "depth": 0.5})
    note = weight_sum_note({"edge": 1.0, "depth": 1.0})
    assert "rescales" in note and "edge 0.50, depth 0.50" in note


def test_spec_preview_uses_placeholder_container_paths():
    params = GenerationParams(prompt="p", negative_prompt="n", input_video="/home/me/in.mov",
                              weights={"edge": 0.5, "depth": 0.4, "seg": 0.6},
                              control_videos={"depth": "/home/me/d.mp4"}, seg_prompt="car",
                              fps=None, seed=5)
    spec = json.loads(spec_preview(params, 30.0))
    assert spec["input_video_path"] == "/cosmos/runs/<run id>/inputs/input.mov"
    assert spec["depth"] == {"control_weight": 0.4,
                             "input_control": "/cosmos/runs/<run id>/inputs/depth.mp4"}
    assert spec["seg"] == {"control_weight": 0.6, "input_control_prompt": "car"}
    assert spec["fps"] == 30 and spec["seed"] == 5
    assert "vis" not in spec
    random = json.loads(spec_preview(params, 30.0, random_seed=True))
    assert random["seed"].startswith("(random")


def test_spec_preview_explains_instead_of_crashing():
    text = spec_preview(GenerationParams(prompt="p", negative_prompt=""), None)
    assert "not a valid spec yet" in json.loads(text)


# -- common ----------------------------------------------------------------------------------
def test_file_url_is_relative_and_quoted(tmp_path):
    path = tmp_path / "a b#.mp4"
    assert common.file_url(path).startswith("gradio_api/file=/")
    assert "a%20b%23.mp4" in common.file_url(path)
    assert common.file_url(None) == ""


def test_durations_and_event_data():
    assert common.fmt_duration(5) == "5 s"
    assert common.fmt_duration(125) == "2 min 05 s"
    assert common.fmt_duration(3725) == "1 h 02 min"
    assert common.event_data(SimpleNamespace(_data={"id": "x"})) == {"id": "x"}
    assert common.event_data(SimpleNamespace(_data='{"id": "y"}')) == {"id": "y"}
    assert common.event_data(SimpleNamespace(_data=None)) == {}


def test_pick_toggle_keeps_the_two_latest():
    assert pick_toggle([], "a") == ["a"]
    assert pick_toggle(["a"], "a") == []
    assert pick_toggle(["a", "b"], "c") == ["b", "c"]


# -- run details ------------------------------------------------------------------------------
def test_progress_parts_phase_clip_and_eta():
    run = summary(progress={"phase": "diffusion", "fraction": 0.42, "clip": 1, "n_clips": 2,
                            "eta_seconds": 75})
    fraction, text = progress_parts(run)
    assert fraction == 0.42
    assert text == "diffusion · 42% · clip 1/2 · ETA 1 min 15 s"
    done = summary(status="completed", finished_at=1030.0, progress={"fraction": 0.9})
    assert progress_parts(done)[0] == 1.0
    killed = summary(status="cancelled", finished_at=1020.0,
                     progress={"phase": "diffusion", "fraction": 0.3, "eta_seconds": 9})
    assert progress_parts(killed)[1].startswith("cancelled during diffusion")
    assert "ETA" not in progress_parts(killed)[1]


def test_status_html_escapes_and_carries_status_for_tests():
    run = summary(name="<script>x</script>", failure_cause="CUDA <oom>", status="failed",
                  finished_at=1020.0)
    html = status_html(run, now=2000.0)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "data-status='failed'" in html and "CUDA &lt;oom&gt;" in html
    assert "took 10 s" in html


def test_metrics_frame_shares_one_percent_axis():
    frame = metrics_frame([
        {"at": 10.0, "gpu": 0, "utilization": 50.0, "memory_used": 40.0, "memory_total": 80.0},
        {"at": 12.0, "gpu": 0, "utilization": None, "memory_used": 20.0, "memory_total": 80.0},
    ])
    assert list(frame.itertuples(index=False, name=None)) == [
        (0.0, 50.0, "GPU 0 utilisation"), (0.0, 50.0, "GPU 0 memory"),
        (2.0, 25.0, "GPU 0 memory")]
    assert metrics_frame([]).empty


def test_log_payload_is_unique_per_update():
    a = json.loads(log_payload("r", [(0, "x")], reset=True, total=1))
    b = json.loads(log_payload("r", [(0, "x")], reset=True, total=1))
    assert a["lines"] == [[0, "x"]] and a["reset"] and a["total"] == 1
    assert a["v"] != b["v"]


# -- history and gallery ------------------------------------------------------------------------
def test_make_filter_includes_the_whole_until_day():
    flt = make_filter(" neon ", ["failed"], ["upscale"], ["sim"], 100.0, 1000.0, "3+")
    assert flt.text == "neon" and flt.statuses == ("failed",) and flt.run_types == ("upscale",)
    assert flt.since == 100.0 and flt.until == 1000.0 + DAY and flt.min_rating == 3
    assert make_filter(min_rating="any").min_rating is None
    assert make_filter(with_output=True).with_output


def test_paging_labels_and_clamping():
    assert clamp_page(5, 10, 25) == 2 and clamp_page(-1, 10, 25) == 0 and clamp_page(3, 10, 0) == 0
    assert "Runs 11-20 of 25 (page 2 of 3)" in page_label(1, 10, 25)
    assert "No runs match" in page_label(0, 10, 0)


def test_table_marks_selected_and_picked_rows_and_escapes():
    a, b = summary(id="A" * 26), summary(id="B" * 26, status="completed", finished_at=1100.0)
    html = table_html([a, b], selected=b.id, picks=[a.id], now=2000.0)
    assert "data-id='" + a.id + "'" in html and "class='run-row picked'" in html
    assert "class='run-row selected'" in html
    assert "<b>bold</b>" not in html
    assert "No runs match" in table_html([], None, [])


def test_gallery_cards_use_served_thumbnails(tmp_path):
    thumb = tmp_path / "t.jpg"
    run = summary(status="completed", thumbnail_path=str(thumb), output_path="/x.mp4")
    html = grid_html([run], picks=[run.id], playing=None)
    assert "gradio_api/file=" in html and "g-card picked" in html
    assert "No videos yet" in grid_html([], [])


def test_compare_views():
    a = summary(status="completed", output_path="/o/a.mp4",
                params={"prompt": "red car", "weights": {"edge": 1.0}, "seed": 1})
    b = replace(a, id="B" * 26, params={"prompt": "blue car", "weights": {"edge": 0.5},
                                        "seed": 1})
    diff = diff_html(a, b)
    assert "data-key='weights.edge'" in diff and "0.5" in diff and "data-key='seed'" not in diff
    assert "data-key='seed'" in diff_html(a, b, show_all=True)
    prompt = prompt_diff_html("red car", "blue car")
    assert "diff-del'>red" in prompt and "diff-ins'>blue" in prompt
    player = player_html(a, b, {"a": [("input video", "/i/a.mp4")], "b": []})
    assert player.count("cmp-video") == 3 and "cmp-seek" in player
    assert "Pick two runs" in player_html(None, b)


def test_host_card_lists_gpus_runs_and_orphans():
    html = host_card({"name": "gpu1", "kind": "ssh", "simulated": False, "reachable": False,
                      "error": "timed out", "gpus": [{"index": 0, "name": "H100",
                                                      "utilization": 50.0, "memory_used": 10.0,
                                                      "memory_total": 80.0,
                                                      "temperature": 60.0}],
                      "running": [summary()], "queued": [],
                      "orphans": [{"name": "cosmos-old", "id": "abc", "status": "exited"}]})
    assert "unreachable" in html and "timed out" in html and "H100" in html
    assert "data-orphan='cosmos-old'" in html and "data-run=" in html
    assert "Queue is empty" in html


def test_notifications_only_for_finished_runs():
    items = notification_items([summary(), summary(id="C" * 26, status="failed",
                                                   finished_at=1.0)])
    assert items == [{"id": "C" * 26, "status": "failed", "title": "a <b>bold</b> prompt"}]


@pytest.mark.parametrize("control", CONTROLS)
def test_every_control_has_form_fields(control):
    assert f"weight.{control}" in FIELDS and f"control.{control}" in FIELDS
    assert f"weights.{control}" in ERROR_SLOTS and f"control_videos.{control}" in ERROR_SLOTS


def test_a_typed_weight_out_of_range_or_not_a_number_is_named_not_replaced():
    from components.form_values import weight_messages
    from components.model_switch import switch_values
    from backend.models.profile import get_profile

    values = {"model": "transfer1", "prompt": "p", "weight.edge": 5, "weight.vis": -1,
              "weight.depth": "lots"}
    params = params_from_values(values)
    assert (params.weights["edge"], params.weights["vis"], params.weights["depth"]) == (
        5, -1, "lots")  # as typed: never clamped
    marks = weight_messages(params, CONTROLS)
    assert "edge is 5" in marks["edge"] and "between 0 and 1" in marks["edge"]
    assert "vis is -1" in marks["vis"] and "'lots'" in marks["depth"] and marks["seg"] == ""
    assert "outside 0 to 1" in weight_sum_note({"edge": 5, "vis": -1})
    assert "Nothing is queued" in weight_sum_note({"edge": 5})
    # a non-number sent through the page's API: the settings round trip and a model switch
    # name it instead of failing with a blank error
    assert values_from_params(params)["weight.depth"] == "lots"
    switched, _, unused = switch_values(values, get_profile("transfer1"),
                                        get_profile("transfer2.5"))
    assert isinstance(unused, list)


def test_progress_never_says_done_before_the_run_is_and_shows_no_server_path():
    collecting = summary(status="collecting", progress={
        "phase": "done", "fraction": 1.0, "eta_seconds": 0.0, "clip": 1, "n_clips": 1,
        "detail": "Saved prompt to /data/sim-box/runs/01abc/outputs/output.txt"})
    fraction, text = progress_parts(collecting)
    assert fraction < 1.0 and "100%" not in text
    assert text.startswith("collecting the outputs") and "done" not in text
    assert "ETA" not in text and "/" not in text.replace("1/1", "")
    running_done = summary(status="running", progress={"phase": "done", "fraction": 1.0,
                                                        "eta_seconds": 0.0})
    assert "done" not in progress_parts(running_done)[1]
    assert "ETA 0 s" not in progress_parts(running_done)[1]
    assert progress_parts(running_done)[0] < 1.0
    working = summary(status="running", progress={
        "phase": "clip_diffuse", "fraction": 0.5, "eta_seconds": 30,
        "detail": "Loading /cosmos/checkpoints/nvidia/Cosmos-Tokenize1/encoder.jit"})
    text = progress_parts(working)[1]
    assert "encoder.jit" in text and "/cosmos" not in text and "ETA 30 s" in text
    failed = summary(status="failed", finished_at=1030.0, progress={"phase": "done"})
    assert progress_parts(failed)[1].startswith("failed after the model finished")
    done = summary(status="completed", finished_at=1030.0, progress={"phase": "done"})
    assert progress_parts(done) == (1.0, "done · 100%")


@pytest.mark.parametrize("model,line", [
    ("transfer1", "[06-07 10:05:00|INFO|cosmos_transfer1/diffusion/inference/transfer.py:321:"
                  "demo] Saved prompt to /data/sim-box/runs/r1/outputs/output.txt"),
    ("transfer2.5", "[05-02 10:00:09|INFO|cosmos_transfer2/_src/inference.py:1:x] Saved "
                    "arguments to /data/sim-box/runs/r1/outputs/s.json"),
    ("cosmos3", "[12-01 10:00:09|INFO|i.py:1812:generate_batch] Computing edge control from "
                "/data/sim-box/runs/r1/inputs/input.mp4"),
])
def test_progress_details_of_every_model_carry_no_server_path(model, line):
    from backend.models.profile import get_profile
    from backend.models.results import public_detail

    assert public_detail("Saved video to /a/b/c/output.mp4") == "Saved video to output.mp4"
    tracker = get_profile(model).progress_tracker()
    tracker.feed(line)
    detail = tracker.progress.detail
    assert "/data" not in detail and "sim-box" not in detail, detail


@pytest.fixture
def runs_table(tmp_path):
    """(backend without a scheduler, the page's LivePage, a RunsTable built in a Blocks)."""
    import gradio as gr
    from backend.wiring import start_backend
    from components.live import LivePage
    from components.nav import Nav
    from components.runs_table import RunsTable
    from tests.helpers import make_settings

    backend = start_backend(make_settings(tmp_path), with_scheduler=False)
    try:
        with gr.Blocks():
            live = LivePage()
            nav = Nav(live)
            with gr.Tabs() as nav.tabs, gr.Tab("Runs"):
                table = RunsTable(backend.ops, nav, live)
        yield backend, live, table
    finally:
        backend.close()


def test_an_overtaken_render_of_the_runs_table_sends_nothing(runs_table):
    """Two renders of one page overlap: the older read the store before the run failed and
    finished last. It must not overwrite the newer, fresher table (the table said `running`
    under details saying `failed`)."""
    backend, live, table = runs_table
    sample = next(iter(backend.ops.sample_videos()))
    run = backend.ops.launch(replace(backend.ops.default_params(), prompt="overtaken",
                                     input_video=str(sample)), host="sim", owner="me")
    request = SimpleNamespace(session_hash="page-1", username=None)
    args = (0, 10, [], None, "", "", [], [], [], None, None, "any", [], False, [], False)
    older = table.order.begin(request)
    stale = table.render(*args)
    backend.store.transition(run.id, "failed", expect=["queued"])
    newer = table.order.begin(request)
    fresh = table.render(*args)
    assert "data-status='failed'" in table.order.end(request, newer, fresh)[0]
    assert "data-status='queued'" in stale[0]
    assert all(isinstance(x, dict) and x.get("__type__") == "update" and len(x) == 1
               for x in table.order.end(request, older, stale))  # skipped
    # ... and the page is asked for one more render with its inputs as they are now (the
    # overtaken one may be the one the page sent last: a filter's, behind a signal's)
    page = live.page(request)
    assert page.refreshes == {"runs"}
    counters = {s.name: 0 for s in live._signals}
    updates = live._updates(page, [], False, counters)
    assert counters["runs"] == 1 and 1 in updates and page.refreshes == set()
    assert live._updates(page, [], False, counters).count(1) == 0  # asked once, bumped once
    other = SimpleNamespace(session_hash="page-2", username=None)  # pages are apart
    assert table.order.end(other, table.order.begin(other), fresh) == fresh


def test_a_stale_render_of_a_paged_view_does_not_undo_a_page_turn(runs_table):
    """A render that read page 0 lands after Next moved the page to 1: it must not send the
    page number back (CI: the table stayed on page 1 after Next). A filter's reset to the
    first page is sent even when its render is overtaken; a clamp only by the newest."""
    from components.render_order import PAGE_OUTPUT

    backend, live, table = runs_table
    sample = next(iter(backend.ops.sample_videos()))
    for i in range(12):
        backend.ops.launch(replace(backend.ops.default_params(), prompt=f"paged {i}",
                                   input_video=str(sample)), host="sim", owner="me")
    request = SimpleNamespace(session_hash="page-1", username=None)
    rest = (10, [], None, "", "", [], [], [], None, None, "any", [], False, [], False)

    def skipped(value):
        return isinstance(value, dict) and value.get("__type__") == "update" \
            and len(value) == 1

    turned = table.render_page(request, 1, *rest)  # Next already moved the state to 1
    assert skipped(turned[PAGE_OUTPUT]) and "page 2 of 2" in turned[1]
    stale = table.render_page(request, 0, *rest)  # sent before Next, landing after it
    assert skipped(stale[PAGE_OUTPUT])
    reset = table._render_first_page(request, 1, *rest)
    assert reset[PAGE_OUTPUT] == 0
    past_end = table.render_page(request, 5, *rest)  # clamped to the last page
    assert past_end[PAGE_OUTPUT] == 1
    # overtaken: a clamp is a stale reading and not sent, a filter's reset still is
    calls = []

    def slow_render(page, *args):
        calls.append(page)
        if len(calls) == 1:
            table.render_page(request, 0, *rest)  # a newer render starts meanwhile
        return table.render(page, *args)

    behind = table.order.paged(request, slow_render, 5, 5, rest)
    assert all(skipped(x) for x in behind)
    calls.clear()
    behind_reset = table.order.paged(request, slow_render, 1, 0, rest)
    assert behind_reset[PAGE_OUTPUT] == 0
    assert all(skipped(x) for i, x in enumerate(behind_reset) if i != PAGE_OUTPUT)


def test_a_render_carrying_the_filters_from_before_a_search_sends_nothing(runs_table):
    """A queued render the page sent before the person searched starts only after the
    search's render has landed: nothing overtook it, but it must not put the unfiltered
    table back (bench row 9: the count stayed at every run, never the 5 matches)."""
    backend, live, table = runs_table
    sample = next(iter(backend.ops.sample_videos()))
    for prompt in ("a boat at dawn", "a car at night", "a boat in fog"):
        backend.ops.launch(replace(backend.ops.default_params(), prompt=prompt,
                                   input_video=str(sample)), host="sim", owner="me")
    request = SimpleNamespace(session_hash="page-1", username=None)
    state = (10, [], None, "")
    rest = ([], [], [], None, None, "any", [], False, [], False)
    searched = table._render_first_page(request, 0, *state, "boat", *rest)
    assert "a boat at dawn" in searched[0] and "a car at night" not in searched[0]
    stale = table.render_page(request, 0, *state, "", *rest)
    assert all(isinstance(x, dict) and x.get("__type__") == "update" and len(x) == 1
               for x in stale)
    assert live.page(request).refreshes == {"runs"}  # the page renders once more, as it is
    again = table.render_page(request, 0, *state, "boat", *rest)
    assert "a boat in fog" in again[0]
    cleared = table._render_first_page(request, 0, *state, "", *rest)  # the person's own
    assert "a car at night" in cleared[0]


def test_prompts_that_differ_throughout_are_shown_whole_not_marked_word_by_word():
    """Issue 14 item 9: word marks over two unrelated prompts read as noise."""
    close = prompt_diff_html("a red car on a wet street at night", "a blue car on a wet street at night")
    assert "prompt-whole" not in close and "<span class='diff-ins'>blue" in close
    apart = prompt_diff_html("a red car on a wet street at night",
                             "snowy mountain village, morning light, drone shot")
    assert "prompt-whole" in apart and "differ throughout" in apart
    assert "a red car on a wet street at night" in apart
    assert "snowy mountain village, morning light, drone shot" in apart

