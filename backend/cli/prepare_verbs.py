"""`cosmos prepare PATH --fps F [-o out.mp4] [--start N --end M]`: an image sequence (and
its depth / seg / edge passes) -> the input video and control videos of a run."""

from __future__ import annotations

import argparse
import sys

from backend.cli import format as fmt
from backend.cli.common import EXIT_OK, _json
from backend.cli.progress import Session


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    prep = sub.add_parser("prepare", parents=[common], help="turn an image sequence "
                          "(shot.%%04d.png|jpg|exr, found in a folder or a .zip) and its "
                          "passes (*depth*, *seg*/*mask*, *edge*) into a run's input and "
                          "control videos, keeping every frame and the given fps")
    prep.add_argument("path", help="a folder holding the frames (passes beside them or in "
                      "sub-folders), or a .zip of it")
    prep.add_argument("--fps", required=True, help="frames per second: 24, 23.976 or "
                      "24000/1001")
    prep.add_argument("-o", "--output", help="the input video to write (default: "
                      "<folder>.mp4 here); controls go beside it as <name>.<control>.mp4")
    prep.add_argument("--start", help="first frame number to use (default: the first)")
    prep.add_argument("--end", help="last frame number to use, inclusive (default: the last)")
    prep.add_argument("--tonemap", choices=("reinhard", "clamp"), help="how an EXR beauty's "
                      "values above 1 come into range (default: [prepare] tonemap)")
    prep.add_argument("--exposure", type=float, help="stops applied to an EXR beauty before "
                      "the tone map (default: [prepare] exposure)")


def cmd_prepare(s: Session, args: argparse.Namespace) -> int:
    from pathlib import Path

    output = args.output or f"{Path(args.path).resolve().name.removesuffix('.zip')}.mp4"
    result = s.ops.prepare_sequence(args.path, fps=args.fps, output=output, start=args.start,
                                    end=args.end, tonemap=args.tonemap,
                                    exposure=args.exposure)
    if _json(args):
        fmt.dump(result)
        return EXIT_OK
    inp = result["input"]
    print(f"input    {inp['path']}  ({inp['frames']} frames {inp['first']}-{inp['last']}, "
          f"{inp['width']}x{inp['height']}, {result['fps']} fps; from {inp['pattern']}: "
          f"{inp['conversion']})")
    for control, c in result["controls"].items():
        print(f"{control:<8} {c['path']}  (from {c['pattern']}: {c['conversion']})")
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    flags = " ".join(f"--control {c}={v['path']}" for c, v in result["controls"].items())
    print(f"next: cosmos run \"...\" --input {inp['path']}" + (f" {flags}" if flags else ""),
          file=sys.stderr)
    return EXIT_OK
