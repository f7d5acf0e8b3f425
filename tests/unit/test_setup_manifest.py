"""The setup manifest's id and the in-container fetcher (issue 15), on local files."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from backend.hosts import manifest
from backend.hosts.setup_steps import FETCH_SCRIPT


def _doc(**over):
    base = dict(host="gpu1", model="transfer1", image="cosmos-transfer1:latest",
                image_digest="sha256:" + "a" * 64, image_source="build", commit="abc",
                checkpoint_root="/data/ckpt", offline_env={},
                files=[{"path": "b.pt", "size": 2, "sha256": "x"},
                       {"path": "a.pt", "size": 1, "sha256": "y"}], written_at=1.0)
    base.update(over)
    return manifest.build(**base)


def test_manifest_id_names_the_content_not_the_time_or_order():
    first = _doc()
    assert first["id"].startswith("m-") and [f["path"] for f in first["checkpoints"]] == \
        ["a.pt", "b.pt"]
    assert _doc(written_at=99.0)["id"] == first["id"]
    assert _doc(image_digest="sha256:" + "b" * 64)["id"] != first["id"]
    assert _doc(files=[{"path": "a.pt", "size": 1, "sha256": "z"}])["id"] != first["id"]


def test_local_copy_round_trips_and_is_kept_by_id(tmp_path):
    doc = _doc()
    manifest.save_local(tmp_path, doc)
    assert manifest.load_local(tmp_path, "gpu1", "transfer1") == doc
    assert (tmp_path / "manifests" / "gpu1" / "by-id" / f"{doc['id']}.json").is_file()
    assert manifest.load_local(tmp_path, "gpu1", "transfer2.5") is None


def test_the_fetcher_resumes_a_part_file_and_prints_the_whole_files_hash(tmp_path):
    source, dest = tmp_path / "mirror", tmp_path / "ckpt"
    data = bytes(range(256)) * 4000
    (source / "nvidia").mkdir(parents=True)
    (source / "nvidia" / "base.pt").write_bytes(data)
    (dest / "nvidia").mkdir(parents=True)
    (dest / "nvidia" / "base.pt.part").write_bytes(data[:300_000])  # a fetch killed half way
    out = subprocess.run([sys.executable, str(FETCH_SCRIPT), str(source), str(dest),
                          "nvidia/base.pt"], capture_output=True, text=True, check=True).stdout
    assert "fetching nvidia/base.pt (resuming at 300000 bytes)" in out
    assert f"fetched nvidia/base.pt {len(data)} {hashlib.sha256(data).hexdigest()}" in out
    assert (dest / "nvidia" / "base.pt").read_bytes() == data
    assert not (dest / "nvidia" / "base.pt.part").exists()


def test_the_fetcher_refuses_paths_that_leave_the_root(tmp_path):
    done = subprocess.run([sys.executable, str(FETCH_SCRIPT), str(tmp_path), str(tmp_path),
                           "../etc/passwd"], capture_output=True, text=True)
    assert done.returncode == 1 and "FAILED ../etc/passwd: not a relative path" in done.stdout
