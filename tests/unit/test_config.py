"""config.toml loading: the shipped file is valid, and each kind of mistake is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import DEFAULT_CONFIG_PATH, ConfigError, load_config

MINIMAL = """
[hosts.sim]
kind = "local"
docker = "cosmos-sim --root {remote_root}/engine"
remote_root = "{data_dir}/box"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_shipped_config_loads_with_cosmos_defaults(tmp_path):
    settings = load_config(DEFAULT_CONFIG_PATH, data_dir=tmp_path)
    assert settings.data_dir == tmp_path
    assert settings.ui_host == "127.0.0.1" and settings.ui_port == 7860
    gen = settings.generation
    assert (gen.sigma_max, gen.guidance, gen.num_steps, gen.seed) == (70.0, 5.0, 35, 1)
    # defect 1: transfer.py's default, word for word (the simulator's fake has the real text)
    from backend.simulator.fake_transfer import DEFAULT_NEGATIVE_PROMPT as TRANSFER_PY_DEFAULT

    assert gen.negative_prompt == TRANSFER_PY_DEFAULT
    assert gen.negative_prompt.startswith("The video captures a game playing, with bad crappy "
                                          "graphics and cartoonish frames.")
    from backend.config.settings import DEFAULT_NEGATIVE_PROMPT

    assert DEFAULT_NEGATIVE_PROMPT == TRANSFER_PY_DEFAULT
    assert gen.model == "transfer1"
    assert settings.hosts["sim"].models == ("transfer1", "transfer2.5", "cosmos3")  # all
    sim = settings.hosts["sim"]
    assert sim.kind == "local" and sim.simulated and gen.host == "sim"
    assert sim.remote_root == str(tmp_path / "sim-box")
    assert sim.docker == ("cosmos-sim", "--root", str(tmp_path / "sim-box" / "engine"))
    assert sim.cosmos_checkout == str(tmp_path / "sim-box" / "cosmos-transfer1")


def test_relative_data_dir_is_relative_to_the_config_file(tmp_path):
    settings = load_config(write(tmp_path, 'data_dir = "stuff"\n' + MINIMAL))
    assert settings.data_dir == tmp_path / "stuff"
    assert settings.hosts["sim"].remote_root == str(tmp_path / "stuff" / "box")


@pytest.mark.parametrize("snippet, key, allowed", [
    ("[ui]\nport = 99999\n", "ui.port", "port number"),
    ("[ui]\nport = \"80\"\n", "ui.port", "port number"),
    ("[generation]\nnum_gpus = 3\n", "generation.num_gpus", "1, 2, 4, 8"),
    ("[generation]\nblur_strength = \"extreme\"\n", "generation.blur_strength", "very_low"),
    ("[generation]\nnegative_prompt = \"  \"\n", "generation.negative_prompt", "non-empty"),
    ("[generation]\nweights = { edge = 1.5 }\n", "generation.weights", "between 0 and 1"),
    ("[generation]\nweights = { flow = 0.5 }\n", "generation.weights", "vis, edge"),
    ("[generation]\nhost = \"nowhere\"\n", "generation.host", "one of the hosts: sim"),
    ("[scheduler]\npoll_interval = 0\n", "scheduler.poll_interval", "seconds"),
])
def test_bad_values_name_file_key_value_and_allowed(tmp_path, snippet, key, allowed):
    path = write(tmp_path, MINIMAL + snippet)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and key in message and allowed in message


def test_bad_host_values(tmp_path):
    path = write(tmp_path, MINIMAL.replace('kind = "local"', 'kind = "cloud"'))
    with pytest.raises(ConfigError, match=r"hosts\.sim\.kind = 'cloud'.*local, ssh"):
        load_config(path)
    path = write(tmp_path, MINIMAL + "gpus = [0, 0]\n")
    with pytest.raises(ConfigError, match=r"hosts\.sim\.gpus"):
        load_config(path)
    path = write(tmp_path, MINIMAL.replace("local", "ssh"))
    with pytest.raises(ConfigError, match=r"hosts\.sim\.hostname.*required"):
        load_config(path)


def test_unknown_keys_and_broken_toml_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key ui\.colour"):
        load_config(write(tmp_path, MINIMAL + "[ui]\ncolour = 1\n"))
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        load_config(write(tmp_path, "[hosts.sim\n"))
    with pytest.raises(ConfigError, match=r"config file not found"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"no \[hosts"):
        load_config(write(tmp_path, "data_dir = 'x'\n"))


def test_ssh_paths_must_be_absolute_on_the_box(tmp_path):
    text = """
[hosts.gpu]
kind = "ssh"
hostname = "gpu1"
remote_root = "~/cosmos"
"""
    with pytest.raises(ConfigError, match=r"hosts\.gpu\.remote_root = '~/cosmos'.*no ~"):
        load_config(write(tmp_path, text))
    ok = load_config(write(tmp_path, text.replace("~/cosmos", "/data/cosmos")))
    assert ok.hosts["gpu"].cosmos_checkout == "/data/cosmos/cosmos-transfer1"
