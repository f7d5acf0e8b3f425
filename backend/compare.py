"""What differs between two runs: their settings, one row per parameter, and their prompts, word
by word. Pure functions over stored params dicts (no store, no UI), shared by the Compare tab and
anything else that wants to explain why two videos look different.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Mapping

from backend.models.transfer1.params import CONTROLS

#: Parameters in the order a person reads them; anything else follows alphabetically.
PARAM_ORDER: tuple[str, ...] = (
    "prompt", "negative_prompt", "input_video",
    *(f"weights.{c}" for c in CONTROLS),
    *(f"control_videos.{c}" for c in CONTROLS),
    "seg_prompt", "seed", "num_steps", "guidance", "sigma_max", "fps", "blur_strength",
    "canny_threshold", "num_gpus", "upscale_weight", "chain_upscale",
)
#: Labels for the table (the raw key is shown next to it for people who script runs).
LABELS: dict[str, str] = {
    "prompt": "Prompt", "negative_prompt": "Negative prompt", "input_video": "Input video",
    "seg_prompt": "Seg text prompt", "seed": "Seed", "num_steps": "Steps",
    "guidance": "Guidance", "sigma_max": "Sigma max", "fps": "FPS",
    "blur_strength": "Vis blur", "canny_threshold": "Canny threshold", "num_gpus": "GPUs",
    "upscale_weight": "Upscale weight", "chain_upscale": "Upscale after run",
    **{f"weights.{c}": f"Weight {c}" for c in CONTROLS},
    **{f"control_videos.{c}": f"Control video {c}" for c in CONTROLS},
}
#: Values that mean "not set" for a key, so a missing key and its default compare equal.
_UNSET: dict[str, Any] = {
    **{f"weights.{c}": 0.0 for c in CONTROLS},
    **{f"control_videos.{c}": None for c in CONTROLS},
    "seg_prompt": "", "fps": None, "chain_upscale": False, "input_video": None,
}


@dataclass(frozen=True)
class ParamRow:
    key: str
    label: str
    a: Any
    b: Any
    differs: bool


def flatten(params: Mapping[str, Any]) -> dict[str, Any]:
    """{'weights': {'edge': 1}} -> {'weights.edge': 1}; every control key present."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                flat[f"{key}.{sub}"] = inner
        else:
            flat[key] = value
    for key, unset in _UNSET.items():
        flat.setdefault(key, unset)
    return flat


def _normal(key: str, value: Any) -> Any:
    """Equal settings compare equal: 1 == 1.0, '' == None for optional text/paths."""
    if value in ("", None) and _UNSET.get(key, "x") in ("", None):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _sort_key(key: str) -> tuple[int, str]:
    return (PARAM_ORDER.index(key), "") if key in PARAM_ORDER else (len(PARAM_ORDER), key)


def param_rows(a: Mapping[str, Any], b: Mapping[str, Any], *,
               only_differences: bool = True) -> list[ParamRow]:
    """One row per parameter of either run (just the differing ones unless told otherwise)."""
    fa, fb = flatten(a), flatten(b)
    rows = []
    for key in sorted(set(fa) | set(fb), key=_sort_key):
        va, vb = fa.get(key, _UNSET.get(key)), fb.get(key, _UNSET.get(key))
        differs = _normal(key, va) != _normal(key, vb)
        if differs or not only_differences:
            rows.append(ParamRow(key, LABELS.get(key, key), va, vb, differs))
    return rows


def effective_weights(params: Mapping[str, Any]) -> dict[str, float]:
    """The weights Cosmos actually uses: as set, or rescaled to sum 1 when they sum above 1."""
    raw = params.get("weights") or {}
    weights = {c: float(raw.get(c) or 0) for c in CONTROLS if float(raw.get(c) or 0) > 0}
    total = sum(weights.values())
    if total > 1:
        return {c: w / total for c, w in weights.items()}
    return weights


_TOKEN_RE = re.compile(r"\s+|[^\s]+")


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """The prompt change as (op, text) pieces, op in 'same', 'del' (only in a), 'ins' (only in b).

    Words are compared, whitespace is kept with them, so joining the 'same' and 'del' pieces
    gives `a` back and joining 'same' and 'ins' gives `b`.
    """
    ta, tb = _TOKEN_RE.findall(a or ""), _TOKEN_RE.findall(b or "")
    matcher = difflib.SequenceMatcher(a=ta, b=tb, autojunk=False)
    out: list[tuple[str, str]] = []

    def add(op: str, text: str) -> None:
        if not text:
            return
        if out and out[-1][0] == op:
            out[-1] = (op, out[-1][1] + text)
        else:
            out.append((op, text))

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("same", "".join(ta[i1:i2]))
            continue
        if tag in ("delete", "replace"):
            add("del", "".join(ta[i1:i2]))
        if tag in ("insert", "replace"):
            add("ins", "".join(tb[j1:j2]))
    return out


def describe_change(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """A one-line summary ('seed 1 -> 7, weight edge 1 -> 0.5, prompt changed')."""
    parts = []
    for row in param_rows(a, b):
        if row.key in ("prompt", "negative_prompt"):
            parts.append(f"{row.label.lower()} changed")
        elif row.key == "input_video" or row.key.startswith("control_videos."):
            parts.append(f"{row.label.lower()} differs")
        else:
            parts.append(f"{row.label.lower()} {_short(row.a)} -> {_short(row.b)}")
    return ", ".join(parts) if parts else "same settings"


def _short(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


__all__ = ["LABELS", "PARAM_ORDER", "ParamRow", "describe_change", "effective_weights",
           "flatten", "param_rows", "word_diff"]
