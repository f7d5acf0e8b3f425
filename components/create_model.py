"""The model-dependent part of the Create form: the model picker, the per-control options
(masks, mask prompts, checkpoints, weight maps), the variant, offloading, regional prompts and
the model-only settings, and what happens when the model changes.

A mixin of CreateForm (it uses the form's `ops`, `fields`, `components`, `_err`, `_values`
and `_preview`). The components exist for every model's fields at once; switching the model
shows the new model's, with its labels and ranges (components/model_switch.py decides), keeps
the values that still apply and says which changed. What is shown is always the profile's
(backend/models/profile.py); nothing here names a model.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from backend import accounts
from backend.models.params import ALL_CONTROLS
from backend.models.profile import get_profile
from components import lenient
from components.form_values import (EXTRA_FIELDS, FIELDS, PRIMARY_FIELDS, offload_default,
                                    params_from_values, profile_of)
from components.model_switch import component_looks, switch_note, switch_values
from cosmos_ui import auth

_OPTION_LABELS = {"mask": "{c} mask video (white = the control applies)",
                  "mask_prompt": "{c} mask prompt (SAM2 makes the mask: 'robotic arm . gripper')",
                  "ckpt": "{c} checkpoint on the box (post-trained ControlNet, .pt)",
                  "weight_map": "{c} weight map (.pt spatiotemporal weights)"}
_ERROR_OF = {"mask": "mask_path", "mask_prompt": "mask_prompt", "ckpt": "ckpt_path",
             "weight_map": "weight_map"}


class OffloadChoices(gr.CheckboxGroup):
    """The offload flags, whose choices change with the model. Why lenient: a model switch
    updates the fields in order, and a field updated before this one (a negative prompt that
    differs between models) fires its change event with this one's value of the old model;
    Gradio would refuse that event outright. The stale flags are dropped from that event
    only (the artist can only tick the shown choices, and validation checks what launches).
    A subclass, since Gradio rebuilds a session's component from its class on an update
    (it also writes a .pyi stub beside it: ignored in .gitignore)."""

    def preprocess(self, payload):  # type: ignore[override]
        values = [value for _, value in self.choices]
        return super().preprocess([v for v in payload or [] if v in values])


class ModelForm:
    # -- building (called inside the form's layout) --------------------------------------------
    def _model_picker(self, f: dict, defaults: Any) -> None:
        models = self.ops.models()
        f["model"] = lenient.Dropdown(label="Model",
                                      choices=[(m["name"], m["id"]) for m in models],
                                      value=defaults.model, elem_id="model",
                                      info="What the GPU box runs; the form shows its controls.")
        self._err("model")

    def _control_options(self, f: dict, control: str) -> None:
        for key in ("mask", "mask_prompt", "ckpt", "weight_map"):
            label = _OPTION_LABELS[key].format(c=control)
            elem = f"{key.replace('_', '-')}-{control}"
            if key in ("mask", "weight_map"):
                f[f"{key}.{control}"] = gr.File(label=label, type="filepath", elem_id=elem,
                                                height=90, visible=False,
                                                file_types=["video"] if key == "mask" else None)
            else:
                f[f"{key}.{control}"] = gr.Textbox(label=label, elem_id=elem, visible=False,
                                                   max_length=500)
            self._err(f"control_options.{control}.{_ERROR_OF[key]}")

    def _extra_component(self, f: dict, name: str) -> None:
        """A component for a model setting only some profiles have, built from the first
        profile that declares it (its look per model comes from component_looks)."""
        from backend.models.profile import profile_ids

        spec = next(s for m in profile_ids() for s in get_profile(m).fields() if s.name == name)
        elem = name.split(".", 1)[1].replace("_", "-")
        with gr.Column(min_width=160):
            if spec.kind == "choice":
                f[name] = lenient.Dropdown(label=spec.label, choices=list(spec.choices),
                                           value=spec.default, elem_id=elem, visible=False)
            else:
                f[name] = lenient.Number(label=spec.label, value=spec.default, elem_id=elem,
                                         precision=0 if spec.kind == "integer" else None,
                                         visible=False)
            self._err(name)

    def _primary_settings(self, f: dict) -> None:
        """The settings a profile shows beside the model (Cosmos 3's mode and checkpoint)."""
        with gr.Row(elem_id="primary-settings"):
            for name in PRIMARY_FIELDS:
                self._extra_component(f, name)

    def _model_settings(self, f: dict, defaults: Any) -> None:
        profile = get_profile(defaults.model)
        with gr.Row():
            with gr.Column(min_width=220):
                f["variant"] = gr.Checkbox(label="Distilled variant", value=bool(defaults.variant),
                                           elem_id="variant")
                self._err("variant")
            with gr.Column(min_width=220):
                host = self.ops.settings.hosts[self.ops.settings.generation.host]
                f["offload"] = OffloadChoices(
                    label="Offload (defaults to the host's)", elem_id="offload",
                    choices=list(profile.offload_flags),
                    value=offload_default(profile, host.offload))
                self._err("offload")
        with gr.Row():
            f["batch_size"] = self._number("Batch size", defaults.batch_size, "batch_size",
                                           precision=0)
            with gr.Column(min_width=140):
                f["extra.resolution"] = lenient.Dropdown(label="Resolution", choices=["720"],
                                                         value="720", elem_id="resolution",
                                                         visible=False)
                self._err("extra.resolution")
            with gr.Column(min_width=140):
                f["extra.max_frames"] = lenient.Number(label="Max frames", value=None,
                                                       precision=0, elem_id="max-frames",
                                                       visible=False)
                self._err("extra.max_frames")
        with gr.Row():
            for name in EXTRA_FIELDS:
                if name not in PRIMARY_FIELDS:
                    self._extra_component(f, name)
        f["regional_prompts"] = gr.Textbox(label="Regional prompts", lines=2,
                                           elem_id="regional-prompts",
                                           placeholder="red dress @ 0,0,0.5,1")
        self._err("regional_prompts")

    # -- updates ----------------------------------------------------------------------------------
    def _looks(self, profile, values: dict[str, Any] | None = None,
               form: dict[str, Any] | None = None, only: tuple[str, ...] | None = None
               ) -> list[Any]:
        """gr.update()s for self.components (the fields, then the shown-model state), then the
        input row and the controls section: this model's look for the request the form holds
        (`form`, its values), and `values` where given."""
        merged = {**(form or {}), **(values or {}), "model": profile.id}
        looks = component_looks(profile, params_from_values(merged))
        out = []
        for key in FIELDS:
            look = dict(looks.get(key, {}))
            if only is not None:  # just these attributes (a shape change: what is shown)
                look = {k: v for k, v in look.items() if k in only and key not in (
                    "offload", "model", "host")}
            if values is not None and key in values and key != "model":
                look["value"] = values[key]
            out.append(gr.update(**look) if look else gr.skip())
        return out + [profile.id, gr.update(visible=looks["input_row"]["visible"]),
                      gr.update(visible=looks["controls_box"]["visible"])]

    def _on_shape(self, request: gr.Request, model: str | None, *primary: Any):
        """A setting that changes what the request takes (a mode) changed: re-look. Only the
        model and those settings are read (the other fields may be mid-switch)."""
        if not auth.allowed(self.ops, request, accounts.LAUNCH):
            return [gr.skip()] * (len(self.components) + 2)
        values = dict(zip(PRIMARY_FIELDS, primary), model=model)
        profile = profile_of(values)
        if not any(profile.field(name) for name in PRIMARY_FIELDS):
            # fired mid-switch with the old model (its value not applied yet): the switch's
            # own response shapes the form
            return [gr.skip()] * (len(self.components) + 2)
        return self._looks(profile, form=values, only=("visible", "label", "info"))

    def initial_looks(self) -> list[Any]:
        """The looks of the page's model when it opens (the layout built the union)."""
        return self._looks(get_profile(self.ops.settings.generation.model))

    def _on_model(self, request: gr.Request, *args):
        """The model changed: show its fields. When the artist picked it (the form showed
        another one), also switch the values and say what changed; a fill (a preset, a run's
        settings) set the shown model with the values, so nothing is switched then."""
        if not auth.allowed(self.ops, request, accounts.LAUNCH):
            return [gr.skip()] * (len(self.components) + 7 + len(ALL_CONTROLS))
        values = self._values(args)
        shown = args[len(FIELDS)] if len(args) > len(FIELDS) else None
        new = profile_of(values)
        enhance = gr.update(visible="enhance" in new.run_types)
        if not shown or shown == new.id:
            return [*self._looks(new, form=values), gr.skip(), enhance, *self._preview(*args)]
        old = get_profile(shown)
        host = self.ops.settings.hosts.get(values.get("host") or "")
        switched, changed, unused = switch_values(
            values, old, new, host_offload=host.offload if host else (),
            old_defaults=self.ops.default_params(old.id),
            new_defaults=self.ops.default_params(new.id))
        merged = dict(values, **switched)
        note = switch_note(new, changed, unused)
        if host is not None and not host.serves(new.id):
            serving = [n for n, h in self.ops.settings.hosts.items() if h.serves(new.id)]
            note += (f" Host **{host.name}** does not serve it; choose a host that does "
                     f"({', '.join(serving) or 'none'}).")
        return [*self._looks(new, switched, form=values), note, enhance,
                *self._preview(*[merged.get(k) for k in FIELDS])]

    def _on_host(self, request: gr.Request, host_name: str | None, model: str | None):
        """A new host: its offload flags become the default of this run."""
        if not auth.allowed(self.ops, request, accounts.LAUNCH):
            return gr.skip()
        host = self.ops.settings.hosts.get(host_name or "")
        if host is None:
            return gr.skip()
        # profile_of: a scripted unknown model id shows the default's flags, never an error
        return gr.update(value=offload_default(profile_of({"model": model or host.models[0]}),
                                               host.offload))

    def _wire_model(self, note: gr.Markdown) -> None:
        private = dict(api_visibility="private", show_progress="hidden")
        f = self.fields
        shaped = [*self.components, self.input_row, self.controls_col]
        f["model"].change(self._on_model, self.components,
                          [*shaped, note, self.enhance_button, self.spec,
                           self.weight_note, *(self.errors[f"weights.{c}"] for c in ALL_CONTROLS),
                           self.plan],
                          **private)
        # one event for every primary field: the form's shape follows the latest values
        gr.on([f[n].change for n in PRIMARY_FIELDS], self._on_shape,
              [f["model"], *(f[n] for n in PRIMARY_FIELDS)], shaped, trigger_mode="always_last",
              **private)
        f["host"].change(self._on_host, [f["host"], f["model"]], f["offload"], **private)


__all__ = ["ModelForm", "ALL_CONTROLS"]
