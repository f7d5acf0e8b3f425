"""The review room through `operations` with a real SQLite store (issue 17): versions and their
numbers, review status with who and when, frame notes and replies (validated), review links
(expiry, revocation, passphrase), the notes report and the note's draft v+1."""

from __future__ import annotations

import html as html_lib
import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from backend import media
from backend import store as st
from backend.models.profile import get_profile
from backend.operations import NotFound, Operations, Refused, ValidationFailed
from backend.operations.review_links import LinkRefused, parse_duration
from backend.review.drawing import COLOURS, fill_regions, parse_drawing
from backend.review.mask import read_gray_frames
from backend.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.helpers import SAMPLE, make_settings

REVIEW_STEP = next(v for v, step in MIGRATIONS.items() if step.__name__ == "_review_room")
BOX = [{"tool": "rect", "color": COLOURS["red"], "width": 0.006,
        "points": [[0.25, 0.25], [0.5, 0.75]]}]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return media.make_test_clip(tmp_path_factory.mktemp("clip") / "out.mp4", width=160,
                                height=90, frames=48, fps=24)


def finished(ops, clip, *, input_video=str(SAMPLE), shot="", source=None, params=None):
    """A generation run that completed with `clip` as its video (no GPU needed)."""
    p = ops.default_params()
    p.prompt, p.input_video = "a red car", input_video
    for key, value in (params or {}).items():
        setattr(p, key, value)
    run = ops.launch(p, shot=shot, source_run=source)
    ops.store.transition(run.id, "staging", expect=("queued",))
    info = dict(media.probe_video(clip).to_dict(), bytes=clip.stat().st_size)
    ops.store.transition(run.id, "completed", expect=("staging",), output_path=str(clip),
                         output_info=json.dumps(info))
    return run.id


def test_runs_of_one_input_are_numbered_versions_of_one_shot(ops, clip):
    first = finished(ops, clip)
    second = finished(ops, clip)
    other = finished(ops, clip, input_video=str(SAMPLE.with_name(
        "sample_mandelbrot_640x360.mp4")))
    named = finished(ops, clip, shot="  Hero   Shot ")
    again = finished(ops, clip, shot="hero shot")  # same name, other spelling: same shot
    assert [ops.version_of(r)["number"] for r in (first, second, other, named, again)] == \
        [1, 2, 1, 1, 2]
    stack = ops.versions(second)
    assert [v["label"] for v in stack["versions"]] == ["v1", "v2"]
    assert stack["shot"]["latest_run_id"] == second and stack["current"] == 2
    assert ops.versions(again)["shot"]["name"] == "Hero Shot"
    rerun = ops.rerun(first)  # a re-run joins its source's shot
    assert ops.version_of(rerun.id)["number"] == 3
    upscale = ops.upscale(second)  # so does an upscale
    assert ops.version_of(upscale.id)["number"] == 4
    ops.store.transition(rerun.id, "cancelled", expect=("queued",))
    ops.delete_run(rerun.id)
    assert ops.version_of(finished(ops, clip))["number"] == 5  # numbers never come back
    enhance = ops.enhance(ops.settings_of(first))
    assert ops.version_of(enhance.id) is None  # a prompt enhancement is not a version
    with pytest.raises(ValidationFailed, match="shot name"):
        ops.launch(ops.settings_of(first), shot="x" * 121)


def test_review_status_keeps_who_and_when_and_approval_can_be_an_operators(ops, clip,
                                                                            tmp_path):
    run = finished(ops, clip)
    assert ops.version_of(run)["review_status"] == "in_review"
    before = time.time()
    version = ops.set_review_status(run, "needs_changes", username="rita", role="reviewer")
    assert version["review_status"] == "needs_changes" and version["status_by"] == "rita"
    assert version["status_at"] >= before
    ops.set_review_status(run, "approved", username="rita", role="reviewer")
    assert [h["status"] for h in ops.status_history(run)] == ["needs_changes", "approved"]
    with pytest.raises(ValidationFailed, match="not one of"):
        ops.set_review_status(run, "final", username="rita")
    strict = Operations(type(ops.settings)(**dict(ops.settings.__dict__,
                                                  reviewers_may_approve=False)), ops.store)
    with pytest.raises(Refused, match="Only an operator"):
        strict.set_review_status(run, "approved", username="rita", role="reviewer")
    strict.set_review_status(run, "approved", username="olga", role="operator")
    # the Runs and Gallery filters: by status, and each shot's latest version
    newer = finished(ops, clip)
    by_status, _ = ops.find_runs(st.history.RunFilter(review_statuses=("approved",)))
    assert [r.id for r in by_status] == [run]
    latest, _ = ops.find_runs(st.history.RunFilter(latest_only=True))
    assert [r.id for r in latest] == [newer]


def test_frame_notes_are_validated_and_threaded(ops, clip):
    run = finished(ops, clip)
    note = ops.add_note(run, author="rita", text=" too bright ", frame=40, end_frame="44",
                        drawing=BOX)
    assert (note["frame"], note["end_frame"], note["text"]) == (40, 44, "too bright")
    assert note["timecode"] == "00:00:01:16" and note["drawing"][0]["tool"] == "rect"
    ops.reply(note["id"], author="olga", text="on it")
    ops.add_note(run, author="olga", text="", frame=3, drawing=BOX)  # a drawing alone is fine
    listed = ops.notes(run)
    assert [n["frame"] for n in listed] == [3, 40]
    assert [r["text"] for r in listed[1]["replies"]] == ["on it"]
    for kwargs, field in ((dict(frame=48), "frame"), (dict(frame=-1), "frame"),
                          (dict(frame="4.5"), "frame"), (dict(frame=None), "frame"),
                          (dict(frame=10, end_frame=5), "end_frame"),
                          (dict(frame=1, text=""), "text"),
                          (dict(frame=1, text="x" * 4001), "text"),
                          (dict(frame=1, drawing=[{"tool": "blob"}]), "drawing")):
        args = dict(dict(author="rita", text="x"), **kwargs)
        with pytest.raises(ValidationFailed) as caught:
            ops.add_note(run, **args)
        assert field in [e.field for e in caught.value.errors], kwargs
    assert len(ops.notes(run)) == 2  # nothing refused was stored
    with pytest.raises(ValidationFailed):
        ops.reply(note["id"], author="rita", text="  ")
    assert ops.resolve_note(note["id"])["resolved"] is True
    queued = ops.launch(ops.settings_of(run))
    with pytest.raises(Refused, match="no video yet"):
        ops.add_note(queued.id, author="rita", text="x", frame=1)
    with pytest.raises(NotFound):
        ops.add_note("0" * 26, author="rita", text="x", frame=1)
    ops.store.transition(run, "completed", expect=("completed",))
    ops.delete_run(run)  # notes, replies and the version go with the run
    with pytest.raises(NotFound):
        ops.note(note["id"])


def test_review_links_expire_revoke_and_keep_their_passphrase(ops, clip):
    a, b = finished(ops, clip), finished(ops, clip)
    link = ops.create_review_link([a], expires_in=3600, created_by="olga", title="dailies")
    scope = ops.open_review_link(link["token"])
    assert scope.run_ids == (a,) and scope.allows(a) and not scope.allows(b)
    row = ops.store.get_review_link(link["id"])
    assert link["token"] not in row.token_hash  # only the token's hash is stored
    ops.revoke_review_link(link["id"], "olga")
    with pytest.raises(LinkRefused) as caught:
        ops.open_review_link(link["token"])
    assert caught.value.reason == "revoked"
    short = ops.create_review_link([a, b], expires_in=0.2, created_by="olga")
    assert ops.open_review_link(short["token"]).run_ids == (a, b)
    deadline = time.time() + 30
    while time.time() < short["expires_at"] and time.time() < deadline:
        time.sleep(0.05)
    with pytest.raises(LinkRefused) as caught:
        ops.open_review_link(short["token"])
    assert caught.value.reason == "expired"
    locked = ops.create_review_link([b], expires_in=60, created_by="olga",
                                    passphrase="open sesame")
    for given, reason in ((None, "passphrase"), ("wrong one", "wrong_passphrase")):
        with pytest.raises(LinkRefused) as caught:
            ops.open_review_link(locked["token"], given)
        assert caught.value.reason == reason
    assert ops.open_review_link(locked["token"], "open sesame").run_ids == (b,)
    with pytest.raises(LinkRefused, match="not valid"):
        ops.open_review_link("made-up-token")
    for kwargs, field in ((dict(run_ids=[]), "runs"), (dict(run_ids=["0" * 26]), "runs"),
                          (dict(expires_in=31 * 86400), "expires"),
                          (dict(expires_in=0), "expires"), (dict(passphrase="abc"),
                                                            "passphrase")):
        args = dict(dict(run_ids=[a], expires_in=60, created_by="olga"), **kwargs)
        with pytest.raises(ValidationFailed) as caught:
            ops.create_review_link(args.pop("run_ids"), **args)
        assert field in [e.field for e in caught.value.errors]
    assert [link["state"] for link in ops.review_links()] == ["active", "expired", "revoked"]
    assert parse_duration("3d") == 3 * 86400 and parse_duration("90m") == 5400
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_the_report_has_every_note_with_its_frame_and_drawing(ops, clip, tmp_path):
    v1, v2 = finished(ops, clip), finished(ops, clip)
    thick = [dict(BOX[0], width=0.04)]  # 6 px at 160 wide: clear through JPEG
    ops.add_note(v1, author="rita", text="<script>alert(1)</script>", frame=10, drawing=thick)
    ops.add_note(v1, author="olga", text="second", frame=20, end_frame=30)
    ops.add_note(v2, author="rita", text="on v2", frame=5)
    ops.set_review_status(v1, "needs_changes", username="rita", role="reviewer")
    one = ops.write_report(v1, tmp_path / "v1.html")
    text = one.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    images = re.findall(r"src=\"data:image/jpeg;base64,([A-Za-z0-9+/=]+)\"", text)
    assert len(images) == 2 and "on v2" not in text
    assert "Needs changes by rita" in text and "frames 20-30" in text
    from PIL import Image
    import base64
    import io

    drawn = Image.open(io.BytesIO(base64.b64decode(images[0]))).convert("RGB")
    x = round(0.25 * drawn.width)  # the rectangle's left edge, burnt in red
    r, g, b = drawn.getpixel((x, round(0.5 * drawn.height)))
    assert r > 180 and g < 120 and b < 120
    whole = ops.write_report(v2, tmp_path / "shot.html", whole_shot=True).read_text()
    assert whole.count("class=\"version\"") == 2 and "on v2" in whole
    assert len(re.findall(r"data:image/jpeg;base64,", whole)) == 3
    assert html_lib.unescape("&lt;") in html_lib.unescape(whole)


def test_a_note_becomes_a_draft_whose_mask_matches_the_drawing(ops, clip):
    run = finished(ops, clip)
    note = ops.add_note(run, author="rita", text="make it blue", frame=10, end_frame=12,
                        drawing=BOX)
    draft = ops.draft_from_note(note["id"])
    assert (draft.width, draft.height, draft.frames) == (160, 90, 48)
    assert draft.next_number == 2 and draft.params.regional_prompts[0]["prompt"] == \
        "make it blue"
    frames = read_gray_frames(draft.mask_video, 160, 90)
    inside = fill_regions(parse_drawing(BOX), (160, 90)).tobytes()
    assert len(frames) == 48
    assert all(f == (inside if 10 <= i <= 12 else bytes(160 * 90)) for i, f in enumerate(frames))
    launched = ops.launch_draft(note["id"], ops.settings_of(run), region_prompt="a blue car")
    version = ops.version_of(launched.id)
    assert version["number"] == 2 and version["source_note"] == note["id"]
    stored = ops.store.get_run(launched.id).params_dict()["regional_prompts"]
    assert [r["prompt"] for r in stored] == ["a blue car"]  # the mask, imported like uploads
    assert Path(stored[0]["mask_video"]).read_bytes() == Path(draft.mask_video).read_bytes()
    with pytest.raises(ValidationFailed, match="has no prompt"):
        ops.launch_draft(note["id"], ops.settings_of(run), region_prompt=" ")
    arrow = ops.add_note(run, author="rita", text="look", frame=1, drawing=[
        {"tool": "arrow", "color": COLOURS["red"], "points": [[0, 0], [1, 1]]}])
    with pytest.raises(Refused, match="no region"):
        ops.draft_from_note(arrow["id"])
    plan = ops.dry_run(launched and ops.draft_from_note(note["id"]).params)
    assert plan["spec"]["regional_prompts"][0]["region_definitions_path"].endswith(
        "/inputs/region_0.mp4")


def test_a_draft_goes_only_to_a_model_that_takes_a_region(ops, clip):
    """The run's model decides how a mask reaches it; one with no way (Cosmos 3: no regional
    prompts, no control masks) is refused up front, and a model chosen in the form that has
    none is refused on the model field."""
    able, unable = get_profile("transfer1"), get_profile("cosmos3")
    other = ops.profile(unable.id).defaults(ops.settings.generation)
    other.prompt, other.input_video = "a red car", str(SAMPLE)
    run = ops.launch(other)
    ops.store.transition(run.id, "staging", expect=("queued",))
    info = dict(media.probe_video(clip).to_dict(), bytes=clip.stat().st_size)
    ops.store.transition(run.id, "completed", expect=("staging",), output_path=str(clip),
                         output_info=json.dumps(info))
    note = ops.add_note(run.id, author="rita", text="blue", frame=1, drawing=BOX)
    with pytest.raises(Refused) as refused:
        ops.draft_from_note(note["id"])
    assert unable.name in str(refused.value) and able.name in str(refused.value)
    assert not list(ops.masks_dir.glob("*.mp4"))  # nothing made for a draft that cannot be

    source = finished(ops, clip)
    ok = ops.add_note(source, author="rita", text="blue", frame=1, drawing=BOX)
    switched = ops.profile(unable.id).defaults(ops.settings.generation)
    switched.prompt, switched.input_video = "a red car", str(SAMPLE)
    before = len(ops.list_runs(limit=50))
    with pytest.raises(ValidationFailed) as failed:
        ops.launch_draft(ok["id"], switched, region_prompt="a blue car")
    assert [e.field for e in failed.value.errors] == ["model"]
    assert able.name in failed.value.errors[0].message
    assert len(ops.list_runs(limit=50)) == before  # nothing was queued


def test_an_older_database_gets_versions_for_its_runs(tmp_path, clip):
    """The review room's schema step over an older database: existing video runs become
    versions, grouped by input and parent (whatever number the step has)."""
    settings = make_settings(tmp_path)
    store = st.Store(settings.db_path)
    ops = Operations(settings, store)
    a, b = finished(ops, clip), finished(ops, clip)
    store.close()
    con = sqlite3.connect(settings.db_path)
    for table in ("version", "shot", "statuschange", "note", "reviewlink"):
        con.execute(f"DROP TABLE {table}")
    con.execute("DELETE FROM schemaversion WHERE version >= ?", (REVIEW_STEP,))
    con.commit()
    con.close()
    store = st.Store(settings.db_path)
    try:
        reopened = Operations(settings, store)
        assert store.schema_version() == SCHEMA_VERSION
        assert [reopened.version_of(r)["number"] for r in (a, b)] == [1, 2]
        assert reopened.version_of(finished(reopened, clip))["number"] == 3
    finally:
        store.close()
