"""`[prepare]`: how image sequences become a run's videos (`cosmos prepare`, Create's
"From an image sequence"): which file names are which pass, and the HDR tone map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from backend.config.reader import Reader

PASS_CONTROLS = ("vis", "edge", "depth", "seg")
TONEMAPS = ("reinhard", "clamp")
DEFAULT_PASSES: Mapping[str, tuple[str, ...]] = {
    "depth": ("*depth*",), "seg": ("*seg*", "*mask*"), "edge": ("*edge*",)}


@dataclass(frozen=True)
class PrepareSettings:
    passes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_PASSES))
    tonemap: str = "reinhard"
    exposure: float = 0.0


def read_prepare(root: Reader) -> PrepareSettings:
    r = root.sub("prepare")
    r.unknown_keys({"passes", "tonemap", "exposure"})
    allowed = ("a table of control = [glob patterns], controls from " + ", ".join(PASS_CONTROLS)
               + ', e.g. { depth = ["*depth*"], seg = ["*seg*", "*mask*"] }')
    raw = r.get("passes", dict, None, allowed, lambda v: all(
        k in PASS_CONTROLS and isinstance(g, list) and g
        and all(isinstance(x, str) and x.strip() for x in g) for k, g in v.items()))
    passes = dict(DEFAULT_PASSES) if raw is None else {k: tuple(v) for k, v in raw.items()}
    return PrepareSettings(
        passes=passes,
        tonemap=r.get("tonemap", str, "reinhard", "one of " + ", ".join(TONEMAPS),
                      lambda v: v in TONEMAPS),
        exposure=r.get("exposure", float, 0.0, "a number of stops from -20 to 20",
                       lambda v: -20 <= v <= 20),
    )
