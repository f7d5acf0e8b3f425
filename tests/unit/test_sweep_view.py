"""The Sweeps tab's grid HTML and the Create panel's count: pure functions of a sweep."""

from __future__ import annotations

from backend.models.checks import FieldError
from components.create_sweep import NO_AXIS, axis_choices, chosen_pairs, count_html
from components.sweeps import grid_html, sweep_line


def sweep(cells):
    return {"id": "sw1", "name": "<b>x</b>", "prompt": "p", "owner": "ann", "created_at": 0,
            "runs": len(cells), "statuses": {"completed": 1, "failed": 1},
            "axes": [{"name": "edge", "field": "weights.edge", "values": [0.2, 0.5]},
                     {"name": "seed", "field": "seed", "values": [1]},
                     {"name": "model", "field": "model", "values": ["m1", "m2"]}],
            "cells": cells}


def cell(x, z, status, video=None, cause=None):
    return {"x": x, "y": 0, "z": z, "run_id": f"r{x}{z}", "status": status, "video": video,
            "thumbnail": None, "failure_cause": cause, "label": f"edge={x}",
            "values": {}}


def test_the_grid_labels_axes_per_page_and_marks_each_cell():
    html = grid_html(sweep([cell(0, 0, "completed", "/d/runs/a.mp4"),
                            cell(1, 0, "failed", cause="CUDA <oom>"), cell(0, 1, "queued")]))
    assert html.count("class='sw-page'") == 2
    assert "x: edge weight · y: seed · z: model=m1" in html and "z: model=m2" in html
    assert html.count("<th class='sw-col'>edge=0.2</th>") == 2
    assert "<th class='sw-row'>seed=1</th>" in html and "seed \\ edge" in html
    assert html.count("<video class='sw-video'") == 1
    assert "data-run='r10' data-status='failed'" in html and "CUDA &lt;oom&gt;" in html
    assert "data-status='none'" in html  # (1, 0, 1) has no run
    assert "<b>x</b>" not in html  # the name is escaped


def test_cells_outside_a_review_link_are_not_shown():
    html = grid_html(sweep([cell(0, 0, "completed", "/d/a.mp4")]), lambda run_id: False)
    assert "data-status='hidden'" in html and "r00" not in html and "<video" not in html


def test_the_count_and_refusals_before_launch():
    assert "data-count='6'" in count_html(6) and "makes <b>6</b> runs" in count_html(6)
    assert "over the limit of 64" in count_html(65)
    refused = count_html(None, [FieldError("axis.edge", "'x' is not a number")])
    assert "sweep-error" in refused and "&#x27;x&#x27; is not a number" in refused
    assert "data-count='0'" in count_html(None)


def test_axis_rows_and_choices():
    assert chosen_pairs(["edge", "0.2,0.5", NO_AXIS, "", "seed", "1"]) == (
        [("edge", "0.2,0.5"), ("seed", "1")], [])
    pairs, errors = chosen_pairs(["edge", "0.2", NO_AXIS, " 9 ", NO_AXIS, ""])
    assert pairs == [("edge", "0.2")]
    assert [e.message for e in errors] == ["Values '9' are given without an axis in row "
                                           "y (rows); pick the axis or clear the values."]
    values = [v for _, v in axis_choices(("vis", "edge"))]
    assert values == [NO_AXIS, "vis", "edge", "guidance", "sigma_max", "seed", "steps", "model"]


def test_the_run_views_sweep_line():
    assert sweep_line(None) == ""
    line = sweep_line({"sweep_id": "sw1", "name": "", "x": 0, "y": 0, "z": 0,
                       "label": "edge=0.2"})
    assert "Cell <b>edge=0.2</b> of sweep <code>sw1</code>" in line


def test_the_tab_re_renders_when_a_sweep_is_queued_or_a_run_ends_while_it_shows():
    from types import SimpleNamespace as NS

    from backend.events.types import StatusChanged, SweepCreated
    from components.sweeps import wants_sweeps_changed

    shown, hidden = NS(tab="sweeps"), NS(tab="runs")
    assert wants_sweeps_changed(shown, [SweepCreated(sweep_id="s", runs=2)])
    assert wants_sweeps_changed(shown, [StatusChanged("r", status="failed")])
    assert not wants_sweeps_changed(shown, [StatusChanged("r", status="running")])
    assert not wants_sweeps_changed(hidden, [SweepCreated(sweep_id="s", runs=2)])
