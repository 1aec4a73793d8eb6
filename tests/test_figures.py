"""SVG of a figure is the same bytes every time it is drawn (reports are evidence), and fixing its
layout for that does not move anything a reader could see."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine

from decision_review.figures import figure_svg, freeze_layout


def _chart() -> Figure:
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[2, 1])
    left.barh(["a long group label", "b"], [0.4, 0.8])
    image = right.imshow(np.arange(9).reshape(3, 3))
    fig.colorbar(image, ax=right)
    fig.suptitle("Approval rate by group")
    return fig


def test_frozen_layout_is_where_constrained_layout_put_it():
    solved = _chart()
    solved.draw_without_rendering()
    frozen = _chart()
    freeze_layout(frozen)
    frozen.draw_without_rendering()  # with no layout engine left, drawing moves nothing
    places = [a.get_position().bounds for a in solved.axes]
    fixed = [a.get_position().bounds for a in frozen.axes]
    assert np.allclose(places, fixed, atol=1e-4, rtol=0)  # 1e-4 of a 6-inch figure: 0.0006 inch
    assert isinstance(frozen.get_layout_engine(), PlaceHolderLayoutEngine)


def test_same_figure_same_svg():
    assert len({figure_svg(_chart()) for _ in range(10)}) == 1
