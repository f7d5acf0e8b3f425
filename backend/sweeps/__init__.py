"""Sweeps (issue 18): one request tried over one to three axes of values, as a grid of runs.

axes.py (what an axis is, parsing `0.2,0.5,0.8` and `0.2:0.8:0.3`, expanding axes into
cells), cells.py (a cell's settings from the base request), grid.py (where each tile and
label goes in the exported grid) and render.py (the ffmpeg filter graph that burns the grid
into one MP4). All pure but render.py; the store keeps sweeps in backend/store/sweeps.py and
the operations facade launches them (backend/operations/sweeps.py).
"""
