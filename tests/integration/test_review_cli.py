"""The review room's `cosmos` verbs as real subprocesses on the simulator box (issue 17):
note, reply, notes --json, review, versions --json, report -o, link create/list/revoke and
regenerate --wait, whose run carries the note's mask to the simulated Cosmos, which changes
only the masked region over the note's frames (read back from the videos' pixels)."""

from __future__ import annotations

import json
import subprocess

import pytest

from backend import media
from backend.review.drawing import COLOURS, fill_regions, parse_drawing
from backend.review.frames import frame_image
from backend.review.mask import read_gray_frames
from tests.helpers import SAMPLE, write_config
from tests.integration.test_cli import Cli

pytestmark = pytest.mark.integration

BOX = [{"tool": "rect", "color": COLOURS["yellow"], "width": 0.006,
        "points": [[0.25, 0.25], [0.5, 0.75]]}]
NOTE_KEYS = {"id", "run_id", "parent_id", "frame", "end_frame", "author", "text", "drawing",
             "resolved", "created_at", "timecode", "end_timecode", "where", "replies"}


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    return Cli(write_config(tmp_path_factory.mktemp("review-cli"), sim_seconds=0.5))


def test_notes_status_versions_report_and_the_note_that_becomes_v2(cli, tmp_path):
    first = cli.json("run", "a red car", "--input", str(SAMPLE), "--wait", timeout=180)["run"]
    run_id = first["id"]
    note = cli.json("note", run_id, "--frame", "40", "--end-frame", "44", "--text",
                    "make the car blue", "--drawing", json.dumps(BOX), "--author", "rita")
    assert note["note"]["where"] == "frames 40-44 (00:00:01:16-00:00:01:20)"
    reply = cli.json("reply", str(note["note"]["id"]), "--text", "on it", "--author", "olga")
    assert reply["reply"]["parent_id"] == note["note"]["id"]
    bad = cli("note", run_id, "--frame", "121", "--text", "x")
    assert bad.returncode == 2 and "Frame 121 is outside this video" in bad.stderr
    bad = cli("note", run_id, "--frame", "3", "--drawing", "[{\"tool\": \"blob\"}]")
    assert bad.returncode == 2 and "not one of freehand, arrow, rect, ellipse" in bad.stderr
    notes = cli.json("notes", run_id)["notes"]
    assert len(notes) == 1 and NOTE_KEYS <= set(notes[0])
    assert (notes[0]["frame"], notes[0]["end_frame"], notes[0]["author"]) == (40, 44, "rita")
    assert notes[0]["drawing"] == BOX and notes[0]["replies"][0]["text"] == "on it"
    listed = cli("notes", run_id)
    assert "frames 40-44" in listed.stdout and "> olga: on it" in listed.stdout
    review = cli.json("review", run_id, "--status", "needs_changes", "--author", "rita")
    assert review["version"]["review_status"] == "needs_changes"
    assert cli("review", run_id, "--status", "final").returncode == 2

    second = cli.json("regenerate", str(note["note"]["id"]), "--prompt", "a blue car",
                      "--wait", timeout=180)
    v2 = second["run"]["id"]
    assert second["run"]["status"] == "completed"
    stack = cli.json("versions", v2)
    assert [(v["label"], v["review_status"]) for v in stack["versions"]] == [
        ("v1", "needs_changes"), ("v2", "in_review")]
    assert stack["versions"][1]["source_note"] == note["note"]["id"]
    assert stack["shot"]["latest_run_id"] == v2
    table = cli("versions", v2).stdout
    assert "* v2" in table and "from note" in table
    cli.json("review", v2, "--status", "approved")

    # the mask reached the simulated Cosmos: v2 differs from v1 only inside the region,
    # and only on the note's frames
    shown = cli.json("show", v2)["run"]
    spec = shown["spec"]
    assert spec["regional_prompts"][0]["prompt"] == "a blue car"
    mask = second["mask_video"]
    info = media.probe_video(mask)
    assert (info.width, info.height, info.frames) == (1280, 704, 121)
    frames = read_gray_frames(mask, 1280, 704)
    inside = fill_regions(parse_drawing(BOX), (1280, 704)).tobytes()
    assert frames[42] == inside and frames[39] == bytes(1280 * 704)
    for index, changed in ((42, True), (20, False)):
        a = frame_image(first["output_path"], index, max_width=1280)
        b = frame_image(shown["output_path"], index, max_width=1280)
        centre = (int(0.375 * 1280), int(0.5 * 704))  # inside the box
        corner = (int(0.9 * 1280), int(0.1 * 704))  # outside it
        moved = sum(abs(x - y) for x, y in zip(a.getpixel(centre), b.getpixel(centre)))
        assert (moved > 60) is changed, (index, moved)
        assert sum(abs(x - y) for x, y in zip(a.getpixel(corner), b.getpixel(corner))) < 40

    out = tmp_path / "report.html"
    assert cli("report", v2, "-o", str(out), "--shot").returncode == 0
    text = out.read_text()
    assert text.count("data:image/jpeg;base64,") == 1 and "make the car blue" in text
    assert "v1" in text and "v2" in text and "Approved" in text


def test_review_links_from_the_terminal(cli):
    run = cli.json("run", "a green bus", "--input", str(SAMPLE), "--wait", timeout=180)["run"]
    made = subprocess.run(cli.argv("link", "create", run["id"], "--expires", "2h", "--title",
                                   "dailies", "--passphrase-stdin", "--base-url",
                                   "https://review.example/", "--json"),
                          input="open sesame\n", capture_output=True, text=True,
                          env=cli.env, timeout=90)
    assert made.returncode == 0, made.stderr
    link = json.loads(made.stdout)["link"]
    assert link["url"].startswith("https://review.example/?review=") and link["passphrase"]
    listed = cli.json("link", "list")["links"]
    assert listed[0]["id"] == link["id"] and listed[0]["state"] == "active"
    assert "token" not in listed[0]
    assert cli.json("link", "revoke", link["id"])["link"]["state"] == "revoked"
    too_long = cli("link", "create", run["id"], "--expires", "90d")
    assert too_long.returncode == 2 and "up to 30 days" in too_long.stderr
    assert cli("link", "create", run["id"], "--expires", "soon").returncode == 2


def test_a_note_on_a_transfer2_5_run_regenerates_through_the_controls_masks(cli):
    """Transfer2.5 has no regional prompts: `regenerate` gives every control the run uses
    the region's inverse as its mask_path (the controls hold all but the region), adds the
    note's words to the prompt, and the run that carries it completes on the simulator box."""
    run = cli.json("run", "a grey van", "--model", "transfer2.5", "--input", str(SAMPLE),
                   "--weight", "edge=1", "--weight", "depth=0.5", "--wait",
                   timeout=240)["run"]
    assert run["status"] == "completed" and run["model"] == "transfer2.5"
    note = cli.json("note", run["id"], "--frame", "10", "--text", "make it red",
                    "--drawing", json.dumps(BOX))["note"]
    second = cli.json("regenerate", str(note["id"]), "--wait", timeout=240)
    assert second["run"]["status"] == "completed", second
    spec = cli.json("show", second["run"]["id"])["run"]["spec"]
    assert spec["prompt"] == "a grey van make it red"
    assert spec["edge"]["mask_path"] and spec["depth"]["mask_path"]
    mask = second["mask_video"]
    info = media.probe_video(mask)
    region = read_gray_frames(mask, info.width, info.height)
    outside = read_gray_frames(mask[:-4] + ".outside.mp4", info.width, info.height)
    assert len(outside) == len(region) == info.frames
    assert outside[10] == bytes(255 - v for v in region[10]) and 0 in outside[10]
    assert outside[0] == bytes([255]) * (info.width * info.height)  # not the note's frame
    versions = cli.json("versions", second["run"]["id"])["versions"]
    latest = next(v for v in versions if v["run_id"] == second["run"]["id"])
    assert latest["source_note"] == note["id"]