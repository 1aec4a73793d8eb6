"""The risk team's notebook runs top to bottom on the package's public API, so it can never rot.

Executed with nbclient in a kernel of this interpreter (the venv's ipykernel), from the repository
root as a risk analyst would open it. Any cell that raises fails the test with the cell's error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "threshold_tuning.ipynb"
PUBLIC_MODULES = (
    "decision_review.backtest",
    "decision_review.engine",
    "decision_review.modeling.registry",
    "decision_review.policy",
)


def test_notebook_runs_and_reaches_a_choice():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    ]
    text = "\n".join(outputs)
    assert "chosen: approve below" in text
    assert "age_band" in text and "four_fifths" in text
    assert "no point of the grid meets every target" in text


def test_notebook_uses_only_the_public_api():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    imports = [
        line.split()[1]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if line.startswith("from decision_review")
    ]
    assert imports and set(imports) <= set(PUBLIC_MODULES)
    assert not any(
        line.strip().startswith("import decision_review")
        for c in notebook.cells
        for line in c.source.splitlines()
    )
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "commit it without outputs"
    )
