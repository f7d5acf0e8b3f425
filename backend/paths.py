"""Where the project's own files are, computed once (modules move; these names do not)."""

from __future__ import annotations

from pathlib import Path

#: The checkout (the folder holding launch.py and config.toml).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The config file shipped next to launch.py.
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config.toml"
#: Small sample clips, so a first run needs no footage of one's own.
ASSETS_DIR = PROJECT_ROOT / "assets"
