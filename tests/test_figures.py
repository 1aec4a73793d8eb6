"""SVG of a figure is the same bytes every time the same figure is drawn (reports are evidence)."""

from __future__ import annotations

import re

from decision_review.figures import _stable_clip_ids


def test_clip_paths_are_named_by_what_they_clip():
    # matplotlib's own names hash unprinted float bits; two draws may differ only in them.
    drawn = (
        '<g clip-path="url(#p1111111111)"/><defs><clipPath id="p1111111111"><rect x="1" y="2"/>'
        "</clipPath></defs>"
    )
    redrawn = drawn.replace("p1111111111", "p2222222222")
    assert _stable_clip_ids(drawn) == _stable_clip_ids(redrawn)
    (new_id,) = re.findall(r'clipPath id="([^"]+)"', _stable_clip_ids(drawn))
    assert f"url(#{new_id})" in _stable_clip_ids(drawn)


def test_different_clips_keep_different_names():
    two = (
        '<clipPath id="pa"><rect x="1"/></clipPath><clipPath id="pb"><rect x="2"/></clipPath>'
        '<g clip-path="url(#pa)"/><g clip-path="url(#pb)"/>'
    )
    ids = re.findall(r'clipPath id="([^"]+)"', _stable_clip_ids(two))
    assert len(set(ids)) == 2

