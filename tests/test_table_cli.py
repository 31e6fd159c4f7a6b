"""`relulab study --table`: relulab's MLP on a user's table, as a user runs it. The table
is scikit-learn's bundled breast-cancer data written to a CSV (offline), with its labels as
text, so the command reads, splits, encodes, trains, compares, stores and reports a real
classification; a bad table or a forecast-only flag is one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from relulab.cli import main
from relulab.store import Store

TINY = ("--seeds", "3", "--epochs", "4", "--activations", "relu,gelu")


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory):
    datasets = pytest.importorskip("sklearn.datasets")
    frame = datasets.load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    path = tmp_path_factory.mktemp("table") / "cancer.csv"
    frame.to_csv(path, index=False)
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_table_study_classifies_compares_stores_and_reports(cancer_csv, tmp_path, capsys):
    db, report, out_json = tmp_path / "r.db", tmp_path / "r.html", tmp_path / "r.json"
    code, out, err = run(capsys, "study", "--table", str(cancer_csv), "--target", "diagnosis",
                         "--task", "classification", *TINY, "--db", str(db), "--report",
                         str(report), "--json", str(out_json), "--quiet")
    assert code == 0, err
    assert "accuracy" in out and "log loss" in out and "class prior (baseline)" in out
    assert "gelu vs relu: log loss" in out and "paired p" in out
    doc = json.loads(out_json.read_text())
    assert doc["task"] == "classification" and doc["config"]["model"] == "mlp"
    assert {r["activation"] for r in doc["runs"]} == {"relu", "gelu"}
    assert all(r["accuracy"] > 0.6 for r in doc["runs"])  # beats the majority share (63%)
    html = report.read_text(encoding="utf-8")
    assert "MLP 30 → 32 → 32 → 2" in html and 'id="forecasts"' not in html
    with Store(db) as store:
        (study_id,) = store.list_studies()["id"]
        assert store.completed_activations(study_id) == {"relu", "gelu"}
    # a rerun resumes: nothing trained again
    again = tmp_path / "again.json"
    code, out, _ = run(capsys, "study", "--table", str(cancer_csv), "--target", "diagnosis",
                       "--task", "classification", *TINY, "--db", str(db), "--quiet",
                       "--json", str(again))
    timing = json.loads(again.read_text())["timing"]
    assert code == 0 and (timing["groups_cached"], timing["groups_trained"]) == (2, 0)
    assert json.loads(again.read_text())["comparisons"] == doc["comparisons"]
    code, out, _ = run(capsys, "runs", "show", study_id, "--db", str(db))
    assert code == 0 and "accuracy" in out and "RMSE" not in out


@pytest.mark.parametrize(("argv", "says"), [
    (("--target", "nope", "--task", "classification"), "no column 'nope'"),
    (("--target", "diagnosis"), "--task classification"),
    (("--target", "diagnosis", "--task", "ranking"), "unknown task"),
    (("--target", "diagnosis", "--task", "classification", "--lookback", "3"),
     "--lookback shape a forecast"),
    (("--target", "diagnosis", "--task", "classification", "--activations", "relu,nope"),
     "unknown activation"),
])
def test_bad_table_arguments_are_one_line(cancer_csv, capsys, argv, says):
    code, _, err = run(capsys, "study", "--table", str(cancer_csv), *argv, "--no-db",
                         "--quiet")
    assert code == 2
    assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_table_flags_without_a_table_are_refused(capsys):
    code, _, err = run(capsys, "study", "--bundled", "sunspots", "--target", "x", "--no-db")
    assert code == 2 and "--table" in err
