"""A cell's request: the sweep's base request with the cell's axis values put in.

Why a model axis starts from that model's own defaults: models disagree on ranges (Transfer1's
guidance 5 is out of Transfer2.5's 0-7 whole numbers only by luck, its sigma_max of 70 means
something else), so a cell of another model keeps what the artist wrote (prompt, input,
control videos, the weights of controls it has, seed) and takes the model's defaults for the
rest; the other axes of the cell then apply on top. Each cell is validated like any run, and
a refusal names the cell.
"""

from __future__ import annotations

import copy
from typing import Callable

from backend.models.params import GenerationParams
from backend.sweeps.axes import MODEL_AXIS, SETTING_AXES, Cell


def cell_params(base: GenerationParams, cell: Cell,
                defaults_of: Callable[[str], GenerationParams],
                controls_of: Callable[[str], tuple[str, ...]]) -> GenerationParams:
    """The request of one cell (a copy; `base` is left as it is)."""
    params = copy.deepcopy(base)
    model = cell.values.get(MODEL_AXIS)
    if model is not None and model != base.model:
        params = _for_model(base, model, defaults_of(model), defaults_of(base.model),
                            controls_of(model))
    for name, value in cell.values.items():
        if name == MODEL_AXIS:
            continue
        if name in SETTING_AXES:
            setattr(params, SETTING_AXES[name][0], value)
        else:
            params.weights = dict(params.weights or {})
            params.weights[name] = value
    return params


def _for_model(base: GenerationParams, model: str, fresh: GenerationParams,
               base_defaults: GenerationParams, controls: tuple[str, ...]) -> GenerationParams:
    params = copy.deepcopy(fresh)
    params.model = model
    params.prompt = base.prompt
    if base.negative_prompt != base_defaults.negative_prompt:
        params.negative_prompt = base.negative_prompt  # the artist's own, not a default
    params.input_video = base.input_video
    params.seed = base.seed
    params.control_videos = {c: v for c, v in (base.control_videos or {}).items()
                             if c in controls}
    weights = {c: w for c, w in (base.weights or {}).items() if c in controls}
    if any(float(w or 0) > 0 for w in weights.values()):
        params.weights = {c: 0.0 for c in controls} | weights
    return params
