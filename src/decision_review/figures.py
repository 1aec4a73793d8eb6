"""A matplotlib figure as SVG text that is the same bytes every time the same figure is drawn.

Why: HTML reports are evidence (archived, diffed, digested), so drawing the same report twice must
give the same file. matplotlib names each clip path by a hash of its rectangle's floats, and
constrained layout can move those floats in the last bit between two draws of one figure, so the
name changed while nothing visible did. Here each clip path is renamed by a hash of its printed
definition (what a browser actually uses); the other ids matplotlib hashes from printed text.
"""

from __future__ import annotations

import hashlib
import io
import re

from matplotlib import rc_context
from matplotlib.figure import Figure

_CLIP_PATH = re.compile(r'<clipPath id="([^"]+)">(.*?)</clipPath>', re.DOTALL)


def figure_svg(fig: Figure) -> str:
    """`fig` as SVG text: no date, text kept as text, ids that depend only on what is drawn."""
    with rc_context({"svg.hashsalt": "decision-review", "svg.fonttype": "none"}):
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return _stable_clip_ids(buffer.getvalue())


def _stable_clip_ids(text: str) -> str:
    renames = {
        old: "clip" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]
        for old, body in _CLIP_PATH.findall(text)
    }
    for old, new in renames.items():
        text = text.replace(f'id="{old}"', f'id="{new}"').replace(f"url(#{old})", f"url(#{new})")
    return text
