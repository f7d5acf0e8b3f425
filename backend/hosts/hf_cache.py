"""Hugging Face cache paths (`hub/models--org--repo/snapshots/<revision>/<file>`): which
repository, revision and file a path is, and the download that puts it there.

Doctor names the download in its fix line; setup runs it inside the container. Both read a
checkpoint's place from the same path, so what doctor tells a person to run is what setup runs.
"""

from __future__ import annotations

from typing import Sequence


def repo_of(cache_path: str) -> str:
    """'hub/models--nvidia--X/snapshots/...' -> 'nvidia/X' (Hugging Face's cache naming)."""
    folder = next((p for p in cache_path.split("/") if p.startswith("models--")), "")
    return folder.removeprefix("models--").replace("--", "/")


def download_argv(template: Sequence[str], rel: str, whole_repo: bool) -> list[str]:
    """One download of the file at cache path `rel`, or of its whole repository: then the
    `{file}` argument is left out (`hf download REPO --revision REV` fetches every file), and a
    path without `snapshots/<revision>` (`refs/main`) means the repository's main branch."""
    parts = rel.split("/")
    at = parts.index("snapshots") if "snapshots" in parts else -1
    values = {"repo": repo_of(rel), "revision": parts[at + 1] if at >= 0 else "main",
              "file": "/".join(parts[at + 2:]) if at >= 0 else rel}
    return [a.format(**values) for a in template if not (whole_repo and a == "{file}")]
