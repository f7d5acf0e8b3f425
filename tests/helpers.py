"""Shared test helpers: a throwaway config, waiting without sleeps-as-asserts, free ports."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Callable, TypeVar

from backend.config import Settings, load_config

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "sample_testcard_640x360.mp4"

# -- how long a test may wait, in seconds --------------------------------------------------------
# Every wait returns as soon as the state it waits for is there, so these upper bounds cost
# nothing when things work; they only decide how long a broken test hangs. They are sized for a
# loaded 2-core CI machine (load average 15 and more: ten times the idle figures and then some),
# so the suite is slow but green under load instead of flaky. Pick the one that names what the
# test waits for; the browser tests have their own in tests/e2e/waits.py, built on these.
#: the backend, a box or a worker records a change: a status, a kill landing, a probe of the
#: box, a worker registering, a reconnect after a cut connection
STATE_CHANGES = 60.0
#: a launched run is running on its box (staged, started) and, where asked, logging
RUN_STARTS = 120.0
#: one run on the simulator box (or real Docker, or Slurm) goes from launch to its end
RUN_FINISHES = 180.0
#: `python launch.py` (Gradio's import alone takes ~3.5 s idle) serves HTTP, or exits
APP_STARTS = 180.0


def write_config(tmp_path: Path, *, sim_seconds: float = 1.0, port: int = 7860,
                 extra_host: str = "", poll_interval: float = 0.1, kill_grace: int = 3,
                 extra_ui: str = "", extra_scheduler: str = "", extra_top: str = "",
                 sim_load_share: float | None = None) -> Path:
    """A config like the shipped one, with its data in tmp_path and a fast simulator.

    `extra_ui` / `extra_scheduler` are lines added to those tables; `extra_top` tables
    (e.g. [fair_share]) go before the hosts. `sim_load_share`: the share of a run the fake
    Cosmos spends "loading models" before it generates (its default is 0.4); less of it means
    more of the run shows live progress."""
    path = tmp_path / "config.toml"
    sim_env = f'COSMOS_SIM_SECONDS = "{sim_seconds}"'
    if sim_load_share is not None:
        sim_env += f', COSMOS_SIM_LOAD_SHARE = "{sim_load_share}"'

    path.write_text(f"""
data_dir = "{tmp_path / 'data'}"
[ui]
host = "127.0.0.1"
port = {port}
{extra_ui}
[scheduler]
poll_interval = {poll_interval}
kill_grace = {kill_grace}
{extra_scheduler}
{extra_top}
[hosts.sim]
kind = "local"
docker = "cosmos-sim --root {{remote_root}}/engine"
gpu_query = "cosmos-sim --root {{remote_root}}/engine nvidia-smi"
remote_root = "{{data_dir}}/sim-box"
image = "cosmos-sim/transfer1:latest"
gpus = [0, 1, 2, 3]
max_concurrent = 4
simulated = true
same_paths_in_container = true
offload = ["offload_text_encoder_model", "offload_guardrail_models"]
env = {{ {sim_env} }}
{extra_host}
""")
    return path


def make_settings(tmp_path: Path, **kw) -> Settings:
    return load_config(write_config(tmp_path, **kw))


def wait_for(predicate: Callable[[], T], timeout: float = STATE_CHANGES, interval: float = 0.1,
             what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
