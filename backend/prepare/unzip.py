"""Unpacking an uploaded zip of frames, safely: only images, only inside the target folder.

Why checked entry by entry: a zip is the person's data but its names are not to be trusted;
`../`, absolute names, links and a bomb of tiny entries that expand to terabytes are refused
before anything is written.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from backend.prepare.sequence import IMAGE_SUFFIXES, PrepareError

MAX_ENTRIES = 100_000


def extract_images(archive: Path, dest: Path, *, max_bytes: int) -> Path:
    """Unpack the image files of `archive` into `dest` (sub-folders kept) and return the
    folder that holds them (the single top folder of the zip, when it has one)."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise PrepareError("path", f"{archive.name} is not a zip file; upload a .zip of the "
                           "frames, or pick a folder on the server") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ENTRIES:
            raise PrepareError("path", f"{archive.name} has {len(members)} entries; at most "
                               f"{MAX_ENTRIES} are unpacked")
        total = sum(m.file_size for m in members)
        if total > max_bytes:
            raise PrepareError("path", f"{archive.name} unpacks to {total / 1e6:.0f} MB; at "
                               f"most {max_bytes / 1e6:.0f} MB are allowed")
        wanted = []
        for m in members:
            name = PurePosixPath(m.filename)
            if m.is_dir() or name.name.startswith(".") or "__MACOSX" in name.parts:
                continue
            if name.is_absolute() or ".." in name.parts or "\\" in m.filename:
                raise PrepareError("path", f"{archive.name}: the entry {m.filename!r} points "
                                   "outside the zip's folder; refused")
            if stat.S_ISLNK(m.external_attr >> 16):
                raise PrepareError("path", f"{archive.name}: the entry {m.filename!r} is a "
                                   "link; only image files are unpacked")
            if name.suffix.lower() in IMAGE_SUFFIXES:
                wanted.append((m, name))
        if not wanted:
            raise PrepareError("path", f"{archive.name} holds no png, jpg or exr frames")
        dest.mkdir(parents=True, exist_ok=True)
        for m, name in wanted:
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    tops = {name.parts[0] for _, name in wanted}
    only = dest / next(iter(tops))
    return only if len(tops) == 1 and only.is_dir() else dest
