"""config.toml -> typed, validated settings."""

from backend.config.settings import *  # noqa: F401,F403
