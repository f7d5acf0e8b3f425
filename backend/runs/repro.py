"""What makes a run reproducible, recorded when its job launches: the image's content id on
the box and the setup manifest of the host's checkpoints (backend/hosts/manifest.py); the
guardrail state is the run's since it was queued (the profile's `guardrails`). `cosmos show
--json`, the run view and the MP4's embedded settings show all three.

Why at launch and from the box: a tag (`cosmos-transfer1:latest`) can be rebuilt under a run's
feet; the digest asked of the engine just before `docker run` is the one the container gets.
A cluster's login node cannot ask the compute nodes' engine, so a Slurm run records the digest
`cosmos setup` read on those nodes (its manifest).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.hosts import manifest
from backend.hosts.setup_steps import image_digest
from backend.models.profile import get_profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repro:
    image_digest: str | None
    checkpoints_manifest: str | None
    #: the manifest's offline environment (HF_HUB_OFFLINE, ...) for the job
    offline_env: dict[str, str] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return {"image_digest": self.image_digest,
                "checkpoints_manifest": self.checkpoints_manifest}


def reproducibility(data_dir: Path, runtime: Any, run: Any) -> Repro:
    """Ask the box for the image digest and home for the host's manifest of the run's model."""
    profile = get_profile(run.model)
    host = runtime.launch_host.for_model(profile.id)
    digest = None
    if runtime.kind.runs_images_here(host):
        digest = image_digest(host, runtime.shell, host.image)
    doc = manifest.load_local(data_dir, runtime.host.name, profile.id)
    if digest is None and doc and not runtime.kind.runs_images_here(host):
        digest = doc.get("image_digest")  # the nodes' image as setup recorded it
    if doc and digest and doc.get("image_digest") and doc["image_digest"] != digest:
        log.warning("run %s: image %s is %s, not the %s setup recorded (manifest %s)", run.id,
                    host.image, digest, doc["image_digest"], doc["id"])
    return Repro(digest, doc["id"] if doc else None,
                 dict(doc.get("offline_env") or {}) if doc else {})
