"""The real `decision-review` command in a subprocess: training, listing, showing, and its error messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from decision_review.datasets.bundled import data_path
from tests.fixtures.modeling import SHIPPED_MODELS

CREDIT_CSV = str(data_path("credit_data.csv"))


def run(*args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it; stderr with rich's line wrapping undone."""
    result = subprocess.run(
        [sys.executable, "-m", "decision_review.cli.main", *args], capture_output=True, text=True, timeout=300
    )
    result.stderr = " ".join(result.stderr.split())
    return result


@pytest.mark.slow
def test_train_list_show_on_bring_your_own_data(tmp_path):
    models = str(tmp_path / "models")
    trained = run(
        "train", "--data", CREDIT_CSV, "--target", "Status", "--bad-value", "bad", "--protected", "Age",
        "--protected", "Marital", "--name", "my_credit", "--cv-folds", "0", "--models-dir", models,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "registered my_credit version 1" in trained.stdout
    assert (Path(models) / "my_credit" / "1" / "model.json").is_file()
    listed = run("models", "list", "--models-dir", models)
    assert listed.returncode == 0 and "my_credit" in listed.stdout
    shown = run("models", "show", "my_credit", "--models-dir", models)
    assert shown.returncode == 0
    assert "# Model card: my_credit v1" in shown.stdout and "Calibration table" in shown.stdout
    assert "| Marital |" in shown.stdout and "never model inputs" in shown.stdout


def test_show_prints_the_shipped_card():
    shown = run("models", "show", "german_credit", "--version", "1", "--models-dir", str(SHIPPED_MODELS))
    assert shown.returncode == 0, shown.stderr
    assert "# Model card: german_credit v1" in shown.stdout and "AUC 0.7" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--target", "Statuss", "--bad-value", "bad", "--name", "x"],
            "--target: unknown column(s) 'Statuss'",
        ),
        (["--target", "Time", "--bad-value", "60", "--name", "x"], "must have exactly two values"),
        (["--target", "Status", "--name", "x"], "--data needs --bad-value"),
    ],
)
def test_bad_target_options_fail_with_a_clear_message(tmp_path, args, message):
    result = run("train", "--data", CREDIT_CSV, *args, "--models-dir", str(tmp_path))
    assert result.returncode == 2
    assert "error:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_malformed_data_file_fails_with_a_clear_message(tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_bytes(b'a,b\n1,"never closed\n2,3\n')
    result = run("train", "--data", str(bad), "--target", "a", "--bad-value", "1", "--name", "x")
    assert result.returncode == 2 and "could not be read as CSV" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_is_a_clear_error(tmp_path):
    result = run("models", "show", "nothing_here", "--models-dir", str(SHIPPED_MODELS))
    assert result.returncode == 2 and "no model named 'nothing_here'" in result.stderr
