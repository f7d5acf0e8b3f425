#!/usr/bin/env python3
"""Fetch checkpoint files from a mirror into a checkpoint root: run by `cosmos setup` INSIDE
the model's container (stdlib only, so any image with a python3 runs it).

    setup_fetch.py SOURCE DEST REL [REL ...]

SOURCE is a folder (as the container sees it) or an http(s):// URL; each REL is copied from
SOURCE/REL to DEST/REL. Why this shape:

* resumable: bytes go to DEST/REL.part and the file is renamed only when complete, so a kill
  half way leaves nothing a later setup mistakes for a checkpoint; the next fetch continues the
  .part (an HTTP Range request, or a seek in the source file) instead of starting over;
* the Hugging Face token is read from the file HF_TOKEN_PATH names, or from HF_TOKEN in the
  environment, and sent as a header; it never appears in an argv (`ps`) or in what is printed.

Prints one line per step: `fetching REL`, `progress REL DONE TOTAL`, `fetched REL SIZE SHA256`;
exits 1 with `FAILED REL: cause` on the first file it cannot get.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.request

CHUNK = 1 << 20
PROGRESS_EVERY = 64 << 20


def _token() -> str | None:
    path = os.environ.get("HF_TOKEN_PATH")
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    return os.environ.get("HF_TOKEN") or None


def _open_source(source: str, rel: str, start: int):
    """(a readable of the bytes from `start`, the total size or None)."""
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source.rstrip("/") + "/" + rel)
        token = _token()
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if start:
            request.add_header("Range", f"bytes={start}-")
        response = urllib.request.urlopen(request, timeout=60)
        length = response.headers.get("Content-Length")
        if start and response.status != 206:  # the server ignored the Range: start over
            return response, None, 0
        total = int(length) + start if length is not None else None
        return response, total, start
    path = os.path.join(source, rel)
    handle = open(path, "rb")
    total = os.fstat(handle.fileno()).st_size if os.path.isfile(path) else None
    if start:
        handle.seek(start)
    return handle, total, start


def fetch(source: str, dest: str, rel: str) -> None:
    target = os.path.join(dest, rel)
    part = target + ".part"
    os.makedirs(os.path.dirname(target), exist_ok=True)
    start = os.path.getsize(part) if os.path.exists(part) else 0
    print(f"fetching {rel}" + (f" (resuming at {start} bytes)" if start else ""), flush=True)
    reader, total, start = _open_source(source, rel, start)
    digest = hashlib.sha256()
    if start:
        with open(part, "rb") as done:
            for block in iter(lambda: done.read(CHUNK), b""):
                digest.update(block)
    with reader, open(part, "ab" if start else "wb") as out:
        written, next_note = start, start + PROGRESS_EVERY
        for block in iter(lambda: reader.read(CHUNK), b""):
            out.write(block)
            digest.update(block)
            written += len(block)
            if written >= next_note:
                print(f"progress {rel} {written} {total or 0}", flush=True)
                next_note = written + PROGRESS_EVERY
        out.flush()
        os.fsync(out.fileno())
    if total is not None and written != total:
        raise OSError(f"got {written} of {total} bytes")
    os.replace(part, target)
    print(f"fetched {rel} {written} {digest.hexdigest()}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: setup_fetch.py SOURCE DEST REL [REL ...]", file=sys.stderr)
        return 2
    source, dest, rels = argv[0], argv[1], argv[2:]
    for rel in rels:
        if rel.startswith("/") or ".." in rel.split("/"):
            print(f"FAILED {rel}: not a relative path", flush=True)
            return 1
        try:
            fetch(source, dest, rel)
        except Exception as exc:  # the message is the finding: name the file and the cause
            print(f"FAILED {rel}: {type(exc).__name__}: {exc}", flush=True)
            return 1
    print(f"done {len(rels)} file(s); free space {shutil.disk_usage(dest).free}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
