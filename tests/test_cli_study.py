"""`relulab study` and `relulab demo` driven as a user drives them.

Mostly through `relulab.cli.main([...])` in a temporary working directory, plus two real
processes of the installed `relulab` script. Every study is tiny (5 epochs, 2 seeds, test size
8) and every successful study on a user file uses series of the same length, so the compiled
programs are shared and the file runs in well under a minute on 2 cores. Numbers are checked
against facts the tests compute themselves from the series they wrote: metrics recomputed
from the JSON's forecasts, weekly hotel counts recounted from the bookings, the naive
baseline as the previous actual value.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import os
import re
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from relulab.cli import build_parser, main
from relulab.cli.study import source_fields
from relulab.config import preset
from relulab.study import resolve_series

N = 60  # points of every series a successful study here trains on (shared compiled programs)
TEST = 8
TINY = ("--epochs", "5", "--seeds", "2", "--test-size", str(TEST))
RELULAB = Path(sys.executable).with_name("relulab")
ANSI = "\x1b["
METRICS_IN_JSON = ("rmse", "mae", "mfe", "mda", "vol_ratio")


# ------------------------------------------------------------------------------ helpers


def series_values(n: int = N, seed: int = 0) -> list[float]:
    """A seasonal series with noise, as the floats its CSV text reads back as."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    raw = 50 + 20 * np.sin(2 * np.pi * t / 13) + rng.normal(0, 3, n)
    return [float(f"{x:.3f}") for x in raw]


def write_csv(path: Path, cells: list[str], header: str = "value", dated: bool = True) -> Path:
    """One value column (and a weekly date column unless `dated` is False)."""
    start = dt.date(2020, 1, 5)
    rows = [(f"{start + dt.timedelta(weeks=i)}," if dated else "") + c
            for i, c in enumerate(cells)]
    path.write_text(("date," if dated else "") + header + "\n" + "\n".join(rows) + "\n")
    return path


def write_series(path: Path, values: list[float] | None = None, header: str = "value") -> Path:
    return write_csv(path, [f"{v:.3f}" for v in (values or series_values())], header)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text: str) -> dict:
    """json.loads that refuses NaN/Infinity tokens (which are not JSON)."""
    def refuse(token: str) -> None:
        raise ValueError(f"non-JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def assert_one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("relulab: error: "), err
    assert "Traceback" not in err and "usage:" not in err
    return err


def check_run_metrics(run_: dict, y: np.ndarray, y_prev: float) -> None:
    """A run's test metrics, recomputed from its forecasts and the actual test values."""
    f = np.array(run_["forecast"], dtype=float)
    assert f.shape == y.shape and np.all(np.isfinite(f))
    e = y - f
    assert math.isclose(run_["rmse"], math.sqrt(float(np.mean(e**2))), rel_tol=1e-9)
    assert math.isclose(run_["mae"], float(np.mean(np.abs(e))), rel_tol=1e-9)
    assert math.isclose(run_["mfe"], float(np.mean(e)), rel_tol=1e-9, abs_tol=1e-9)
    hits = [np.sign(y[t] - y[t - 1]) == np.sign(f[t] - f[t - 1]) for t in range(1, y.size)]
    assert math.isclose(run_["mda"], sum(hits) / len(hits), rel_tol=1e-12)
    anchors = [y_prev, *y[:-1]]
    hits_naive = [np.sign(y[t] - anchors[t]) == np.sign(f[t] - anchors[t]) for t in range(y.size)]
    assert math.isclose(run_["mda_naive"], sum(hits_naive) / y.size, rel_tol=1e-12)
    assert math.isclose(run_["vol_ratio"], float(np.std(f) / np.std(y)), rel_tol=1e-9)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever the developer's shell says, the captured streams are not terminals.
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ------------------------------------------------------------------------ bad input


def _short(d: Path) -> str:
    return str(write_series(d / "short.csv", series_values(15)))


def _with_cell(d: Path, cell: str, name: str) -> str:
    cells = [f"{v:.3f}" for v in series_values()]
    cells[10] = cell
    return str(write_csv(d / name, cells))


BAD_INPUT = {
    # id: (files and flags, fragments naming the problem, fragments naming the fix)
    "malformed csv": (
        lambda d: ["--data", str(_write(d / "bad.csv", "date,value\n2020-01-05,1\n"
                                        "2020-01-12,2,3\n2020-01-19,4\n"))],
        ["bad.csv", "not a well-formed CSV"], ["as many comma-separated fields"]),
    "non-numeric cell": (
        lambda d: ["--data", _with_cell(d, "12..5", "typo.csv")],
        ["'12..5'", "row 11", "not a number"], ["correct that cell or drop the row"]),
    "NaN (blank cell)": (
        lambda d: ["--data", _with_cell(d, "", "blank.csv")],
        ["missing (NaN)", "row 11"], ["fill them", "drop those rows"]),
    "NaN (literal)": (
        lambda d: ["--data", _with_cell(d, "NaN", "nan.csv")],
        ["missing (NaN)", "row 11"], ["fill them"]),
    "inf": (
        lambda d: ["--data", _with_cell(d, "inf", "inf.csv")],
        ["infinite", "row 11"], ["replace or drop them"]),
    "constant series": (
        lambda d: ["--data", str(write_csv(d / "flat.csv", ["7"] * N))],
        ["constant", "every value is 7"], ["choose a column that varies"]),
    "too short for the test size": (
        lambda d: ["--data", _short(d)],
        ["15 points", f"test size {TEST}"], ["lower --lookback or --test-size"]),
    "too short for the lookback": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--lookback", "40"],
        [f"{N} points", "lookback 40"], ["lower --lookback"]),
    "missing --column": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--column", "bookings"],
        ["no column 'bookings'", "available columns: date, value"], ["--column"]),
    "unknown activation": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--activations", "tanh,reluu"],
        ["unknown activation 'reluu'"], ["known:", "relu", "leaky_relu"]),
    "two spellings of one activation": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--activations",
                   "tanh,swish,silu"],
        ["activations 'swish' and 'silu' are one function (silu)"], ["list it once"]),
    "unknown preset": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--preset", "keras"],
        ["unknown preset 'keras'"], ["choose one of: seed"]),
    "unknown model": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--model", "transformer"],
        ["unknown model 'transformer'"], ["choose one of: lstm, mlp, gru, tcn"]),
    "too many folds for the length": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--folds", "40"],
        [f"{N} points", "40 rolling folds"], ["lower --folds"]),
    "unknown correction": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--correction", "fdr"],
        ["unknown correction 'fdr'"], ["--correction", "holm, bonferroni, none"]),
    "equivalence margin out of range": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--equivalence-margin", "2"],
        ["equivalence_margin must lie in (0, 1), got 2.0"], ["--equivalence-margin", "0.02"]),
    "missing file": (
        lambda d: ["--data", "nowhere.csv"],
        ["nowhere.csv not found"], ["check the path"]),
    "no series at all": (
        lambda d: [],
        ["no series given"], ["--data FILE", "--dataset NAME"]),
    "--data-file without --dataset": (
        lambda d: ["--data", str(write_series(d / "s.csv")), "--data-file", "H1.csv"],
        ["--data-file"], ["add --dataset"]),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_input_is_one_error_line_naming_problem_and_fix(case, cwd, capsys) -> None:
    make, problem, fix = BAD_INPUT[case]
    code, out, err = run(capsys, "study", *make(cwd), *TINY)
    line = assert_one_error_line(code, out, err)
    for fragment in (*problem, *fix):
        assert fragment in line, (fragment, line)
    # Refused before anything ran: no database was started.
    assert not (cwd / "relulab.db").exists()


@pytest.mark.parametrize("argv, fragments", [
    (["--data", "{nan}"], ["missing (NaN)", "row 11", "fill them"]),
    # Once an argparse `choices` error: the whole usage block, and a "relulab study:" prefix.
    (["--data", "{good}", "--preset", "keras"], ["unknown preset 'keras'", "seed"]),
])
def test_a_real_process_prints_one_line_and_exits_2(tmp_path, argv, fragments) -> None:
    if not RELULAB.exists():
        pytest.skip(f"no relulab script beside {sys.executable}")
    files = {"nan": _with_cell(tmp_path, "nan", "nan.csv"),
             "good": str(write_series(tmp_path / "good.csv"))}
    argv = [a.format(**files) for a in argv]
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.run([str(RELULAB), "study", *argv, *TINY], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    line = assert_one_error_line(proc.returncode, proc.stdout, proc.stderr)
    for fragment in fragments:
        assert fragment in line
    assert not (tmp_path / "relulab.db").exists()


# ------------------------------------------------ one stored study, run twice (resume)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The default-database study, run once and then again with the identical command."""
    d = tmp_path_factory.mktemp("stored")
    values = series_values()
    write_series(d / "series.csv", values)
    argv = ["study", "--data", "series.csv", *TINY, "--json", "result.json"]
    outputs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(d)
        for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
            mp.delenv(var, raising=False)
        for _ in range(2):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
            text = (d / "result.json").read_text()
            outputs.append(SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue(),
                                           text=text, doc=strict_json(text)))
    first, second = outputs
    return SimpleNamespace(dir=d, values=np.array(values), first=first, second=second)


def test_the_study_writes_the_json_the_issue_lists(stored) -> None:
    doc = stored.first.doc
    assert stored.first.code == 0
    for key in ("config", "runs", "summary", "comparisons", "baselines", "timing"):
        assert key in doc
    config = doc["config"]
    assert (config["epochs"], config["seeds"], config["test_size"]) == (5, 2, TEST)
    assert config["activations"] == ["tanh", "relu"] and config["model"] == "lstm"
    assert config["lookback"] == 5  # the seed preset
    assert sorted((r["activation"], r["seed"]) for r in doc["runs"]) == [
        ("relu", 0), ("relu", 1), ("tanh", 0), ("tanh", 1)]
    for r in doc["runs"]:
        for key in ("activation", "seed", *METRICS_IN_JSON, "diverged", "forecast"):
            assert key in r
        assert r["diverged"] is False
    assert set(doc["summary"]) == {"tanh", "relu"}
    timing = doc["timing"]
    assert timing["wall_s"] > 0 and 0 <= timing["compile_s"] <= timing["wall_s"]
    # Model steps: 2 activations x 2 seeds x 5 epochs x 28 batches (the 36 training windows
    # of targets 5..40, less Keras' 20% validation tail: floor(36 * 0.8) = 28).
    assert timing["model_steps"] == 2 * 2 * 5 * 28
    assert timing["model_steps_per_s"] > 0


def test_each_comparison_in_the_json_carries_the_verdicts_statistics(stored) -> None:
    doc = stored.first.doc
    assert (doc["config"]["correction"], doc["config"]["equivalence_margin"]) == ("holm", 0.02)
    (comp,) = doc["comparisons"]
    for key in ("p_adjusted", "equivalence_p", "prob_improvement", "prob_improvement_low",
                "prob_improvement_high", "seeds_needed"):
        assert key in comp, key
    assert set(comp["seeds_needed"]) == {"0.01", "0.02", "0.05"}
    assert all(n is None or (isinstance(n, int) and n >= 2)
               for n in comp["seeds_needed"].values())
    # one comparison: a family of one, so the adjusted p is the raw one
    assert (comp["correction"], comp["n_comparisons"]) == ("holm", 1)
    assert comp["p_adjusted"] == comp["dm_p"]
    # two seeds: the share of pairs won is 0, 1/2 or 1, and lies in its interval
    relu = {r["seed"]: r["rmse"] for r in doc["runs"] if r["activation"] == "relu"}
    tanh = {r["seed"]: r["rmse"] for r in doc["runs"] if r["activation"] == "tanh"}
    won = np.mean([1.0 if relu[s] < tanh[s] else 0.5 if relu[s] == tanh[s] else 0.0
                   for s in relu])
    assert comp["prob_improvement"] == won
    assert comp["decision"] == "too_few"  # 2 seeds, fewer than 3
    assert comp["verdict"] in stored.first.out  # the CLI's verdict line says it


def test_the_verdict_flags_reach_the_config() -> None:
    from relulab.cli import build_parser
    from relulab.cli.study import config_from_args

    args = build_parser().parse_args(["study", "--correction", "bonferroni",
                                      "--equivalence-margin", "0.05"])
    config = config_from_args(args)
    assert (config.correction, config.equivalence_margin) == ("bonferroni", 0.05)
    default = config_from_args(build_parser().parse_args(["study"]))
    assert (default.correction, default.equivalence_margin) == ("holm", 0.02)


def test_json_numbers_match_the_series_written(stored) -> None:
    doc, values = stored.first.doc, stored.values
    assert doc["series"]["values"] == values.tolist()
    assert doc["series"]["n"] == N and doc["series"]["test_start"] == N - TEST
    assert doc["series"]["dates"][:2] == ["2020-01-05", "2020-01-12"]
    y = values[-TEST:]
    for r in doc["runs"]:
        check_run_metrics(r, y, y_prev=float(values[-TEST - 1]))
    for act in ("tanh", "relu"):
        rmses = [r["rmse"] for r in doc["runs"] if r["activation"] == act]
        s = doc["summary"][act]["rmse"]
        assert s["n"] == 2
        assert math.isclose(s["median"], float(np.median(rmses)), rel_tol=1e-12)
        assert s["lo"] <= s["median"] <= s["hi"]
    (comp,) = doc["comparisons"]
    assert (comp["activation"], comp["reference"]) == ("relu", "tanh")
    assert comp["verdict"].startswith("relu vs tanh")
    # Naive baseline: each test point forecast by the actual value before it.
    naive = doc["baselines"]["naive"]
    assert naive["forecast"] == values[N - TEST - 1:-1].tolist()
    assert math.isclose(naive["metrics"]["rmse"],
                        float(np.sqrt(np.mean((y - values[N - TEST - 1:-1]) ** 2))),
                        rel_tol=1e-12)
    assert "arima" in doc["baselines"]


def test_output_is_clean_in_a_pipe(stored) -> None:
    for o in (stored.first, stored.second):
        assert ANSI not in o.out + o.err
        # No progress bar when stderr is not a terminal, no Python warning format.
        assert "ETA" not in o.err and "Warning" not in o.err
    assert stored.first.err == ""
    out = stored.first.out
    assert f"{N} points, test = last {TEST}" in out
    assert "relu vs tanh" in out
    assert "JSON written to result.json" in out
    # A pipe has no width; the table must not be squeezed into wrapped, truncated cells.
    assert "│ tanh" in out and "│ relu" in out and "…" not in out


def test_rerunning_the_same_command_resumes_with_identical_runs(stored) -> None:
    first, second = stored.first, stored.second
    assert second.code == 0
    assert "resuming" in second.err and "2 activation group(s)" in second.err
    assert second.doc["study_id"] == first.doc["study_id"] != ""
    assert second.doc["runs"] == first.doc["runs"]
    assert second.doc["summary"] == first.doc["summary"]
    assert second.doc["timing"]["groups_trained"] == 0


def test_runs_list_show_export_read_the_default_database(stored, capsys, monkeypatch) -> None:
    monkeypatch.chdir(stored.dir)
    assert (stored.dir / "relulab.db").is_file()
    study_id = stored.first.doc["study_id"]
    assert f"Results stored in relulab.db as study {study_id}" in stored.first.out

    code, out, err = run(capsys, "runs", "list")
    assert code == 0 and err == "" and ANSI not in out
    rows = [line for line in out.splitlines() if study_id in line]
    assert len(rows) == 1  # resuming did not store a second study
    assert "tanh, relu" in rows[0] and "4/4" in rows[0] and "complete" in rows[0]

    code, out, err = run(capsys, "runs", "show", study_id)
    assert code == 0 and err == ""
    assert study_id in out and "complete" in out and "relu vs tanh" in out

    code, out, err = run(capsys, "runs", "export", study_id, "--csv")
    assert code == 0 and err == ""
    exported = list(csv.DictReader(io.StringIO(out)))
    assert len(exported) == 4  # no duplicated runs after the resume
    by_key = {(r["activation"], r["seed"]): r for r in stored.first.doc["runs"]}
    for row in exported:
        want = by_key[(row["activation"], int(row["seed"]))]
        for m in METRICS_IN_JSON:
            assert math.isclose(float(row[m]), want[m], rel_tol=1e-12, abs_tol=1e-12)


# --------------------------------------------------------------- diverging runs


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def test_a_diverging_run_is_marked_and_left_out(cwd, capsys, monkeypatch) -> None:
    values = series_values()
    write_series(cwd / "s.csv", values)
    # stderr is a terminal here, stdout a pipe: the progress bar shows, stdout stays clean.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with warnings.catch_warnings():
        # As outside pytest (which records warnings): any warning that escapes is printed
        # to stderr in Python's format.
        warnings.simplefilter("always")
        warnings.showwarning = _print_warning
        code, out, err = run(capsys, "study", "--data", "s.csv", *TINY, "--learning-rate",
                             "1e12", "--no-db", "--json", "div.json")
    assert code == 0
    assert ANSI not in out
    assert "ETA" in err  # the progress bar went to the terminal
    assert "UserWarning" not in err and ".py:" not in err  # no Python warning format
    doc = strict_json((cwd / "div.json").read_text())
    runs = doc["runs"]
    diverged = [r for r in runs if r["diverged"]]
    assert diverged, "a learning rate of 1e12 should make some run diverge"
    for r in diverged:
        assert all(r[m] is None for m in METRICS_IN_JSON)
    y = np.array(values[-TEST:])
    for r in runs:
        if not r["diverged"]:
            check_run_metrics(r, y, y_prev=values[-TEST - 1])
    for act in ("tanh", "relu"):
        n_div = sum(r["diverged"] for r in runs if r["activation"] == act)
        ok = [r["rmse"] for r in runs if r["activation"] == act and not r["diverged"]]
        s = doc["summary"][act]["rmse"]
        assert s["n"] == len(ok)
        if ok:  # the summary is finite and over the surviving runs only
            assert math.isclose(s["median"], float(np.median(ok)), rel_tol=1e-12)
            assert all(math.isfinite(s[k]) for k in ("median", "lo", "hi"))
        else:
            assert s["median"] is None
        if n_div:
            warning = f"{act}: {n_div} of 2 runs diverged"
            assert any(warning in w for w in doc["warnings"])
            assert f"warning: {warning}" in out


# ------------------------------------------------------------------- hotel data set


def write_bookings(path: Path, weeks: int = N) -> tuple[list[int], list[str]]:
    """A small snake_case hotel_bookings.csv: bookings arriving on the Wednesday of each of
    `weeks` consecutive weeks (across a new year), at both hotels. Returns the resort
    hotel's weekly cancellations and week dates, counted here without relulab."""
    first = dt.date(2016, 3, 2)
    assert first.weekday() == 2  # a Wednesday: a whole Sunday-to-Saturday week around it
    rows, counts, days = [], [], []
    for w in range(weeks):
        day = first + dt.timedelta(weeks=w)
        canceled = 10 + round(6 * math.sin(2 * math.pi * w / 13)) + w % 3
        week_no = int(day.strftime("%U")) + 1  # how the data set numbers weeks
        common = [day.year, day.strftime("%B"), week_no, day.day]
        for hotel, n_cancel, n_kept in (("Resort Hotel", canceled, 4), ("City Hotel", 30, 9)):
            rows += [[hotel, 1, 20 + i, *common, 2] for i in range(n_cancel)]
            rows += [[hotel, 0, 5, *common, 1] for _ in range(n_kept)]
        counts.append(canceled)
        days.append(day.isoformat())
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["hotel", "is_canceled", "lead_time", "arrival_date_year",
                         "arrival_date_month", "arrival_date_week_number",
                         "arrival_date_day_of_month", "adults"])
        writer.writerows(rows)
    return counts, days


def test_hotel_dataset_from_a_local_bookings_file(cwd, capsys, monkeypatch) -> None:
    counts, days = write_bookings(cwd / "bookings.csv")
    assert days[0][:4] != days[-1][:4]  # the weeks cross a new year
    # stderr is a terminal, but --quiet: no progress at all.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run(capsys, "study", "--dataset", "hotel-h1", "--data-file",
                         "bookings.csv", *TINY, "--no-db", "--quiet", "--json", "h1.json")
    assert code == 0 and err == "" and ANSI not in out
    assert not (cwd / "relulab.db").exists()  # --no-db keeps nothing on disk
    assert "Results stored" not in out
    doc = strict_json((cwd / "h1.json").read_text())
    assert doc["series"]["name"] == "hotel-h1"
    assert doc["series"]["values"] == [float(c) for c in counts]
    assert doc["series"]["dates"] == days
    y = np.array(counts[-TEST:], dtype=float)
    for r in doc["runs"]:
        check_run_metrics(r, y, y_prev=float(counts[-TEST - 1]))


@pytest.fixture
def offline(cwd, monkeypatch) -> tuple[Path, list[str]]:
    """An empty cache and no network: every download attempt fails as it does offline."""
    cache = cwd / "cache"
    cache.mkdir()
    monkeypatch.setenv("RELULAB_CACHE", str(cache))
    tried: list[str] = []

    def no_network(url, *args, **kwargs):
        tried.append(url if isinstance(url, str) else url.full_url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return cache, tried


def test_dataset_offline_is_one_line_whose_advice_works(offline, cwd, capsys) -> None:
    cache, tried = offline
    code, out, err = run(capsys, "study", "--dataset", "hotel-h1", *TINY)
    line = assert_one_error_line(code, out, err)
    assert len(tried) == 1 and "could not download" in line and "offline" in line
    assert "Temporary failure in name resolution" in line
    assert "--data FILE" in line and "keep --dataset" in line and "hotel_bookings.csv" in line
    assert list(cache.iterdir()) == []  # no partial download left in the cache
    assert not (cwd / "relulab.db").exists()

    # Following the advice, and its --data-file spelling, reads the local copy (no network).
    counts, _ = write_bookings(cwd / "hotel_bookings.csv")
    for flag in ("--data", "--data-file"):
        args = build_parser().parse_args(
            ["study", "--dataset", "hotel-h1", flag, "hotel_bookings.csv", *TINY])
        # The flags become the config's source; the library loads it (once).
        series = resolve_series(preset("seed").replace(**source_fields(args)))
        assert series.name == "hotel-h1"
        assert series.values.tolist() == [float(c) for c in counts]
    assert len(tried) == 1


# ----------------------------------------------------------------- report, figures


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_report_and_figures(cwd, capsys) -> None:
    # A column name that is also HTML: the report must show it, escaped.
    write_series(cwd / "s.csv", header="cancellations <weekly>")
    code, out, err = run(capsys, "study", "--data", "s.csv", *TINY, "--no-db", "--quiet",
                         "--report", "out/r.html", "--figures", "figs",
                         "--json", "nested/dir/r.json")
    assert code == 0 and err == "" and ANSI not in out
    assert (cwd / "nested" / "dir" / "r.json").is_file()  # parent folders are created
    assert "Created the folders nested, nested/dir, out, figs, which did not exist" in out
    html = (cwd / "out" / "r.html").read_text(encoding="utf-8")
    assert "Report written to out/r.html" in out
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "cancellations &lt;weekly&gt;" in html and "<weekly>" not in html
    assert html.count("data:image/png;base64,") >= 3  # figures embedded
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)  # self-contained
    for act in ("tanh", "relu"):
        assert act in html
    pngs = sorted((cwd / "figs").glob("*.png"))
    match = re.search(r"(\d+) figures written to figs/", out)
    assert match and int(match.group(1)) == len(pngs) >= 3
    for png in pngs:
        width, height = _png_size(png)
        assert width >= 200 and height >= 100


@pytest.mark.parametrize("argv, line", [
    (["--json", "blocker/r.json"], "cannot write the JSON to blocker/r.json: blocker is a "
     "file, not a folder; choose another path"),
    (["--report", "a-folder"], "cannot write the report to a-folder: a-folder is a folder, "
     "not a file; choose another path"),
    (["--figures", "blocker"], "cannot write the figures to blocker: blocker is a file, not "
     "a folder; choose another folder"),
    (["--db", "blocker/r.db"], "cannot store results in blocker/r.db: blocker is a file, not "
     "a folder; pass another --db PATH, or --no-db to keep nothing on disk"),
])
def test_a_destination_that_cannot_be_written_is_refused_before_training(
        cwd, capsys, monkeypatch, argv, line) -> None:
    from relulab.study import InProcessExecutor

    def train(*args, **kwargs):
        raise AssertionError("training started before the destinations were checked")

    monkeypatch.setattr(InProcessExecutor, "run", train)
    write_series(cwd / "s.csv")
    (cwd / "blocker").write_text("a file where a folder should be")
    (cwd / "a-folder").mkdir()
    code, out, err = run(capsys, "study", "--data", "s.csv", *TINY, "--quiet", *argv)
    assert assert_one_error_line(code, out, err) == f"relulab: error: {line}\n"
    assert not (cwd / "relulab.db").exists()
    # A panel's destinations are checked before its file is even read.
    code, out, err = run(capsys, "study", "--panel", "no-such-panel.csv", *TINY, *argv)
    assert assert_one_error_line(code, out, err) == f"relulab: error: {line}\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full is Linux's")
def test_a_report_that_fails_after_training_loses_nothing(cwd, capsys, monkeypatch) -> None:
    """/dev/full passes every check (it is a writable file) and then refuses the write, as a
    full disk does: the line says where the results are."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(cwd))
    write_series(cwd / "s.csv")
    code, out, err = run(capsys, "study", "--data", "s.csv", *TINY, "--quiet",
                         "--report", "/dev/full")
    line = assert_one_error_line(code, out, err)
    assert line.startswith("relulab: error: cannot write the report to /dev/full (No space "
                           "left on device); choose another path; the results are stored in "
                           "relulab.db as study ")
    study_id = re.search(r"stored in relulab\.db as study (\w+)", line).group(1)
    assert f"(relulab report {study_id} --db relulab.db writes the report" in line
    code, out, _ = run(capsys, "runs", "export", study_id, "--csv")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 4
    # Without a database the result is saved as JSON, and the line names the file.
    code, out, err = run(capsys, "study", "--data", "s.csv", *TINY, "--quiet", "--no-db",
                         "--report", "/dev/full")
    line = assert_one_error_line(code, out, err)
    (saved,) = cwd.glob("relulab-result-*.json")
    assert line.endswith(f"; the result is saved as JSON in {saved}\n")
    assert len(strict_json(saved.read_text())["runs"]) == 4


# ---------------------------------------------------------------------------- demo


def test_demo_writes_its_report_and_says_where(cwd, capsys) -> None:
    from statsmodels.datasets import sunspots

    n = len(sunspots.load_pandas().data)
    code, out, err = run(capsys, "demo", "--epochs", "3", "--seeds", "2")
    assert code == 0 and ANSI not in out + err
    report = cwd / "relulab-report.html"
    assert report.is_file()
    assert f"Report written to {report.name}" in out
    assert f"sunspots: {n} points, test = last 15" in out  # the seed preset's test window
    html = report.read_text(encoding="utf-8")
    for act in ("tanh", "relu", "leaky_relu", "elu", "gelu"):
        assert act in html
    for act in ("relu", "leaky_relu", "elu", "gelu"):
        assert f"{act} vs tanh" in out
    assert (cwd / "relulab.db").is_file()


# ------------------------------------------------------------------ the progress display


def test_the_bar_counts_programs_while_they_compile_then_training_from_its_start() -> None:
    """A panel compiles several programs before any group trains (up to a minute): the
    display says so, program by program, and the training bar's clock and ETA start with
    training, not with the compilation."""
    from rich.console import Console

    from relulab.cli.study import _progress
    from relulab.data import Series
    from relulab.study import events as ev
    from relulab.study.executor import InProcessExecutor
    from relulab.study.plan import make_plan

    # TINY's settings, and one series of N points: the other tests' program serves it.
    config = preset("seed", activations=("tanh", "relu"), seeds=2, epochs=5, test_size=TEST)
    series = {f"s{n}": Series(np.array(series_values(n)), f"s{n}") for n in (N, 90)}
    events: list = []
    InProcessExecutor(baseline_processes=0).run(
        make_plan(config, series), lambda *a: None, lambda *a: None, events.append)
    kinds = [type(e) for e in events]
    (compiling_event,) = [e for e in events if isinstance(e, ev.Compiling)]
    assert compiling_event.programs == 2  # one per row class
    compiled = [e for e in events if isinstance(e, ev.Compiled)]
    assert [e.done for e in compiled] == [1, 2]
    assert sorted(e.what.split(" for ")[1].split(" ×")[0] for e in compiled) == ["1 series"] * 2
    last = len(kinds) - 1 - kinds[::-1].index(ev.Compiled)
    assert kinds.index(ev.Compiling) < kinds.index(ev.Compiled) < last + 1
    assert last < kinds.index(ev.GroupStarted)

    shown = []
    with _progress(Console(file=io.StringIO(), force_terminal=True), quiet=False) as bar:
        bar(ev.Started(4, 0, ("tanh", "relu"), 2))
        for event in events:
            bar(event)
            shown.append((type(event), bar.bar.get_time(),
                          [(t.description, t.completed, t.total, t.start_time)
                           for t in bar.bar.tasks if t.visible]))
    compiling = [(at, tasks) for kind, at, tasks in shown
                 if kind in (ev.Compiling, ev.Compiled)]
    assert [tasks for _, tasks in compiling] == [
        [("compiling 2 training programs", 0, 2, compiling[0][1][0][3])],  # no training bar
        [(compiling[1][1][0][0], 1, 2, compiling[0][1][0][3])],
        [("compiled 2 training programs", 2, 2, compiling[0][1][0][3])]]
    assert compiling[1][1][0][0].startswith("compiled tanh, relu for 1 series × ")
    training = next(tasks for kind, _, tasks in shown if kind is ev.GroupStarted)
    assert [t[0] for t in training] == ["compiled 2 training programs", "training tanh"]
    assert training[1][3] >= compiling[-1][0]  # its clock started once compiled
