"""A matplotlib figure as SVG text that is the same bytes every time the same figure is drawn.

Why: HTML reports are evidence (archived, diffed, digested), so drawing the same report twice must
give the same file. Constrained layout solves for the axes' places with kiwisolver, and its answer
differed in the last bits from one draw of the same figure to the next (clearing matplotlib's font
and text-metric caches did not change that; the solver's internal order is the likely cause):
printed to six decimals, an axis edge read 38.589303 in one draw and 38.589302 in another, about
one backtest report in ten, and matplotlib's clip-path ids, which hash those floats, changed too.
So the layout is solved once, each axes' place is rounded to 1/10,000 of the figure (invisible)
and fixed, and the figure is drawn from those places with no layout engine; every id matplotlib
then writes is a hash of the same floats or text.
"""

from __future__ import annotations

import io

from matplotlib import rc_context
from matplotlib.figure import Figure


def figure_svg(fig: Figure) -> str:
    """`fig` as SVG text: no date, text kept as text, the same bytes for the same figure.

    The figure's layout is fixed on the way (see `freeze_layout`): draw it with this, not after."""
    with rc_context({"svg.hashsalt": "decision-review", "svg.fonttype": "none"}):
        freeze_layout(fig)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def freeze_layout(fig: Figure) -> None:
    """Solve the figure's layout once, then fix each axes at its place rounded to 1e-4 of the figure."""
    if fig.get_layout_engine() is None:
        return
    fig.draw_without_rendering()
    for ax in fig.axes:
        ax.set_position([round(v, 4) for v in ax.get_position(original=True).bounds])
    fig.set_layout_engine("none")
