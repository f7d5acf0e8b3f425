"""Every host key the config reader accepts is documented in the shipped config.toml."""

from __future__ import annotations

import re

from backend.config.hosts import GENERIC_KEYS
from tests.helpers import ROOT


def test_every_generic_host_key_is_in_config_toml():
    text = (ROOT / "config.toml").read_text()
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.M))
    missing = sorted(set(GENERIC_KEYS) - documented)
    assert missing == [], f"document these host keys in config.toml: {missing}"
