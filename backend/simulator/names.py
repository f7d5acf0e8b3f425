"""Docker-style random container names (`adjective_scientist`) for `run` without --name."""

from __future__ import annotations

import secrets
from collections.abc import Callable

_LEFT = (
    "admiring", "bold", "brave", "calm", "clever", "dreamy", "eager", "focused", "gallant",
    "happy", "jolly", "keen", "lucid", "modest", "nifty", "optimistic", "quirky", "serene",
    "sharp", "stoic", "tender", "upbeat", "vibrant", "wizardly", "zealous",
)
_RIGHT = (
    "babbage", "curie", "darwin", "einstein", "feynman", "galileo", "hopper", "hypatia",
    "kepler", "lovelace", "meitner", "newton", "noether", "pasteur", "ramanujan", "shannon",
    "tesla", "turing", "wozniak", "yalow",
)


def random_name(taken: Callable[[str], bool]) -> str:
    """A free `adjective_name`; adds a digit suffix after collisions, as docker does."""
    for attempt in range(20):
        name = f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"
        if attempt >= 5:
            name += str(secrets.randbelow(10))
        if not taken(name):
            return name
    return f"cosmos_sim_{secrets.token_hex(4)}"
