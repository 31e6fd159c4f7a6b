"""`relulab activations ...` end to end through relulab.cli.main, against hand values."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from relulab import activations
from relulab.cli import main

REPO = Path(__file__).resolve().parents[1]
BOX = "│┃║|"


def table_rows(text: str) -> list[list[str]]:
    """The body cells of a rich table printed as text (rows whose first cell is a number)."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in _split_box(line)]
        cells = [c for c in cells if c]
        if cells and _is_number(cells[0]):
            rows.append(cells)
    return rows


def _split_box(line: str) -> list[str]:
    for ch in BOX[1:]:
        line = line.replace(ch, BOX[0])
    return line.split(BOX[0])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["activations", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------- eval


def test_eval_relu_prints_the_seed_articles_table(capsys):
    code, out, err = run(capsys, "eval", "relu", "-3", "-0.7", "0", "1.2", "5")
    assert code == 0, err
    assert table_rows(out) == [["-3", "0"], ["-0.7", "0"], ["0", "0"], ["1.2", "1.2"],
                               ["5", "5"]]


def test_eval_with_parameter_and_gradient(capsys):
    code, out, err = run(
        capsys, "eval", "leaky_relu", "-2", "0", "3", "--param", "negative_slope=0.1", "--grad"
    )
    assert code == 0, err
    # By hand; the derivative at the kink 0 is the negative slope, PyTorch's convention.
    assert table_rows(out) == [["-2", "-0.2", "0.1"], ["0", "0", "0.1"], ["3", "3", "1"]]


def test_eval_reads_exponents_and_infinities_as_numbers(capsys):
    code, out, err = run(capsys, "eval", "elu", "-1e3", "-inf", "-.5", "--grad")
    assert code == 0, err
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["-1000", "-inf", "-0.5"]
    assert [float(r[1]) for r in rows[:2]] == [-1.0, -1.0]  # ELU saturates at -alpha
    assert float(rows[2][1]) == pytest.approx(math.expm1(-0.5), rel=1e-9)
    assert float(rows[2][2]) == pytest.approx(math.exp(-0.5), rel=1e-9)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["eval", "no_such_act", "1"], "no_such_act"),
        (["eval", "relu", "abc"], "abc"),
        (["eval", "leaky_relu", "1", "--param", "bogus=1"], "bogus"),
        (["eval", "leaky_relu", "1", "--param", "negative_slope"], "KEY=VALUE"),
        (["plot", "relu", "-o", "figure.txt"], ".txt"),
        (["plot", "relu", "--param", "alpha=2", "-o", "figure.png"], "alpha"),
        (["plot", "relu", "-o", "no/such/dir/figure.png"], "no/such/dir"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relulab: error:")
    assert needle in lines[0]
    assert not list(tmp_path.iterdir())  # nothing written


def test_eval_through_the_installed_console_script():
    script = Path(sys.executable).with_name("relulab")
    if not script.exists():
        pytest.skip(f"console script not installed beside {sys.executable}")
    done = subprocess.run(
        [str(script), "activations", "eval", "relu", "-3", "-0.7", "0", "1.2", "5"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [row[1] for row in table_rows(done.stdout)] == ["0", "0", "0", "1.2", "5"]


# ---------------------------------------------------------------------------------- list


def test_list_shows_every_activation_with_its_defaults(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0, err
    for name in activations.names():
        assert name in out
    # PyTorch's defaults, by hand.
    for text in ("negative_slope=0.01", "alpha=1", "threshold=20", "monotonic", "C¹"):
        assert text in out


def test_bare_group_prints_help(capsys):
    assert main(["activations"]) == 1
    out = capsys.readouterr().out
    for sub in ("list", "eval", "plot", "table"):
        assert sub in out


# ---------------------------------------------------------------------------------- plot


def test_plot_png_with_derivatives(capsys, tmp_path):
    target = tmp_path / "act.png"
    code, _, err = run(
        capsys, "plot", "relu", "leaky_relu", "gelu", "--derivative",
        "--param", "negative_slope=0.1", "-o", str(target),
    )
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    height, width = imread(target).shape[:2]
    assert width > 1.5 * height  # two panels side by side


def test_plot_svg_has_a_legend_entry_per_curve(capsys, tmp_path):
    target = tmp_path / "act.svg"
    code, _, err = run(capsys, "plot", "elu", "selu", "--param", "elu.alpha=0.5",
                       "-o", str(target))
    assert code == 0, err
    svg = target.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "elu(alpha=0.5)" in svg and "selu" in svg


# --------------------------------------------------------------------------------- table


@pytest.fixture(scope="module")
def table_json():
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["activations", "table", "--json", "--samples", "200000",
                     "--elements", "2000"])
    assert code == 0
    return json.loads(buffer.getvalue())


def _row(table: dict, name: str) -> dict:
    return next(row for row in table["rows"] if row["name"] == name)


def test_table_json_covers_every_activation(table_json):
    assert [row["name"] for row in table_json["rows"]] == list(activations.names())
    assert table_json["input"]["samples"] == 200000


def test_table_statistics_match_standard_normal_theory(table_json):
    n = 200000
    tol = 5 / math.sqrt(n)  # five standard errors of a mean of unit-variance terms
    relu = _row(table_json, "relu")
    # E[max(0, Z)] = 1/sqrt(2 pi); Var = 1/2 - 1/(2 pi); P(Z <= 0) = 1/2.
    assert relu["mean"] == pytest.approx(1 / math.sqrt(2 * math.pi), abs=tol)
    assert relu["std"] == pytest.approx(math.sqrt(0.5 - 1 / (2 * math.pi)), abs=tol)
    assert relu["zero_fraction"] == pytest.approx(0.5, abs=tol)
    assert relu["zero_grad_fraction"] == pytest.approx(0.5, abs=tol)
    assert (relu["grad_left"], relu["grad_at_zero"], relu["grad_right"]) == (0, 0, 1)

    identity = _row(table_json, "identity")
    assert identity["mean"] == pytest.approx(0, abs=tol)
    assert identity["std"] == pytest.approx(1, abs=tol)
    assert identity["zero_fraction"] == 0 and identity["zero_grad_fraction"] == 0

    tanh = _row(table_json, "tanh")
    assert tanh["mean"] == pytest.approx(0, abs=tol) and tanh["zero_fraction"] == 0
    sigmoid = _row(table_json, "sigmoid")
    assert sigmoid["mean"] == pytest.approx(0.5, abs=tol)
    assert sigmoid["grad_left"] == sigmoid["grad_right"] == pytest.approx(0.25)

    leaky = _row(table_json, "leaky_relu")
    assert leaky["zero_fraction"] == 0 and leaky["zero_grad_fraction"] == 0
    assert leaky["grad_left"] == pytest.approx(0.01) and leaky["grad_right"] == 1
    # E[Z] over Z > 0 plus 0.01 E[Z] over Z < 0.
    assert leaky["mean"] == pytest.approx(0.99 / math.sqrt(2 * math.pi), abs=tol)

    # relu6 is relu on N(0,1) except P(Z > 6) ~ 1e-9.
    assert _row(table_json, "relu6")["zero_fraction"] == relu["zero_fraction"]
    # hard_tanh: derivative 0 outside (-1, 1): P(|Z| >= 1) = 0.3173.
    assert _row(table_json, "hard_tanh")["zero_grad_fraction"] == pytest.approx(
        math.erfc(1 / math.sqrt(2)), abs=tol
    )


def test_table_throughput_has_ours_and_native_per_framework(table_json):
    frameworks = table_json["throughput"]["frameworks"]
    assert "numpy" in frameworks and "jax" in frameworks
    for row in table_json["rows"]:
        for framework in frameworks:
            speed = row["throughput"][framework]
            assert speed["ours"] > 0
            assert speed["native"] is None or speed["native"] > 0
    # jax.nn has relu; no framework has a prelu of the form prelu(x, weight) in NumPy.
    assert _row(table_json, "relu")["throughput"]["jax"]["native"] > 0
    assert _row(table_json, "prelu")["throughput"]["numpy"]["native"] is None


def test_table_renders_both_tables(capsys):
    code, out, err = run(capsys, "table", "--samples", "1000", "--elements", "0")
    assert code == 0, err
    assert "standard-normal" in out and "zero grad" in out
    assert "Throughput" not in out  # --elements 0 skips timing
    for name in activations.names():
        assert name in out


def test_cli_module_imports_no_heavy_framework():
    code = (
        "import sys, relulab.cli.activations; "
        "print(sorted(m for m in ('jax', 'torch', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True, cwd=REPO)
    assert done.stdout.strip() == "[]"
