"""`relulab runs list|show|export`, driven through relulab.cli.main on hand-built studies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_store import ACTS, make_config, make_group, make_result, open_study

from relulab import __version__
from relulab.cli import main
from relulab.cli.runs import DEFAULT_DB
from relulab.result import METRIC_COLUMNS
from relulab.store import DEFAULT_PATH, Store


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, str, str]:
    """A database with one complete study and one with a single group stored."""
    path = tmp_path / "results.db"
    config = make_config()
    with Store(path) as store:
        done = open_study(store, config)
        for a in ACTS:
            store.save_group(done, a, make_group(config, a))
        store.save_analysis(done, make_result(config, store.load_runs(done)))
        partial = open_study(store, config.replace(name="[bold]half[/bold]"), data_hash="xyz")
        store.save_group(partial, "relu", make_group(config, "relu"))
    return path, done, partial


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "\x1b[" not in out + err  # no colour codes when stdout is not a terminal
    return code, out, err


def test_default_db_is_the_stores(capsys) -> None:
    from relulab import paths

    assert DEFAULT_DB is paths.DEFAULT_DB and DEFAULT_PATH is paths.DEFAULT_DB
    with pytest.raises(SystemExit):
        main(["runs", "list", "--help"])
    assert "--db PATH" in capsys.readouterr().out


def test_list(db, capsys) -> None:
    path, done, partial = db
    code, out, err = run(capsys, "runs", "list", "--db", str(path))
    assert code == 0 and err == ""
    lines = out.splitlines()
    (row1,) = [line for line in lines if done in line]
    (row2,) = [line for line in lines if partial in line]
    for cell in ("1", "unit", "hotel <H1>", "tanh, relu, elu", "9/9", "complete"):
        assert cell in row1
    # A label that looks like rich markup is printed as typed, not interpreted.
    for cell in ("2", "[bold]half[/bold]", "3/9", "running"):
        assert cell in row2


def test_list_of_an_empty_database(tmp_path, capsys) -> None:
    Store(tmp_path / "empty.db").close()
    code, out, _ = run(capsys, "runs", "list", "--db", str(tmp_path / "empty.db"))
    assert code == 0 and "No studies in" in out


@pytest.mark.parametrize("argv", [
    ["runs", "list"], ["runs", "show", "1"], ["runs", "export", "1", "--csv"],
])
def test_a_missing_database_is_one_error_line(tmp_path, capsys, argv) -> None:
    missing = tmp_path / "nowhere.db"
    code, out, err = run(capsys, *argv, "--db", str(missing))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("relulab: error: no results database at ") and "--db" in err
    assert not missing.exists()


def test_a_file_that_is_not_a_database_is_one_error_line(tmp_path, capsys) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello\n")
    code, _, err = run(capsys, "runs", "list", "--db", str(bogus))
    assert code == 2 and err.count("\n") == 1 and "not a relulab results database" in err


def test_show_a_complete_study(db, capsys) -> None:
    path, done, _ = db
    code, out, _ = run(capsys, "runs", "show", done[:5], "--db", str(path))
    assert code == 0
    assert f"study {done} (#1), complete" in out
    assert "epochs" in out and "seed_offset" in out and "tanh, relu, elu" in out
    # Per-activation summary: the median on the activation's line, [lo, hi] on the next
    # (from make_result: tanh rmse 1.5 [1, 2]).
    lines = out.splitlines()
    (i,) = [k for k, line in enumerate(lines) if line.lstrip("│ ").startswith("tanh")]
    assert "1.5" in lines[i] and "[1, 2]" in lines[i + 1]
    for text in ("no clear difference", "too few runs to tell", "naive (baseline)",
                 "arima (baseline)", "relu: 1 of 3 runs diverged"):
        assert text in out


def test_show_by_row_number_and_an_incomplete_study(db, capsys) -> None:
    path, _, partial = db
    code, out, _ = run(capsys, "runs", "show", "2", "--db", str(path))
    assert code == 0
    assert f"study {partial} (#2), running" in out and "[bold]half[/bold]" in out
    assert "1 of 3 activation groups stored" in out
    assert "relu: 3/3 runs" in out and "tanh: not yet" in out and "Rerun" in out


@pytest.mark.parametrize(("ref", "message"), [("99", "no study #99"), ("zzz", "no study 'zzz'")])
def test_show_an_unknown_id_is_one_error_line(db, capsys, ref, message) -> None:
    path, _, _ = db
    code, out, err = run(capsys, "runs", "show", ref, "--db", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert message in err and "runs list" in err


def test_export_csv_is_one_row_per_run(db, capsys) -> None:
    path, done, _ = db
    code, out, _ = run(capsys, "runs", "export", done, "--csv", "--db", str(path))
    assert code == 0
    frame = pd.read_csv(io.StringIO(out), float_precision="round_trip")
    config = make_config()
    runs = [r for a in ACTS for r in make_group(config, a)]
    assert list(frame.columns) == ["activation", "seed", "diverged", "best_epoch",
                                   *METRIC_COLUMNS, *(f"val_{m}" for m in METRIC_COLUMNS)]
    assert list(zip(frame.activation, frame.seed, strict=True)) == [
        (r.activation, r.seed) for r in runs]
    assert frame.diverged.tolist() == [r.diverged for r in runs]
    for m in METRIC_COLUMNS:  # exact: the CSV carries repr-exact floats
        np.testing.assert_array_equal(frame[m], [r.metrics[m] for r in runs])
        np.testing.assert_array_equal(frame[f"val_{m}"], [r.val_metrics[m] for r in runs])


def test_export_json_to_a_file(db, capsys, tmp_path) -> None:
    path, done, _ = db
    target = tmp_path / "study.json"
    code, out, _ = run(capsys, "runs", "export", "1", "--json", "-o", str(target),
                       "--db", str(path))
    assert code == 0 and str(target) in out
    config = make_config()
    want = make_result(config, [r for a in ACTS for r in make_group(config, a)])
    want.study_id, want.relulab_version = done, __version__  # stored at run time
    got = json.loads(target.read_text(), parse_constant=pytest.fail)  # no NaN tokens
    assert got == json.loads(json.dumps(want.to_json()).replace("NaN", "null"))
    assert got["comparisons"][1]["rel_diff"] is None
    # The verdict's parts and the run diagnostics travel with the numbers.
    assert got["comparisons"][0]["accuracy"] == "no_difference"
    assert got["comparisons"][1]["n_pairs"] == 1
    assert got["diagnostics"]["flat_runs"][0] == {
        "activation": "relu", "seed": 11, "reason": "all_units_dead", "vol_ratio": 0.01,
        "dead_share": 1.0}
    assert got["diagnostics"]["dead_share"]["relu"] == {"11": 1.0, "12": None}


def test_export_refusals(db, capsys, tmp_path) -> None:
    path, _, partial = db
    code, _, err = run(capsys, "runs", "export", partial, "--json", "--db", str(path))
    assert code == 2 and "not complete" in err and err.count("\n") == 1
    # An incomplete study's runs can still be exported as CSV.
    code, out, _ = run(capsys, "runs", "export", partial, "--csv", "--db", str(path))
    assert code == 0 and len(out.splitlines()) == 1 + 3
    code, _, err = run(capsys, "runs", "export", partial, "--csv", "-o",
                       str(tmp_path / "no" / "dir.csv"), "--db", str(path))
    assert code == 2 and err.startswith("relulab: error: cannot write") and err.count("\n") == 1
    with pytest.raises(SystemExit):  # argparse: one of --csv/--json is required
        main(["runs", "export", partial, "--db", str(path)])
