"""Finished runs written into an app's data folder before it starts (small videos and
thumbnails, a few log lines), so a browser test or a benchmark that browses finished work
never waits for a generation. Used by tests/e2e/test_ui_browse.py and bench/row_ui_actions.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from backend import media
from backend import store as st
from backend.config import load_config
from backend.operations import ASSETS_DIR


def seed_runs(config: Path, n: int) -> list[str]:
    """Finished runs with a video and thumbnail each; odd runs use edge 0.5 + depth 0.5."""
    settings = load_config(config)
    store = st.Store(settings.db_path)
    try:
        work = settings.data_dir / "seed"
        clips = []
        for i, pattern in enumerate(("testsrc2", "mandelbrot")):
            clip = media.make_test_clip(work / f"clip{i}.mp4", width=320, height=176,
                                        frames=48, pattern=pattern)
            clips.append((clip, media.make_thumbnail(clip, work / f"thumb{i}.jpg"),
                          dict(media.probe_video(clip).to_dict(), bytes=clip.stat().st_size)))
        ids = []
        for i in range(n):
            odd = i % 2 == 1
            params = {"prompt": f"seeded scene {i} with a " + ("blue boat" if i % 3 == 0
                                                                else "red car"),
                      "negative_prompt": "blurry", "input_video":
                          str(ASSETS_DIR / "sample_testcard_640x360.mp4"),
                      "weights": {"vis": 0.0, "edge": 0.5 if odd else 1.0,
                                  "depth": 0.5 if odd else 0.0, "seg": 0.0, "keypoint": 0.0},
                      "control_videos": {}, "seg_prompt": "", "sigma_max": 70.0,
                      "guidance": 5.0, "num_steps": 35, "seed": 100 + i, "fps": None,
                      "blur_strength": "medium", "canny_threshold": "medium", "num_gpus": 1,
                      "upscale_weight": 0.5}
            prompt = store.create_prompt(params["prompt"], "blurry")
            run = store.create_run(params=params, host="sim", prompt_id=prompt.id,
                                   name=f"seed {i:02d}", simulated=True)
            clip, thumb, info = clips[i % 2]
            folder = settings.runs_dir / run.id
            folder.mkdir(parents=True)
            out, th = folder / "output.mp4", folder / "thumb.jpg"
            shutil.copy(clip, out)
            shutil.copy(thumb, th)
            for status, expect in ((st.STAGING, st.QUEUED), (st.RUNNING, st.STAGING),
                                   (st.COLLECTING, st.RUNNING)):
                store.transition(run.id, status, expect=(expect,))
            store.append_log(run.id, [(k * 20, f"[seed] line {k}") for k in range(4)], 80)
            store.transition(run.id, st.COMPLETED, expect=(st.COLLECTING,), exit_code=0,
                             output_path=str(out), thumbnail_path=str(th),
                             output_info=json.dumps(info))
            ids.append(run.id)
        return ids
    finally:
        store.close()
