"""Sweeps on the simulator box: a 3x2 sweep ends as 6 linked runs, batched where compatible,
and its grid MP4 has the layout's size, the runs' length and 6 labelled tiles (read back as
pixels); the CLI verbs plan, list and export it."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from backend import media
from backend import store as st
from backend.config import load_config
from backend.media import make_test_clip, probe_video
from backend.sweeps.axes import Axis
from backend.sweeps.grid import grid_layout, tile_size
from backend.sweeps.render import PLACEHOLDER_COLOUR
from backend.wiring import start_backend
from tests.helpers import RUN_FINISHES, wait_for, write_config
from tests.integration.test_cli import Cli

pytestmark = pytest.mark.integration


def frame_at(video, seconds: float, width: int, height: int) -> np.ndarray:
    """One decoded frame as an RGB array (height, width, 3)."""
    proc = subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-ss", f"{seconds:.3f}",
                           "-i", str(video), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                           "rgb24", "-"], capture_output=True, check=True, timeout=60)
    return np.frombuffer(proc.stdout, np.uint8).reshape(height, width, 3).astype(int)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 3x2 sweep (edge weight x seed) with batching on; cell (1, 1) dequeued before the
    scheduler starts, so it ends cancelled and the grid shows its placeholder."""
    tmp = tmp_path_factory.mktemp("sweep")
    path = write_config(tmp, sim_seconds=1.0, extra_scheduler="batching = true\nmax_batch = 4")
    settings = load_config(path)
    clip = make_test_clip(tmp / "in.mp4", width=160, height=90, frames=17, pattern="testsrc2")
    b = start_backend(settings, with_scheduler=False)
    base = b.ops.default_params("transfer1")
    base.prompt, base.input_video = "a rainy neon street", str(clip)
    axes = b.ops.sweep_axes([("edge", "0.2:0.8:0.3"), ("seed", "1,2")], base.model)
    sweep = b.ops.launch_sweep(base, axes, name="edge x seed")
    cancelled = next(c["run_id"] for c in sweep["cells"] if (c["x"], c["y"]) == (1, 1))
    b.ops.dequeue(cancelled)
    b.close()
    b = start_backend(settings)
    try:
        wait_for(lambda: all(c["status"] in st.TERMINAL for c in b.ops.sweep(sweep["id"])
                             ["cells"]), timeout=RUN_FINISHES * 2, what="the sweep's runs")
        yield b, b.ops.sweep(sweep["id"]), cancelled, path, clip
    finally:
        b.close()


def test_a_3x2_sweep_ends_as_six_linked_runs_batched_by_row(swept):
    b, sweep, cancelled, _, _ = swept
    cells = sweep["cells"]
    assert [(c["x"], c["y"], c["z"]) for c in cells] == [
        (0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 1, 0), (1, 1, 0), (2, 1, 0)]
    assert [c["label"] for c in cells][:4] == ["edge=0.2, seed=1", "edge=0.5, seed=1",
                                               "edge=0.8, seed=1", "edge=0.2, seed=2"]
    assert sweep["axes"] == [{"name": "edge", "field": "weights.edge", "values": [0.2, 0.5, 0.8]},
                             {"name": "seed", "field": "seed", "values": [1, 2]}]
    assert sweep["runs"] == 6 and sweep["statuses"] == {"completed": 5, "cancelled": 1}
    runs = {c["run_id"]: b.store.get_run(c["run_id"]) for c in cells}
    for cell in cells:
        run = runs[cell["run_id"]]
        params = run.params_dict()
        assert params["weights"]["edge"] == cell["values"]["edge"]
        assert params["seed"] == cell["values"]["seed"]
        assert b.ops.sweep_of_run(run.id) == {"sweep_id": sweep["id"], "name": "edge x seed",
                                              "x": cell["x"], "y": cell["y"], "z": 0,
                                              "label": cell["label"]}
        assert run.status == (st.CANCELLED if run.id == cancelled else st.COMPLETED)
    # one model load per seed: the seed-1 row shares a job, the seed-2 row's two runs another
    row1 = {runs[c["run_id"]].batch_id for c in cells if c["y"] == 0}
    row2 = {runs[c["run_id"]].batch_id for c in cells if c["y"] == 1 and c["run_id"] != cancelled}
    assert len(row1) == 1 and len(row2) == 1 and None not in row1 | row2 and row1 != row2
    assert len({runs[c["run_id"]].prompt_id for c in cells}) == 1  # one stored prompt


def test_the_grid_mp4_has_the_layouts_size_the_runs_length_and_six_labelled_tiles(swept,
                                                                                 tmp_path):
    b, sweep, cancelled, _, _ = swept
    out = b.ops.export_grid(sweep["id"], tmp_path / "grid.mp4")
    videos = [c["video"] for c in sweep["cells"] if c["video"]]
    first = probe_video(videos[0])
    tile_w, tile_h = tile_size(first.width, first.height)
    layout = grid_layout([Axis.from_dict(a) for a in sweep["axes"]], tile_w, tile_h)
    info = probe_video(out)
    assert (info.width, info.height) == (layout.width, layout.height) == (
        layout.side_w + 3 * tile_w, 2 * layout.band_h + 2 * tile_h)
    longest = max(probe_video(v).frames for v in videos)
    assert abs(info.frames - longest) <= 1 and info.fps == first.fps
    frame = frame_at(out, info.duration / 2, info.width, info.height)
    page = layout.pages[0]

    def region(rect):
        return frame[rect.y + 2:rect.y + rect.h - 2, rect.x + 2:rect.x + rect.w - 2]

    tiles = {xy: region(rect) for xy, rect in page.tiles.items()}
    # every video tile shows a picture (not flat), the placeholder is its colour with words
    placeholder = np.array([int(PLACEHOLDER_COLOUR[i:i + 2], 16) for i in (2, 4, 6)])
    for xy, pixels in tiles.items():
        share = (np.abs(pixels - placeholder).sum(axis=2) < 40).mean()
        if xy == (1, 1):
            assert share > 0.8 and pixels.std() > 5  # the tile's colour, and its label text
        else:
            assert share < 0.2 and pixels.std() > 10
    # different edge weights give different tiles; the cancelled one differs from its column
    for x in range(3):
        for other in range(x + 1, 3):
            assert np.abs(tiles[(x, 0)] - tiles[(other, 0)]).mean() > 3
    assert np.abs(tiles[(1, 0)] - tiles[(1, 1)]).mean() > 20
    # every label band holds text: not uniform, and no two alike
    labels = [region(label.rect) for label in page.labels]
    assert all(pixels.std() > 5 for pixels in labels)
    column_labels = [region(label.rect) for label in page.labels[2:5]]
    assert np.abs(column_labels[0] - column_labels[1]).mean() > 0.5
    assert [label.text for label in page.labels[2:]] == [
        "edge=0.2", "edge=0.5", "edge=0.8", "seed=1", "seed=2"]
    # the app's export is named by what it shows: asked again, the same file, not re-rendered
    cached = b.ops.export_grid(sweep["id"])
    written = cached.stat().st_mtime_ns
    assert cached.parent == b.ops.exports_dir and cached.name.startswith(f"sweep-{sweep['id']}-")
    assert b.ops.export_grid(sweep["id"]) == cached and cached.stat().st_mtime_ns == written


def test_the_cli_plans_lists_and_exports_a_sweep(swept, tmp_path):
    b, sweep, _, config, clip = swept
    cli = Cli(config)
    plan = cli.json("sweep", "a street", "--input", str(clip), "--axis", "edge=0.1:0.3:0.1",
                    "--axis", "steps=10,20", "--dry-run")["dry_run"]
    assert plan["count"] == 6 and plan["axes"][0]["values"] == [0.1, 0.2, 0.3]
    assert [r["values"] for r in plan["runs"][:2]] == [{"edge": 0.1, "steps": 10},
                                                       {"edge": 0.2, "steps": 10}]
    assert plan["runs"][5]["params"]["num_steps"] == 20
    assert plan["runs"][5]["cell"] == {"x": 2, "y": 1, "z": 0}
    big = cli("sweep", "a street", "--input", str(clip), "--axis", "seed=1:65:1", "--dry-run")
    assert big.returncode == 2 and "65 runs, over the limit of 64" in big.stderr
    assert cli.json("sweep", "a street", "--input", str(clip), "--axis", "seed=1:65:1",
                    "--dry-run", "--yes")["dry_run"]["count"] == 65
    models = cli.json("sweep", "a street", "--input", str(clip), "--axis", "edge=0.5",
                      "--axis", "model=transfer1,transfer2.5", "--dry-run")["dry_run"]
    by_model = {r["values"]["model"]: r["params"] for r in models["runs"]}
    assert {m: p["model"] for m, p in by_model.items()} == {"transfer1": "transfer1",
                                                           "transfer2.5": "transfer2.5"}
    assert by_model["transfer1"]["guidance"] == b.ops.default_params("transfer1").guidance
    assert by_model["transfer2.5"]["guidance"] == b.ops.default_params("transfer2.5").guidance
    assert all(p["weights"]["edge"] == 0.5 and p["prompt"] == "a street"
               for p in by_model.values())
    four = cli("sweep", "a", "--input", str(clip), *sum((["--axis", f"{n}=1"] for n in
                                                        ("edge", "vis", "seed", "steps")), []))
    assert four.returncode == 2 and "4 axes given; a sweep has one to 3" in four.stderr
    bad = cli("sweep", "a street", "--input", str(clip), "--axis", "edge=0.5,2")
    assert bad.returncode == 2
    assert "axis.edge: in the cell edge=2: Weight for edge is 2" in bad.stderr
    listed = cli.json("sweeps")["sweeps"]
    assert [s["id"] for s in listed] == [sweep["id"]]  # the dry run and refusals stored none
    assert set(listed[0]) == {"id", "name", "prompt", "axes", "owner", "created_at", "runs",
                              "statuses"}
    one = cli.json("sweeps", sweep["id"][:10])["sweep"]
    assert len(one["cells"]) == 6
    out = tmp_path / "cli-grid.mp4"
    done = cli.json("export", "grid", sweep["id"], "-o", str(out), timeout=300)
    assert done["export"]["path"] == str(out) and probe_video(out).frames > 0
    text = cli("sweeps")
    assert text.returncode == 0 and "edge(3) x seed(2)" in text.stdout
    missing = cli("sweeps", "nosuchsweep", "--json")
    assert missing.returncode == 3 and "no sweep nosuchsweep" in missing.stderr
