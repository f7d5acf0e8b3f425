"""The sweep grid's layout (tiles, labels, pages) and the ffmpeg graph built from it."""

from __future__ import annotations

from pathlib import Path

from backend.sweeps.axes import Axis
from backend.sweeps.grid import grid_layout, tile_size, title_text
from backend.sweeps.render import Tile, filter_graph, label_texts

EDGE = Axis("edge", (0.2, 0.5, 0.8))
SEED = Axis("seed", (1, 2))
MODEL = Axis("model", ("transfer1", "transfer2.5"))


def test_tile_size_keeps_aspect_and_is_even():
    assert tile_size(640, 360) == (480, 270)
    assert tile_size(320, 181) == (320, 180)
    assert tile_size(1921, 1081, max_w=1000) == (1000, 562)


def test_a_3x2_grid_places_tiles_after_the_bands_and_the_side_column():
    layout = grid_layout([EDGE, SEED], 320, 180)
    band, side = layout.band_h, layout.side_w
    assert (band, side) == (24, 118)  # the corner's 11 characters on one line
    assert (layout.width, layout.height) == (side + 3 * 320, 2 * band + 2 * 180)
    assert layout.width % 2 == 0 and layout.height % 2 == 0
    (page,) = layout.pages
    assert page.tiles[(0, 0)].x == side and page.tiles[(0, 0)].y == 2 * band
    assert (page.tiles[(2, 1)].x, page.tiles[(2, 1)].y) == (side + 640, 2 * band + 180)
    texts = [label.text for label in page.labels]
    assert texts == ["x: edge weight   y: seed", "seed \\ edge", "edge=0.2", "edge=0.5",
                     "edge=0.8", "seed=1", "seed=2"]
    assert page.labels[2].rect.x == page.tiles[(0, 0)].x  # a column's label above it
    assert page.labels[5].rect.y == page.tiles[(0, 0)].y  # a row's label beside it


def test_the_rectangles_cover_the_frame_exactly_once():
    layout = grid_layout([EDGE, SEED], 160, 90)
    page = layout.pages[0]
    area = sum(r.w * r.h for r in [label.rect for label in page.labels] + list(page.tiles.values()))
    assert area == layout.width * layout.height
    covered = set()
    for r in [label.rect for label in page.labels] + list(page.tiles.values()):
        for x in range(r.x, r.x + r.w, 10):
            for y in range(r.y, r.y + r.h, 10):
                assert (x, y) not in covered
                covered.add((x, y))


def test_the_side_column_fits_its_longest_label_up_to_a_tile():
    long = Axis("model", ("transfer2.5", "a-very-long-model-name-indeed"))
    layout = grid_layout([EDGE, long], 320, 180)
    assert layout.side_w == 320  # capped at a tile's width; the row label wraps
    assert grid_layout([EDGE, SEED], 480, 270).side_w >= 160  # a third of a tile at least


def test_one_axis_has_no_side_column():
    layout = grid_layout([EDGE], 320, 180)
    assert layout.side_w == 0 and layout.width == 960
    assert [label.text for label in layout.pages[0].labels] == [
        "x: edge weight", "edge=0.2", "edge=0.5", "edge=0.8"]


def test_a_third_axis_makes_a_page_per_value_titled_with_it():
    layout = grid_layout([EDGE, SEED, MODEL], 320, 180)
    assert [p.z for p in layout.pages] == [0, 1]
    assert layout.pages[1].labels[0].text == "x: edge weight   y: seed   z: model=transfer2.5"
    assert title_text([EDGE, SEED, MODEL], 0).endswith("z: model=transfer1")


def test_the_graph_stacks_inputs_and_placeholders_and_reads_text_from_files(tmp_path: Path):
    layout = grid_layout([EDGE, SEED], 320, 180)
    tiles = [Tile((x, y, 0), Path(f"/v/{x}{y}.mp4")) for y in range(2) for x in range(3)
             if (x, y) != (1, 1)]
    tiles.append(Tile((1, 1, 0), None, "FAILED\nedge=0.5, seed=2\nCUDA out of memory"))
    inputs = {t.coords: i for i, t in enumerate(t for t in tiles if t.video)}
    texts = label_texts(layout, tiles)
    assert texts["t1_1_0"] == "FAILED\nedge=0.5, seed=2\nCUDA out of memory"
    assert texts["p0l2"] == "edge=0.2"
    files = {k: tmp_path / f"{k}.txt" for k in texts}
    graph = filter_graph(layout, tiles, inputs, files, fps=24, duration=5.0,
                         font="fontfile=/f.ttf")
    assert graph.count("xstack=inputs=13:") == 1  # 7 labels + 6 tiles
    assert "layout=0_0|0_24|118_24|438_24|758_24|0_48|0_228|118_48|438_48|758_48|118_228" \
        in graph
    assert graph.count("[0:v]") == graph.count("[4:v]") == 1 and "[5:v]" not in graph
    assert f"textfile={files['t1_1_0']}" in graph and "expansion=none" in graph
    assert "CUDA" not in graph  # user-visible words only through files
    assert graph.endswith("[page0]null[grid]")


def test_pages_play_one_after_another():
    layout = grid_layout([EDGE, SEED, MODEL], 32, 18)
    tiles = [Tile((x, y, z), None, "x") for z in range(2) for y in range(2) for x in range(3)]
    texts = label_texts(layout, tiles)
    graph = filter_graph(layout, tiles, {}, {k: Path(k) for k in texts}, fps=24,
                         duration=1.0, font="font=Sans")
    assert graph.endswith("[page0][page1]concat=n=2:v=1:a=0[grid]")
