"""Born dead (relulab.dying) against hand-made networks, closed forms, the Wilson formula,
and `relulab diagnose born-dead` driven as a user drives it."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relulab.cli import main
from relulab.dying import (
    BornDeadSpec,
    estimate_born_dead,
    single_input_born_dead,
    width_one_born_dead,
)
from relulab.dying import born_dead as bd  # the module
from relulab.errors import RelulabError
from relulab.models import initializers

SMALL = dict(networks=400, inputs=20)


def _layers(*pairs):
    return [(jnp.asarray(k, jnp.float32), jnp.asarray(b, jnp.float32)) for k, b in pairs]


def test_a_hand_made_network_is_dead_where_its_layer_is_zero_on_every_input():
    X = jnp.array([[-1.0], [0.5], [1.0]])
    layers = _layers(
        ([[1.0, -1.0]], [0.0, 0.0]),  # x+ and x-: never both zero, alive
        ([[-1.0], [-1.0]], [0.0]),  # minus a sum of non-negative numbers: 0 everywhere
        ([[2.0]], [0.5]),  # a bias revives the output, but the network stays born dead
    )
    np.testing.assert_array_equal(bd.dead_layers(layers, X), [False, True, False])
    # Depth 1: a bias below -|w| kills the layer on all of [-1, 1]; one point above revives.
    dead_first = _layers(([[1.0, 2.0]], [-3.0, -5.0]))
    np.testing.assert_array_equal(bd.dead_layers(dead_first, X), [True])
    np.testing.assert_array_equal(bd.dead_layers(dead_first, jnp.array([[4.0]])), [False])


def test_the_batched_program_agrees_with_a_loop_over_hand_built_networks():
    spec = BornDeadSpec(widths=(2,), depths=tuple(range(1, 7)), inits=("he_normal", "rai"),
                        networks=40, inputs=10)
    width, depth = 2, 6
    dead = bd._dead_by_depth(spec, width)  # (inits, networks, depth)
    key = jax.random.fold_in(jax.random.key(spec.seed), width)
    X, words = bd._words(key, spec.networks, spec.inputs, spec.input_dim, depth, width)
    assert dead[:, :, -1].any() and not dead[:, :, -1].all()  # the check has teeth
    for i, name in enumerate(spec.inits):
        init = initializers.get(name)
        for n in range(spec.networks):
            layers = [init.draw(words[n, 0, :spec.input_dim + init.extra_rows])]
            layers += [init.draw(words[n, layer, :width + init.extra_rows])
                       for layer in range(1, depth)]
            expected = np.logical_or.accumulate(np.asarray(bd.dead_layers(layers, X[n])))
            np.testing.assert_array_equal(dead[i, n], expected, err_msg=f"{name} #{n}")


def test_width_one_follows_the_closed_form():
    # One unit, one feature, zero bias, symmetric weights: 1 - 2^(1-L) (the module says why).
    depths = (1, 2, 3, 4, 6, 8)
    result = estimate_born_dead(BornDeadSpec(widths=(1,), depths=depths, networks=4000, inputs=20,
                                    inits=("he_normal", "glorot_uniform", "lecun_normal"),
                                    confidence=0.999))
    for cell in result.cells:
        exact = width_one_born_dead(cell.depth)
        assert cell.low <= exact <= cell.high, cell
    assert result.cell(1, 1, "he_normal").dead == 0  # inputs of both signs: never dead


def test_on_one_input_point_symmetric_networks_follow_the_closed_form():
    depths = (1, 3, 6)
    result = estimate_born_dead(BornDeadSpec(widths=(2, 3), depths=depths, networks=4000, inputs=1,
                                    inits=("he_normal", "glorot_uniform", "he_uniform"),
                                    confidence=0.999))
    for cell in result.cells:
        exact = single_input_born_dead(cell.width, cell.depth)
        assert cell.low <= exact <= cell.high, cell
    # On a sample of many points it is an upper bound.
    sample = estimate_born_dead(BornDeadSpec(widths=(2,), depths=depths, inits=("he_normal",),
                                    networks=4000, inputs=50))
    for cell in sample.cells:
        assert cell.high < single_input_born_dead(2, cell.depth)


def test_born_dead_rises_with_depth_and_rai_holds_it_down():
    result = estimate_born_dead(BornDeadSpec(widths=(2, 3), depths=tuple(range(1, 11)),
                                    inits=("he_normal", "glorot_uniform", "rai"), **SMALL))
    for width in (2, 3):
        for name in ("he_normal", "glorot_uniform", "rai"):
            shares = [c.born_dead for c in result.curve(width, name)]
            assert shares == sorted(shares)
        he, rai = result.cell(width, 10, "he_normal"), result.cell(width, 10, "rai")
        assert rai.high < he.low  # clearly lower, not just by chance
        assert result.cell(width, 2, "he_normal").high < he.low
    # Narrower dies sooner (Lu et al.: at fixed depth the probability falls with width).
    assert result.cell(3, 10, "he_normal").high < result.cell(2, 10, "he_normal").low


def test_intervals_are_wilson_and_contain_the_point():
    result = estimate_born_dead(BornDeadSpec(widths=(2,), depths=(1, 3, 8), **SMALL))
    z = 1.959963984540054  # the normal quantile of a two-sided 95% interval
    for c in result.cells:
        assert 0.0 <= c.low <= c.born_dead <= c.high <= 1.0
        n, p = c.networks, c.dead / c.networks
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert c.low == pytest.approx(centre - half, abs=1e-12)
        assert c.high == pytest.approx(centre + half, abs=1e-12)


def test_a_cell_does_not_depend_on_what_else_is_asked():
    alone = estimate_born_dead(BornDeadSpec(widths=(3,), depths=(5,), inits=("rai",),
                                            networks=300, inputs=20))
    grid = dict(widths=(2, 3), depths=(1, 5, 7), inits=("he_normal", "rai"), inputs=20)
    among = estimate_born_dead(BornDeadSpec(networks=500, **grid))
    # The first 300 of 500 networks are the 300: the counts can only grow with more networks.
    assert among.cell(3, 5, "rai").dead >= alone.cell(3, 5, "rai").dead
    first = estimate_born_dead(BornDeadSpec(networks=300, **grid))
    assert first.cell(3, 5, "rai") == alone.cell(3, 5, "rai")


def test_json_has_one_record_per_cell():
    spec = BornDeadSpec(widths=(2, 3), depths=(1, 4), inits=("he_normal", "rai"), **SMALL)
    payload = json.loads(json.dumps(estimate_born_dead(spec).to_json()))
    cells = payload["cells"]
    assert len(cells) == 2 * 2 * 2
    assert set(cells[0]) == {"width", "depth", "init", "networks", "dead", "born_dead", "low",
                             "high"}
    assert {(c["width"], c["depth"], c["init"]) for c in cells} == {
        (w, d, i) for w in (2, 3) for d in (1, 4) for i in ("he_normal", "rai")}
    assert payload["settings"]["networks"] == SMALL["networks"]
    assert payload["settings"]["interval"] == "wilson score"


@pytest.mark.parametrize(("changes", "message"), [
    (dict(widths=(0, 2)), "widths must be at least 1"),
    (dict(depths=()), "no depths given"),
    (dict(inits=("he_normal", "xavier")), "unknown initialiser 'xavier'; choose one of"),
    (dict(inits=("rai", "rai")), "inits repeat"),
    (dict(networks=0), "networks must be at least 1"),
    (dict(confidence=1.0), "confidence must lie in"),
])
def test_the_spec_refuses_what_it_cannot_estimate(changes, message):
    with pytest.raises(RelulabError, match=message):
        BornDeadSpec(**changes)


def test_the_cli_defaults_are_the_library_defaults():
    from relulab.cli import diagnose

    args = _parser().parse_args(["diagnose", "born-dead"])
    spec = BornDeadSpec()
    assert (args.widths, args.depths, args.inits, args.networks) == (
        spec.widths, spec.depths, spec.inits, spec.networks)
    assert diagnose.DEFAULT_NETWORKS == spec.networks


def _parser():
    from relulab.cli import build_parser

    return build_parser()


# --- the CLI end to end ----------------------------------------------------------------------


def test_diagnose_born_dead_writes_json_and_report(tmp_path, capsys):
    out_json, out_html = tmp_path / "bd.json", tmp_path / "sub" / "bd.html"
    code = main(["diagnose", "born-dead", "--widths", "1,2", "--depths", "1-3,5",
                 "--networks", "200", "--inputs", "10", "--inits", "he_normal,rai",
                 "--json", str(out_json), "--report", str(out_html), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "born dead" in out and "JSON written to" in out and "Report written to" in out
    assert "rai flattens the curve" in out
    payload = json.loads(out_json.read_text())
    assert len(payload["cells"]) == 2 * 4 * 2
    assert {c["depth"] for c in payload["cells"]} == {1, 2, 3, 5}
    html = out_html.read_text()
    assert html.count('src="data:image/png;base64,') == 1
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "Lu, Shin, Su &amp; Karniadakis" in html
    assert "--depths 1-3,5" in html  # the command that reproduces it


@pytest.mark.parametrize("argv", [
    ["--widths", "0"],
    ["--widths", "two"],
    ["--depths", "5-1"],
    ["--inits", "he_normal,kaiming"],
    ["--networks", "-3"],
    ["--confidence", "2"],
    ["--bogus"],
])
def test_bad_flags_are_one_error_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(["diagnose", "born-dead", "--quiet", *argv])
        raise SystemExit(code)
    _, err = capsys.readouterr()
    assert exit_info.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relulab: error:"), err


def test_the_figure_writes_the_theory_curves_as_math():
    from matplotlib.mathtext import MathTextParser

    from relulab.dying.born_dead import BornDead, Cell
    from relulab.dying_figures import born_dead_figure

    spec = BornDeadSpec(widths=(1, 3), depths=(1, 2, 3), inits=("he_normal",), networks=10)
    cells = tuple(Cell(w, d, "he_normal", 10, 5, 0.5, 0.2, 0.8)
                  for w in spec.widths for d in spec.depths)
    fig = born_dead_figure(BornDead(spec, cells))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    theory = [label for label in labels if label != "he_normal"]
    assert theory == [r"exact, width 1: $1 - 2^{1-L}$", r"one input point: $1 - (1 - 2^{-N})^{L}$"]
    parser = MathTextParser("agg")
    for label in theory:
        parser.parse(label[label.index("$"):], dpi=72)  # matplotlib sets it as math
