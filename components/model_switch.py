"""Switching the Create form from one model to another: keep what still applies, say what
changed, and what each component looks like for the new model.

Pure functions (no Gradio): `switch_values` is unit tested on its own; the form turns
`component_looks` into gr.update()s.

The rule for a setting both models have: a value the artist left at the old model's default
follows the new model's default (Transfer1's guidance 5 is not an artist's choice on
Transfer2.5, whose own default is 3); a value the artist chose is kept if the new model
accepts it, else it becomes the new model's default, with the reason. Settings, controls and
options the new model lacks stay in the form (hidden, so switching back restores them) and are
named as not used.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from backend.models.params import ALL_CONTROLS, GenerationParams
from backend.models.profile import FieldSpec, ModelProfile
from components.form_values import (EXTRA_FIELDS, OPTION_KEYS, form_key, offload_default,
                                    regions_text)

_EPS = 1e-9


def _label(spec: FieldSpec) -> str:
    return spec.label.split(" (")[0].lower()


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "empty"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fits(spec: FieldSpec, value: Any) -> tuple[bool, str]:
    """(the new model accepts `value` for this field, what it allows)."""
    if value is None or value == "":
        return spec.optional or spec.kind in ("text", "regions"), "a value"
    if spec.kind == "choice":
        ok = value in spec.choices or str(value) in [str(c) for c in spec.choices]
        return ok, "one of " + ", ".join(str(c) for c in spec.choices)
    if spec.kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, "a number"
        if spec.kind == "integer" and not float(value).is_integer():
            return False, "a whole number"
        lo = spec.minimum if spec.minimum is not None else float("-inf")
        hi = spec.maximum if spec.maximum is not None else float("inf")
        what = ("a whole number" if spec.kind == "integer" else "a number") + (
            f" from {_shown(float(lo))} to {_shown(float(hi))}" if spec.maximum is not None
            else "")
        return lo - _EPS <= float(value) <= hi + _EPS, what
    return True, "text"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b)) < _EPS
    return a == b


def switch_values(values: Mapping[str, Any], old: ModelProfile, new: ModelProfile,
                  *, host_offload: Sequence[str] = (), old_defaults: Any = None,
                  new_defaults: Any = None) -> tuple[dict[str, Any], list[str], list[str]]:
    """(the values to set, what changed, what is no longer used) when the form goes from
    `old` to `new`. `*_defaults` are the models' GenerationParams defaults (the config's for
    the default model); without them the profiles' field defaults are used."""
    out: dict[str, Any] = {"model": new.id}
    changed: list[str] = []
    unused: list[str] = []
    old_fields = {f.name: f for f in old.fields()}
    for spec in new.fields():
        key = form_key(spec.name)
        value = values.get(key)
        default = _default(spec, new_defaults)
        before = old_fields.get(spec.name)
        if before is not None and _same(value, _default(before, old_defaults)):
            if not _same(value, default):
                out[key] = default
                changed.append(f"{_label(spec)} {_shown(value)} → {_shown(default)} "
                               f"({new.name}'s default)")
            continue
        fits, allowed = _fits(spec, value)
        if before is None or not fits:
            if not _same(value, default) and before is not None:
                changed.append(f"{_label(spec)} {_shown(value)} → {_shown(default)} "
                               f"({new.name} takes {allowed})")
            out[key] = default
    for spec in old.fields():
        if new.field(spec.name) is None:
            value = values.get(form_key(spec.name))
            if not _same(value, _default(spec, old_defaults)) and value not in (None, "", 0):
                unused.append(f"{_label(spec)} {_shown(value)}")
    if old_defaults is not None and new_defaults is not None and \
            values.get("negative_prompt") == old_defaults.negative_prompt:
        out["negative_prompt"] = new_defaults.negative_prompt
    for control in ALL_CONTROLS:
        weight = values.get(f"weight.{control}") or 0
        if new.control(control) is None:
            if not isinstance(weight, (int, float)) or weight > 0:
                unused.append(f"the {control} control (weight {_shown(weight)}): {new.name} has no "
                              f"{control} control")
            if values.get(f"control.{control}"):
                unused.append(f"the {control} control video")
            continue
        options = set(new.control(control).options)
        for option, prefix in OPTION_KEYS.items():
            if values.get(f"{prefix}.{control}") and option not in options:
                unused.append(f"{control} {option.replace('_', ' ')}")
    if values.get("weight_prompt") and "weight_prompt" not in set(
            getattr(new.control("seg"), "options", ())):
        unused.append("the seg weight prompt")
    variant = bool(values.get("variant"))
    if variant and not new.variants:
        out["variant"] = False
        changed.append(f"the distilled variant is off ({new.name} has none)")
    out["offload"] = offload_default(new, host_offload)
    return out, changed, unused


def _default(spec: FieldSpec, defaults: Any) -> Any:
    """A field's default for a model: its GenerationParams default when given."""
    if defaults is None:
        return spec.default
    name = spec.name
    if name.startswith("extra."):
        return (defaults.extra or {}).get(name.split(".", 1)[1], spec.default)
    if name == "fps":
        return defaults.fps or 0
    if name == "regional_prompts":
        return regions_text(defaults.regional_prompts)
    return getattr(defaults, name, spec.default)


def switch_note(new: ModelProfile, changed: list[str], unused: list[str]) -> str:
    """What the form says after a switch."""
    text = f"Switched to **{new.name}**."
    if changed:
        text += " Changed: " + "; ".join(changed) + "."
    if unused:
        text += " Not used by this model (kept for switching back): " + "; ".join(unused) + "."
    if not changed and not unused:
        text += " Every setting still applies."
    return text


def component_looks(profile: ModelProfile, params: Any = None) -> dict[str, dict[str, Any]]:
    """Per form key: how its component looks for this model (visible, label, range, choices)
    and, given the request, for its shape (a mode without an input hides the input and the
    controls; `input_row` is the input's row, not a field)."""
    looks: dict[str, dict[str, Any]] = {}
    fields = {f.name: f for f in profile.fields()}
    every = ("num_steps", "guidance", "sigma_max", "seed", "fps", "num_gpus", "blur_strength",
             "canny_threshold", "upscale_weight", "batch_size", "regional_prompts",
             "extra.resolution", "extra.max_frames", *EXTRA_FIELDS)
    for name in every:
        spec = fields.get(name)
        look: dict[str, Any] = {"visible": spec is not None}
        if spec is not None:
            look["label"] = spec.label
            if spec.kind in ("integer", "number"):
                look.update(minimum=spec.minimum, maximum=spec.maximum, step=spec.step)
            if spec.kind == "choice":
                look["choices"] = list(spec.choices)
            look["info"] = spec.info  # empty clears another model's note
        looks[form_key(name)] = look
    for control in ALL_CONTROLS:
        spec = profile.control(control)
        looks[f"weight.{control}"] = {"visible": spec is not None,
                                      **({"label": spec.label} if spec else {})}
        looks[f"control.{control}"] = {"visible": spec is not None}
        options = set(spec.options) if spec else set()
        for option, prefix in OPTION_KEYS.items():
            looks[f"{prefix}.{control}"] = {"visible": option in options}
    looks["weight_prompt"] = {"visible": "weight_prompt" in set(
        getattr(profile.control("seg"), "options", ()))}
    looks["variant"] = {"visible": bool(profile.variants),
                        **({"label": profile.variants[0].label,
                            "info": profile.variants[0].summary} if profile.variants else {})}
    looks["offload"] = {"visible": bool(profile.offload_flags),
                        "choices": list(profile.offload_flags)}
    return _shaped(looks, profile, params)


def _shaped(looks: dict[str, dict[str, Any]], profile: ModelProfile, params: Any
            ) -> dict[str, dict[str, Any]]:
    if params is None:
        params = GenerationParams(prompt="", negative_prompt="", model=profile.id)
    shape = profile.shape(params)
    looks["input_row"] = {"visible": shape.input is not None}
    image = shape.input == "image"
    looks["input_choice"] = {"label": "Input image" if image else "Input video",
                             "info": ("A still (.jpg, .png) to start from: upload it below."
                                      if image else
                                      "A sample, a video used before, or (my upload) below.")}
    looks["upload"] = {"label": "Upload an input image" if image else
                       "Upload an input video (or drop one of our outputs to recall its "
                       "settings)"}
    looks["controls_box"] = {"visible": shape.controls}
    looks.setdefault("seg_prompt", {"visible": True})  # hidden only when a shape says so
    if not shape.controls:
        for key in list(looks):
            if key.startswith(("weight.", "control.", *(f"{p}." for p in OPTION_KEYS.values()))):
                looks[key] = dict(looks[key], visible=False)
    for name in shape.hidden:
        key = form_key(name)
        if key in looks:
            looks[key] = dict(looks[key], visible=False)
    return looks
