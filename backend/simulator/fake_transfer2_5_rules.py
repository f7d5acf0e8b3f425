"""What the fake Transfer2.5 checks: cosmos_transfer2/config.py's sample schema with pydantic's
error wording, the failure switches, the text guardrail, chunking and the setup checks (its
renders are in fake_transfer2_5_render.py).

STDLIB ONLY; copied into the stand-in checkout as `examples/_sim_rules.py`.
"""

from __future__ import annotations

import json
import os
import re
import sys

try:
    import _sim_shared as sim  # type: ignore[import-not-found]
except ImportError:
    from backend.simulator import fake_transfer as sim  # type: ignore[no-redef]

CONTROL_KEYS = ["edge", "vis", "depth", "seg"]
PRESETS = ["very_low", "low", "medium", "high", "very_high"]
DEFAULT_NEGATIVE_PROMPT = sim.DEFAULT_NEGATIVE_PROMPT  # the same text upstream (config.py)
FAILURES = ("oom", "crash", "hang", "nccl", "guardrail", "guardrail_video")
BLOCKLIST = ("sim-unsafe", "sim-blocked")
_MISSING = object()
_VIDEO = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".jpg", ".jpeg", ".png")
#: Where HF's cache keeps each checkpoint (snapshots/<pinned revision>/<file>).
_CKPT = {
    "edge": "b67b64abda3801a9aceddbff2bdb86126c06db74/general/edge/"
            "61f5694b-0ad5-4ecd-8ad7-c8545627d125_ema_bf16.pt",
    "depth": "dea7737ca29dd8d9086413c6dc5724b8250a0bb4/general/depth/"
             "626e6618-bfcd-4d9a-a077-1409e2ce353f_ema_bf16.pt",
    "vis": "eb5325b77d358944da58a690157dd2b8071bbf85/general/blur/"
           "ba2f44f2-c726-4fe7-949f-597069d9b91c_ema_bf16.pt",
    "seg": "23057a4167b89de89a4a397fdbf3887994d115eb/general/seg/"
           "5136ef49-6d8d-42e8-8abf-7dac722a304a_ema_bf16.pt",
    "edge/distilled": "bbaeedb2b57cc8b14a44653099e2551adb69dcc7/distilled/general/edge/"
                      "41f07f13-f2e4-4e34-ba4c-86f595acbc20_ema_bf16.pt",
}


class Invalid(Exception):
    """One pydantic error: (location, message, type, input)."""


def _err(loc, msg, kind, value):
    return (loc, msg, kind, value)


def _int(loc, value, errors, *, ge=None, le=None, gt=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors.append(_err(loc, "Input should be a valid integer", "int_type", value))
        return None
    if isinstance(value, float):
        if not value.is_integer():
            errors.append(_err(loc, "Input should be a valid integer, got a number with a "
                               "fractional part", "int_from_float", value))
            return None
        value = int(value)
    if isinstance(value, str):
        if not re.fullmatch(r"\s*-?\d+\s*", value):
            errors.append(_err(loc, "Input should be a valid integer, unable to parse string as "
                               "an integer", "int_parsing", value))
            return None
        value = int(value)
    for bound, ok, text, kind in ((gt, lambda b: value > b, "greater than", "greater_than"),
                                  (ge, lambda b: value >= b, "greater than or equal to",
                                   "greater_than_equal"),
                                  (le, lambda b: value <= b, "less than or equal to",
                                   "less_than_equal")):
        if bound is not None and not ok(bound):
            errors.append(_err(loc, "Input should be %s %s" % (text, bound), kind, value))
            return None
    return value


def _file(loc, value, errors):
    if not isinstance(value, str):
        errors.append(_err(loc, "Input is not a valid path", "path_type", value))
        return None
    path = os.path.abspath(os.path.expanduser(value))
    if not os.path.isfile(path):
        errors.append(_err(loc, "Path does not point to a file", "path_not_file", value))
        return None
    return path


def _control(key, block, errors):
    if not isinstance(block, dict):
        errors.append(_err(key, "Input should be a valid dictionary or instance of %sConfig"
                           % {"vis": "Blur"}.get(key, key.capitalize()), "model_type", block))
        return None
    out = {"control_weight": 1.0}  # unknown keys are ignored upstream (no extra="forbid")
    if block.get("control_weight") is not None:
        w = block["control_weight"]
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            try:
                w = float(w)
            except (TypeError, ValueError):
                errors.append(_err(key + ".control_weight", "Input should be a valid number",
                                   "float_parsing", block["control_weight"]))
                w = None
        if w is not None and not 0.0 <= float(w) <= 1.0:
            errors.append(_err(key + ".control_weight", "Input should be %s" % (
                "greater than or equal to 0" if w < 0 else "less than or equal to 1"),
                "greater_than_equal" if w < 0 else "less_than_equal", w))
        elif w is not None:
            out["control_weight"] = float(w)
    for name in ("control_path", "mask_path"):
        if block.get(name) is not None:
            out[name] = _file(key + "." + name, block[name], errors)
    for name in ("mask_prompt",) + (("control_prompt",) if key == "seg" else ()):
        if block.get(name) is not None:
            if not isinstance(block[name], str):
                errors.append(_err(key + "." + name, "Input should be a valid string",
                                   "string_type", block[name]))
            out[name] = block[name]
    preset = {"edge": "preset_edge_threshold", "vis": "preset_blur_strength"}.get(key)
    if preset:
        value = block.get(preset, "medium")
        if value not in PRESETS:
            errors.append(_err(key + "." + preset, "Input should be 'very_low', 'low', "
                               "'medium', 'high' or 'very_high'", "literal_error", value))
        out[preset] = value
    return out


def validate(data):
    """InferenceArguments.model_validate: the resolved sample, or raise Invalid(errors)."""
    errors = []
    if not isinstance(data, dict):
        raise Invalid([_err("", "Input should be a valid dictionary", "dict_type", data)])
    known = {"name", "prompt_path", "prompt", "negative_prompt", "seed", "guidance",
             "video_path", "max_frames", "context_frame_index", "image_context_path",
             "num_conditional_frames", "resolution", "sigma_max", "num_video_frames_per_chunk",
             "num_steps", "show_control_condition", "show_input", "keep_input_resolution",
             "guided_generation_mask", "guided_generation_step_threshold",
             "guided_generation_foreground_labels"} | set(CONTROL_KEYS)
    for key in data:
        if key not in known:
            errors.append(_err(key, "Extra inputs are not permitted", "extra_forbidden",
                               data[key]))
    out = {}
    if data.get("prompt") is None and data.get("prompt_path") is not None:
        path = _file("prompt_path", data["prompt_path"], errors)
        if path:
            out["prompt"] = open(path).read().strip()
    for key, kind in (("name", str), ("prompt", str)):
        value = out.get(key, data.get(key, _MISSING))
        if value is _MISSING or value is None:
            errors.append(_err(key, "Field required", "missing", data))
        elif not isinstance(value, kind):
            errors.append(_err(key, "Input should be a valid string", "string_type", value))
        else:
            out[key] = value
    out["negative_prompt"] = data.get("negative_prompt", DEFAULT_NEGATIVE_PROMPT)
    if not isinstance(out["negative_prompt"], str):
        errors.append(_err("negative_prompt", "Input should be a valid string", "string_type",
                           out["negative_prompt"]))
    if "video_path" not in data:
        errors.append(_err("video_path", "Field required", "missing", data))
    else:
        out["video_path"] = _file("video_path", data["video_path"], errors)
    out["seed"] = _int("seed", data.get("seed", 2025), errors)
    out["guidance"] = _int("guidance", data.get("guidance", 3), errors, ge=0, le=7)
    out["num_steps"] = _int("num_steps", data.get("num_steps", 35), errors, gt=0)
    out["num_video_frames_per_chunk"] = _int("num_video_frames_per_chunk",
                                             data.get("num_video_frames_per_chunk", 93),
                                             errors, gt=0)
    if data.get("max_frames") is not None:
        out["max_frames"] = _int("max_frames", data["max_frames"], errors, gt=0)
    cond = data.get("num_conditional_frames", 1)
    if cond not in (0, 1, 2) or isinstance(cond, bool):
        errors.append(_err("num_conditional_frames", "Input should be 0, 1 or 2",
                           "literal_error", cond))
    out["num_conditional_frames"] = cond
    for key, default in (("resolution", "720"), ("sigma_max", None)):
        value = data.get(key, default)
        if value is not None and not isinstance(value, str):
            errors.append(_err(key, "Input should be a valid string", "string_type", value))
        out[key] = value
    for key in ("show_control_condition", "show_input", "keep_input_resolution"):
        out[key] = data.get(key, key == "keep_input_resolution")
    for key in CONTROL_KEYS:
        if data.get(key) is not None:
            out[key] = _control(key, data[key], errors)
    if data.get("image_context_path") is not None:
        out["image_context_path"] = _file("image_context_path", data["image_context_path"],
                                          errors)
    if not errors and not any(out.get(k) for k in CONTROL_KEYS):
        errors.append(_err("", "Value error, No controls provided, please provide at least one "
                           "control key (edge, blur, depth, seg)", "value_error", data))
    if not errors and out.get("vis") and out.get("image_context_path"):
        errors.append(_err("", "Value error, vis control and image_context_path are both used "
                           "to transfer style. Using these modes together leads to conflicts. "
                           "Please only provide one", "value_error", data))
    if errors:
        raise Invalid(errors)
    return out


def _report(path, line, errors):
    text = ["Error validating parameters from '%s' at line %d" % (path, line),
            "%d validation error%s for InferenceArguments" % (len(errors),
                                                              "" if len(errors) == 1 else "s")]
    for loc, msg, kind, value in errors:
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        text += [loc or "InferenceArguments", "  %s [type=%s, input_value=%s, input_type=%s]"
                 % (msg, kind, shown, type(value).__name__),
                 "    For further information visit https://errors.pydantic.dev/2.11/v/%s"
                 % kind]
    sys.stderr.write("\n".join(text) + "\n")
    sys.stderr.flush()


def load_samples(paths):
    """InferenceArguments.from_files: every sample, resolved; exits 1 like upstream."""
    samples = []
    for raw in paths:
        path = os.path.abspath(raw)
        suffix = os.path.splitext(path)[1]
        if suffix == ".json":
            data_list = [json.loads(open(path).read())]
        elif suffix == ".jsonl":
            data_list = [json.loads(line) for line in open(path).read().splitlines()]
        else:
            raise ValueError("Unsupported file extension: %s" % suffix)
        cwd = os.getcwd()
        os.chdir(os.path.dirname(path))
        for i, data in enumerate(data_list):
            try:
                samples.append(validate(data))
            except Invalid as exc:
                _report(path, i, exc.args[0])
                sys.exit(1)
        os.chdir(cwd)
    names, hints = set(), set()
    for sample in samples:
        if sample["name"] in names:
            print("Error: Inference samplename %s is not unique" % sample["name"],
                  file=sys.stderr)
            sys.exit(1)
        names.add(sample["name"])
        hints.update(k for k in CONTROL_KEYS if sample.get(k))
    return samples, [k for k in CONTROL_KEYS if k in hints]


def resolved(sample):
    """What `sample.model_dump_json()` writes: every field, defaults filled, absolute paths."""
    out = dict(sample)
    for key in CONTROL_KEYS:
        out.setdefault(key, None)
        if out[key]:
            out[key] = dict({"control_path": None, "mask_path": None, "mask_prompt": None},
                            **out[key])
    out.setdefault("max_frames", None)
    for key in ("prompt_path", "context_frame_index", "image_context_path",
                "guided_generation_mask", "guided_generation_foreground_labels"):
        out.setdefault(key, None)
    out.setdefault("guided_generation_step_threshold", 25)
    return out


def control_modalities(sample):
    out = {}
    for key in CONTROL_KEYS:
        if sample.get(key):
            out[key] = sample[key].get("control_path")
            out[key + "_mask"] = sample[key].get("mask_path")
            out[key + "_mask_prompt"] = sample[key].get("mask_prompt")
    return out


def directives(prompt):
    found = set(m.lower() for m in re.findall(r"\[sim:([a-z_]+)\]", prompt or "", re.I))
    env = os.environ.get("COSMOS_SIM_FAIL", "").strip().lower()
    if env:
        found.add(env)
    return found & set(FAILURES)


def text_guardrail(text, forced):
    if forced:
        return "Qwen3Guard flagged the text as Unsafe (category: Violent) (cosmos-sim)"
    for word in BLOCKLIST:
        if word in (text or "").lower():
            return "Blocklist: the text contains a blocked word (%s)" % word
    return None


def chunks(frames, chunk, cond):
    """inference_pipeline._get_num_chunks."""
    if chunk == 1 or frames <= chunk:
        return 1
    step = chunk - cond
    extra = frames - chunk
    return 1 + extra // step + (1 if extra % step else 0)


def check_setup(args, hints, sim_mod):
    """What Control2WorldInference.__init__ fails on before any model work."""
    if args.model.endswith("/distilled") and hints != ["edge"]:
        if len(hints) == 1:
            raise KeyError("ModelKey(variant=<ModelVariant.%s: '%s'>, distilled=True)"
                           % (hints[0].upper(), hints[0]))
        raise KeyError("ModelKey(variant=<ModelVariant.EDGE: 'edge'>, distilled=True)")
    world = sim_mod.world_size()
    if world > sim_mod.visible_gpus():
        raise RuntimeError("CUDA error: invalid device ordinal" + sim_mod.CUDA_HINT)
    if 24 % world:
        raise ValueError("Split by width dimension is not currently supported. Got 24 latent "
                         "frames for context parallel size %d" % world)
