"""The `cosmos` command's pure parts: argument parsing, flags -> GenerationParams, the progress
bar, the run JSON shape, and the launch plan / kill request shared with the executor."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest

from backend.cli import common
from backend.cli import main as cli
from backend.runs import plan
from backend.cli.format import run_json
from backend.cli.progress import ProgressBar, bar_text
from backend.config import load_config
from backend.models.transfer1.params import GenerationParams
from backend.operations import Operations, RunSummary
from tests.helpers import write_config


def parse(*argv: str):
    return cli.build_parser().parse_args(list(argv))


def usage_error(*argv: str, capsys=None) -> str:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    return capsys.readouterr().err if capsys else ""


@pytest.fixture
def session(tmp_path):
    settings = load_config(write_config(tmp_path))
    return SimpleNamespace(ops=Operations(settings, SimpleNamespace(bus=None)), settings=settings)


def test_json_is_accepted_before_and_after_the_verb():
    assert parse("--json", "list", "runs").json is True
    assert parse("list", "runs", "--json").json is True
    assert parse("list", "runs").json is False
    assert parse("--config", "c.toml", "--data-dir", "d", "status").data_dir == "d"


def test_run_flags_parse_into_typed_values():
    args = parse("run", "a street", "--input", "in.mp4", "--weight", "edge=0.5", "--weight",
                 "vis=0.25", "--control", "depth=d.mp4", "--steps", "20", "--guidance", "7",
                 "--sigma-max", "60", "--seed", "9", "--fps", "0", "--blur", "low", "--canny",
                 "high", "--gpus", "2", "--host", "sim", "--name", "n", "--with-upscale",
                 "--wait", "--dry-run")
    assert args.weight == [("edge", 0.5), ("vis", 0.25)]
    assert args.control == [("depth", "d.mp4")]
    assert (args.steps, args.guidance, args.sigma_max, args.seed, args.fps, args.gpus) == \
        (20, 7.0, 60.0, 9, 0, 2)
    assert args.with_upscale and args.wait and args.dry_run
    seed = parse("run", "x", "--seed", "random").seed
    assert isinstance(seed, int) and 0 <= seed < 2**32


@pytest.mark.parametrize("argv, words", [
    (("run", "x", "--weight", "edge"), "CONTROL=VALUE"),
    (("run", "x", "--weight", "edge=lots"), "must be a number"),
    (("run", "x", "--gpus", "three"), "invalid int"),
    (("run", "x", "--seed", "soon"), "'random'"),
    (("run", "x", "--blur", "extreme"), "invalid choice"),
    (("list", "runs", "--status", "done"), "invalid choice"),
    (("kill", "r", "--grace", "soon"), "invalid int"),
    (("create",), "required"),
])
def test_bad_flags_are_usage_errors(argv, words, capsys):
    assert words in usage_error(*argv, capsys=capsys)


def test_flags_become_generation_params(session, tmp_path):
    video = tmp_path / "depth.mp4"
    video.write_bytes(b"")
    args = parse("run", "a street", "--weight", "vis=0.5", "--control", f"depth={video}",
                 "--fps", "0", "--steps", "12")
    p = common._params(session, args, "a street", "stored negative")
    assert p.weights == {"vis": 0.5, "edge": 0.0, "depth": 1.0, "seg": 0.0, "keypoint": 0.0}
    assert p.control_videos == {"depth": str(video)}
    assert (p.fps, p.num_steps, p.negative_prompt) == (None, 12, "stored negative")
    # without --weight: the config's defaults (edge 1); --negative beats a stored negative
    args = parse("run", "a street", "--negative", "blurry", "--fps", "30")
    p = common._params(session, args, "a street", "stored negative")
    assert p.weights == dict(session.settings.generation.weights)
    assert (p.negative_prompt, p.fps, p.seed) == ("blurry", 30, 1)
    with pytest.raises(common.CliError) as info:
        common._params(session, parse("run", "x", "--input", str(tmp_path / "no.mp4")), "x", None)
    assert info.value.code == 2 and "no such file" in str(info.value)


def test_user_verbs_and_no_verb(tmp_path, capsys, monkeypatch):
    from tests.helpers import write_config

    config = str(write_config(tmp_path))
    base = ["--config", config]
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("correct horse\n"))
    assert cli.main(base + ["user", "add", "ann", "--role", "operator", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("short\n"))
    assert cli.main(base + ["user", "add", "bob", "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert cli.main(base + ["user", "add", "ann", "--password-stdin"]) == 2
    capsys.readouterr()
    assert cli.main(base + ["--json", "user", "list"]) == 0
    assert '"username": "ann"' in capsys.readouterr().out
    assert cli.main(base + ["user", "remove", "zed"]) == 2
    assert cli.main([]) == 2


def summary(**kw) -> RunSummary:
    base = dict(id="01abcdefghjkmnpqrstvwxyz01", name="", run_type="inference", status="running",
                host="sim", simulated=True, prompt="p", created_at=1.0, started_at=100.0,
                finished_at=None, exit_code=None, failure_cause=None, failure_evidence=None,
                output_path=None, thumbnail_path=None, command=None, spec=None, progress=None,
                params={}, log_lines=0, cancel_requested=None)
    base.update(kw)
    return RunSummary(**base)


def test_progress_bar_text_and_redraws():
    run = summary(progress={"phase": "clip_diffuse", "fraction": 0.45, "clip": 1, "n_clips": 2,
                            "eta_seconds": 75.0})
    text = bar_text(run)
    assert " 45%" in text and "diffusing clip 1/2" in text and "ETA 1:15" in text
    assert "ETA" in bar_text(summary(progress={"phase": "loading", "fraction": 0.2}), now=110.0)
    assert "waiting for a worker" in bar_text(summary(status="queued"))
    assert "ETA" not in bar_text(summary(status="completed", progress={"fraction": 1.0}))
    assert len(bar_text(run, width=40)) <= 39

    out = io.StringIO()
    bar = ProgressBar(out, tty=False)
    bar.update(run)
    bar.update(run)  # nothing visible changed: no new line
    bar.update(summary(progress=dict(run.progress, fraction=0.62)))
    bar.finish()
    assert len(out.getvalue().splitlines()) == 2 and "\r" not in out.getvalue()
    tty = io.StringIO()
    bar = ProgressBar(tty, tty=True)
    bar.update(run)
    bar.update(run)
    bar.finish()
    assert tty.getvalue().count("\r") == 2 and tty.getvalue().endswith("\n")


def test_run_json_shape_is_the_documented_one():
    data = run_json(summary(progress={"phase": "done", "fraction": 1.0, "item": 1}))
    assert list(data) == ["id", "name", "type", "status", "host", "simulated", "prompt",
                          "parent_id", "result_prompt_id", "created_at", "started_at",
                          "finished_at", "exit_code", "failure_cause", "failure_evidence",
                          "progress", "gpus", "output_path", "thumbnail_path",
                          "cancel_requested", "rating", "ratings", "model", "owner",
                          "gpu_count", "priority", "wait_reason", "ran_at", "queue_seconds",
                          "gpu_seconds", "slurm_job_id", "node", "image_digest",
                          "checkpoints_manifest"]
    assert list(data["progress"]) == ["phase", "fraction", "clip", "clips_done", "n_clips",
                                      "eta_seconds", "detail", "step", "n_steps"]
    json.dumps(data)


def test_kill_request_round_trip():
    assert plan.kill_request(True, 30) == "force"
    assert plan.kill_request(False) == "graceful"
    assert plan.kill_request(False, 0) == "graceful:0"
    assert plan.parse_kill_request("force", 10) == (True, 0)
    assert plan.parse_kill_request("graceful", 10) == (False, 10)
    assert plan.parse_kill_request("graceful:3", 10) == (False, 3)
    for bad in (-1, 3601, 1.5, True):
        with pytest.raises(ValueError):
            plan.kill_request(False, bad)


def test_launch_plan_for_an_enhance_run_uses_the_standalone_upsampler(tmp_path):
    """Defect 5: enhance ran transfer.py --upsample_prompt (a whole model load and a video
    nobody asked for); it runs the standalone prompt upsampler and says which video it reads."""
    from backend.models.profile import JobItem, get_profile

    host = load_config(write_config(tmp_path)).hosts["sim"]
    run_id = "01abcdefghjkmnpqrstvwxyz01"
    p = GenerationParams(prompt="robot arm", negative_prompt="blurry", weights={"edge": 1.0},
                         input_video="/x/clip.MP4")
    folder = plan.run_dir(host, run_id)
    item = JobItem(run_id, p, {"input": f"{folder}/inputs/input.mp4"}, input_fps=29.97)
    launch = plan.plan_launch(host=host, run_id=run_id, run_type="enhance",
                              profile=get_profile("transfer1"), items=[item], gpus=[2],
                              master_port=29600, instance_id="app")
    assert launch.container_name == f"cosmos-{run_id}"
    assert f"cosmos.run={run_id}" in launch.command and "robot" not in launch.command
    assert "transfer.py" not in launch.job_script and "--upsample_prompt" not in launch.job_script
    assert f"{folder}/upsample.py" in launch.job_script and "--nproc_per_node=1" in launch.job_script
    assert "--master_port=29600" in launch.job_script and "robot" not in launch.job_script
    request = json.loads(launch.files["upsample.json"])
    assert request["prompt"] == "robot arm" and request["input_video"].endswith("input.mp4")
    assert request["script"].endswith("auxiliary/upsampler/inference/upsampler_pipeline.py")
    assert "input video" in request["reads"]
    [note] = launch.notes[run_id]
    assert note.role == "upsampler_input" and "input video" in note.label
    assert launch.docker_argv[-2:] == ("bash", f"{folder}/job.sh")

def test_one_word_for_a_runs_type_in_the_cli_and_the_ui():
    """The UI says "generation"; the CLI said "inference" for the same runs. Now both say
    generation, the CLI takes either word, and the stored value (and JSON) stays inference."""
    from backend.cli import format as fmt
    from backend.models.params import run_type_of_name
    from components.common import RUN_TYPE_LABELS
    from tests.unit.test_components import summary

    run = summary(run_type="inference")
    row = fmt.run_rows([run])[0]
    assert "generation" in row and "inference" not in row
    out = io.StringIO()
    fmt.print_run(run, {}, out)
    assert "type       generation" in out.getvalue() and "inference" not in out.getvalue()
    assert RUN_TYPE_LABELS["inference"] == "generation"
    assert "generation" in fmt.model_rows([{"id": "m", "name": "M", "controls": [],
                                            "gpu_counts": [1], "vram_gb": 1,
                                            "run_types": ["inference", "upscale"],
                                            "hosts": []}])[0][5]
    assert parse("list", "runs", "--type", "generation").type == ["generation"]
    assert run_type_of_name("generation") == run_type_of_name("inference") == "inference"
    assert run_json(run)["type"] == "inference"  # scripts keep working
