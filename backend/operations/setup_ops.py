"""Setting boxes up: `cosmos setup` and the Hosts tab's Set up button queue a run of type
`setup` (backend/runs/setup_run.py executes it); the manifests it leaves are read here."""

from __future__ import annotations

import json
import logging
from typing import Any

from backend.hosts import manifest
from backend.models.checks import FieldError
from backend.operations.errors import NotFound, Refused, ValidationFailed
from backend.operations.summary import RunSummary, summarize
from backend.store.models import ACTIVE, QUEUED

log = logging.getLogger(__name__)

RUN_SETUP = "setup"


class SetupOps:
    """A mixin of Operations (settings, store)."""

    def setup(self, host: str, *, model: str | None = None,
              owner: str | None = None) -> RunSummary:
        """Queue a setup of `host` (every model it serves, or `model`); one at a time. It is
        `owner`'s run (default: this process's local user) and takes no GPU."""
        from backend.extensions import host_kind, run_type_runner
        from backend.models.profile import get_profile

        if host not in self.settings.hosts:
            raise NotFound(host)
        cfg = self.settings.hosts[host]
        if model is not None and not cfg.serves(model):
            raise ValidationFailed([FieldError("model", f"{host} does not serve {model!r}; it "
                                               "serves " + ", ".join(cfg.models) + ".")])
        refusal = host_kind(cfg.kind).setup_refusal(cfg)
        if refusal:
            raise Refused(refusal)
        busy = [r for r in self.store.runs_in((QUEUED, *ACTIVE), host=host)
                if r.run_type == RUN_SETUP]
        if busy:
            raise Refused(f"a setup of {host} is already {busy[0].status} ({busy[0].id}); "
                          f"watch it with `cosmos show {busy[0].id}` or kill it first.")
        models = [model] if model else list(cfg.models)
        params = get_profile(models[0]).defaults(self.settings.generation).to_dict()
        params["prompt"] = f"set up {host}: " + ", ".join(models)
        run = self.store.create_run(params=params, host=host, prompt_id=None,
                                    run_type=RUN_SETUP, name=f"setup {host}",
                                    simulated=cfg.simulated, model=models[0],
                                    owner=owner or self.local_user,
                                    gpu_count=run_type_runner(RUN_SETUP).gpus,
                                    spec=json.dumps({"models": models}))
        log.info("queued setup %s of %s (%s)", run.id, host, ", ".join(models))
        return summarize(run)

    def prune(self, hosts: list[str] | None = None, *, older_than_days: float | None = None,
              cache_max_gb: float | None = None, dry_run: bool = False
              ) -> list[dict[str, Any]]:
        """Remove collected run folders, evict the input cache and orphan containers on the
        boxes (backend/runs/prune.py); `None` limits come from each host's retention keys.

        Like doctor, this talks to the boxes; the CLI calls it, never a UI event handler.
        """
        from backend.hosts.runtime import HostRuntime
        from backend.ids import instance_id
        from backend.runs.prune import prune_host
        from backend.runs.scheduler import open_shell

        names = list(hosts or self.settings.hosts)
        for name in names:
            if name not in self.settings.hosts:
                raise NotFound(name)
        for key, value in (("older_than", older_than_days), ("cache_max_gb", cache_max_gb)):
            if value is not None and value < 0:
                raise ValidationFailed([FieldError(key, f"{key} must be >= 0, got {value}")])
        me = instance_id(self.settings.data_dir)
        reports = []
        for name in names:
            cfg = self.settings.hosts[name]
            shell = open_shell(cfg, self.settings)
            try:
                rt = HostRuntime(cfg, shell, store=self.store)
                reports.append(prune_host(
                    self.store, rt, me, dry_run=dry_run,
                    older_than_days=(cfg.retention_days or None)
                    if older_than_days is None else older_than_days,
                    cache_max_gb=(cfg.cache_max_gb or None)
                    if cache_max_gb is None else cache_max_gb).to_dict())
            finally:
                shell.close()
        return reports

    def manifest_of(self, host: str, model: str) -> dict[str, Any] | None:
        """The latest manifest setup kept home for (host, model), or None."""
        return manifest.load_local(self.settings.data_dir, host, model)
