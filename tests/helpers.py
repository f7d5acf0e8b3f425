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


def write_config(tmp_path: Path, *, sim_seconds: float = 1.0, port: int = 7860,
                 extra_host: str = "", poll_interval: float = 0.1, kill_grace: int = 3,
                 extra_ui: str = "", extra_scheduler: str = "", extra_top: str = "") -> Path:
    """A config like the shipped one, with its data in tmp_path and a fast simulator.
    `extra_ui` / `extra_scheduler` are lines added to those tables; `extra_top` tables
    (e.g. [fair_share]) go before the hosts."""
    path = tmp_path / "config.toml"
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
env = {{ COSMOS_SIM_SECONDS = "{sim_seconds}" }}
{extra_host}
""")
    return path


def make_settings(tmp_path: Path, **kw) -> Settings:
    return load_config(write_config(tmp_path, **kw))


def wait_for(predicate: Callable[[], T], timeout: float = 60.0, interval: float = 0.1,
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
