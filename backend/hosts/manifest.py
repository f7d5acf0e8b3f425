"""The setup manifest: what `cosmos setup` left on a box for one model, so a run can say
exactly which image and which checkpoint files made it.

One JSON document per (host, model): the profile, the image with its digest, and every
checkpoint file with its size, sha256 and (where the upstream pins one) revision. It is written
on the box (`<remote_root>/setup/<model>/manifest.json`, atomically: a setup killed half way
leaves the previous one) and copied home (`<data_dir>/manifests/<host>/<model>.json`). Its id
is a hash of its content, so two setups that found the same things have the same id, and a
run's `checkpoints_manifest` names one exact state.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"


def setup_dir(remote_root: str, model: str) -> str:
    """`<remote_root>/setup/<model>` on the box: the manifest and setup's helper files."""
    return posixpath.join(remote_root, "setup", model)


def box_path(remote_root: str, model: str) -> str:
    return posixpath.join(setup_dir(remote_root, model), MANIFEST_NAME)


def manifest_id(doc: dict[str, Any]) -> str:
    """A short content hash of everything but the id and when it was written."""
    body = {k: v for k, v in doc.items() if k not in ("id", "written_at")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "m-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def build(*, host: str, model: str, image: str, image_digest: str | None,
          image_source: str, commit: str | None, checkpoint_root: str | None,
          files: list[dict[str, Any]], offline_env: dict[str, str], written_at: float
          ) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "host": host, "model": model, "image": image, "image_digest": image_digest,
        "image_source": image_source, "commit": commit, "checkpoint_root": checkpoint_root,
        "checkpoints": sorted(files, key=lambda f: f["path"]), "offline_env": offline_env,
        "written_at": written_at,
    }
    doc["id"] = manifest_id(doc)
    return doc


def local_path(data_dir: Path, host: str, model: str) -> Path:
    return Path(data_dir) / "manifests" / host / f"{model}.json"


def save_local(data_dir: Path, doc: dict[str, Any]) -> Path:
    """Keep the manifest home (atomically), and by id, so an old run's stays readable."""
    path = local_path(data_dir, doc["host"], doc["model"])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    for target in (path, path.parent / "by-id" / f"{doc['id']}.json"):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
    return path


def load_local(data_dir: Path, host: str, model: str) -> dict[str, Any] | None:
    """The latest manifest setup kept home for (host, model), or None."""
    try:
        return json.loads(local_path(data_dir, host, model).read_text())
    except (FileNotFoundError, ValueError):
        return None


def parse(text: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("id") else None
