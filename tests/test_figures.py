"""Figures: each draws the numbers it claims to (checked against NumPy on the raw runs),
colours are consistent across figures, and PNGs are written without surprises."""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_hex
from matplotlib.patches import PathPatch, Rectangle
from test_report import _with_dead_units, example_result

from relulab import figures as F
from relulab.diagnostics import diagnose


@pytest.fixture(scope="module")
def result():
    return example_result()


@pytest.fixture
def fake_activations(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for relulab.activations with tanh and relu only (independent formulas)."""

    class Act:
        def __init__(self, f, df):
            self.f, self.df = f, df

        def __call__(self, x):
            return self.f(x)

        def grad(self, x):
            return self.df(x)

    table = {"tanh": Act(np.tanh, lambda x: 1 - np.tanh(x) ** 2),
             "relu": Act(lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float))}

    def get(name):
        if name not in table:
            raise KeyError(name)
        return table[name]

    module = types.ModuleType("relulab.activations")
    module.get = get
    import relulab

    monkeypatch.setitem(sys.modules, "relulab.activations", module)
    monkeypatch.setattr(relulab, "activations", module, raising=False)


def _good(result, act):
    return np.stack([r.forecast for r in result.runs if r.activation == act and not r.diverged])


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_series_figure_shades_the_three_regions(result) -> None:
    r = dataclasses.replace(result, dates=None)  # integer time axis: spans in steps
    fig = F.series_figure(r)
    (ax,) = fig.axes
    spans = sorted((p.get_x(), p.get_x() + p.get_width()) for p in ax.patches
                   if isinstance(p, Rectangle))
    # Each point owns the slot [t - 0.5, t + 0.5].
    assert spans == [(-0.5, 79.5), (79.5, 99.5), (99.5, 114.5)]
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["train\n80 points", "validation\n20 points", "test\n15 points"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), result.values)


def test_series_figure_uses_dates_when_known(result) -> None:
    import matplotlib.dates as mdates

    fig = F.series_figure(result)
    x = np.asarray(fig.axes[0].lines[0].get_xdata())
    assert np.issubdtype(x.dtype, np.datetime64)
    assert str(x[0])[:10] == result.dates[0]
    assert isinstance(fig.axes[0].xaxis.get_major_formatter(), mdates.ConciseDateFormatter)


def test_forecast_figure_median_and_band_over_converged_seeds(result) -> None:
    fig = F.forecast_figure(result)
    panels = _panels(fig)
    assert len(panels) == 3
    assert panels[0].get_shared_y_axes().joined(panels[0], panels[2])
    colors = F.activation_colors(result.config.activations)
    for ax, act in zip(panels, result.config.activations, strict=True):
        good = _good(result, act)
        median_line = max(ax.lines, key=lambda line: line.get_linewidth())
        assert to_hex(median_line.get_color()) == to_hex(colors[act])
        np.testing.assert_allclose(median_line.get_ydata(), np.median(good, axis=0))
        (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)
                   and not isinstance(c, PathCollection)]
        ys = band.get_paths()[0].vertices[:, 1]
        for q in (10, 90):
            assert np.isin(np.round(np.percentile(good, q, axis=0), 9), np.round(ys, 9)).all()
    assert "4 seeds, 1 diverged" in panels[1].get_title(loc="right")


def test_forecast_figure_baselines_optional(result) -> None:
    with_b = F.forecast_figure(result, baselines=True)
    without = F.forecast_figure(result, baselines=False)
    # actual + median (+ one line per baseline) in each panel
    assert len(with_b.axes[0].lines) == 2 + len(result.baselines)
    assert len(without.axes[0].lines) == 2
    naive = [line for line in with_b.axes[0].lines if len(line.get_ydata()) == 15
             and np.allclose(line.get_ydata(), result.baselines["naive"]["forecast"])]
    assert naive and naive[0].get_linewidth() < 1.5  # thin


def test_metrics_figure_one_panel_per_metric_with_the_seed_values(result) -> None:
    fig = F.metrics_figure(result)
    panels = _panels(fig)
    assert [ax.get_title(loc="left") for ax in panels] == [
        "RMSE", "MAE", "MFE (bias)", "MDA", "MASE", "Vol. ratio"]
    acts = list(result.config.activations)
    for ax, metric in zip(panels, ("rmse", "mae", "mfe", "mda", "mase", "vol_ratio"),
                          strict=True):
        dots = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(dots) == len(acts)
        for i, (coll, act) in enumerate(zip(dots, acts, strict=True)):
            want = sorted(r.metrics[metric] for r in result.runs
                          if r.activation == act and not r.diverged)
            xy = coll.get_offsets()
            np.testing.assert_allclose(sorted(xy[:, 0]), want)  # values across
            assert np.all(np.abs(xy[:, 1] - i) < 0.2)  # in its own row
        assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the first activation on top
    # Names read across, once per row of panels.
    for ax in panels[::3]:
        assert [t.get_text() for t in ax.get_yticklabels()] == acts
    vol = panels[5]
    refs = [line for line in vol.lines if np.allclose(line.get_xdata(), [1, 1])]
    assert refs, "the volatility-ratio panel has its reference line at 1"
    assert [to_hex(p.get_facecolor()) for p in vol.patches if isinstance(p, PathPatch)] == [
        to_hex(F.activation_colors(acts)[a]) for a in acts]


def test_metrics_figure_puts_a_far_seed_at_the_edge_with_its_value(result) -> None:
    # A collapsed run: RMSE 250 while the others lie between 10 and 25, and its forecast
    # flat (volatility ratio 0, below the others' 0.44 to 0.98: near enough to be shown).
    runs = [dataclasses.replace(x, metrics={**x.metrics, "rmse": 250.0, "vol_ratio": 0.0})
            if (x.activation, x.seed) == ("relu", 1) else x for x in result.runs]
    fig = F.metrics_figure(dataclasses.replace(result, runs=runs))
    rmse, vol = _panels(fig)[0], _panels(fig)[5]
    others = [x.metrics["rmse"] for x in runs if not x.diverged and x.metrics["rmse"] < 250]
    naive = result.baselines["naive"]["metrics"]["rmse"]
    lo, hi = rmse.get_xlim()
    assert lo <= min(others) and max([*others, naive]) <= hi < 100
    relu_dots = [c for c in rmse.collections if isinstance(c, PathCollection)][1]
    assert len(relu_dots.get_offsets()) == 3  # 5 seeds, 1 diverged, 1 at the edge
    assert [t.get_text() for t in rmse.texts] == ["250"]
    assert [m for line in rmse.lines if (m := line.get_marker()) not in ("", "None", None)] == [">"]
    assert not vol.texts and vol.get_xlim()[0] < 0.0  # shown as a dot, not clipped


def test_forecast_and_series_regions_use_the_typical_step(result) -> None:
    # The first step is 4 days, the others 7: region edges sit half a week out.
    dates = [str(d) for d in np.datetime64("2015-07-05") + 7 * np.arange(result.values.size)]
    dates[0] = "2015-07-01"
    r = dataclasses.replace(result, dates=dates)
    half = np.timedelta64(84, "h")
    last = np.datetime64(dates[-1]).astype("datetime64[h]")
    first_test = np.datetime64(dates[r.test_start]).astype("datetime64[h]")
    ax = F.forecast_figure(r).axes[0]
    (span,) = [p for p in ax.patches if isinstance(p, Rectangle)]
    import matplotlib.dates as mdates

    edges = [mdates.num2date(v).replace(tzinfo=None) for v in
             (span.get_x(), span.get_x() + span.get_width())]
    assert np.datetime64(edges[0], "h") == first_test - half
    assert np.datetime64(edges[1], "h") == last + half
    assert np.isclose(ax.get_xlim()[1], span.get_x() + span.get_width())
    series = F.series_figure(r).axes[0]
    test_span = max((p for p in series.patches if isinstance(p, Rectangle)),
                    key=lambda p: p.get_x())
    assert np.isclose(test_span.get_x() + test_span.get_width(), span.get_x() + span.get_width())


def _with_dead(result, shares):
    return _with_dead_units(result, shares, onset=5)


def test_dead_units_figure_median_over_converged_seeds(result) -> None:
    shares = {("relu", 0): 0.25, ("relu", 1): 0.5, ("relu", 2): 0.75, ("relu", 4): 0.25,
              ("relu", 3): 1.0}  # seed 3 diverged: left out
    r = _with_dead(result, shares)
    fig = F.dead_units_figure(r)
    per_epoch, per_seed = fig.axes
    (line,) = per_epoch.lines  # only relu had dead units
    assert to_hex(line.get_color()) == to_hex(F.activation_colors(r.config.activations)["relu"])
    want = np.median([np.r_[np.zeros(5), np.full(x.loss.size - 5, shares[("relu", s)])]
                      for s, x in ((x.seed, x) for x in r.runs
                                   if x.activation == "relu" and not x.diverged)], axis=0)
    np.testing.assert_allclose(line.get_ydata(), want)
    assert any("tanh, leaky_relu" in t.get_text() for t in per_epoch.texts)
    dots = [c for c in per_seed.collections if isinstance(c, PathCollection)]
    assert sorted(dots[1].get_offsets()[:, 0]) == [0.25, 0.25, 0.5, 0.75]  # kept epoch
    assert [t.get_text() for t in per_seed.get_yticklabels()] == list(r.config.activations)
    assert diagnose(r.runs, r.activations).any_dead is True


def test_dead_units_figure_is_skipped_when_absent_or_all_zero(result) -> None:
    assert F.dead_units_figure(result) is None
    assert diagnose(result.runs, result.activations).any_dead is None
    zero = _with_dead(result, {})
    assert F.dead_units_figure(zero) is None
    assert diagnose(zero.runs, zero.activations).any_dead is False
    assert "dead_units" not in F.all_figures(zero)


def test_loss_figure_log_scale_and_median_of_converged_runs(result) -> None:
    fig = F.loss_figure(result)
    panels = _panels(fig)
    assert len(panels) == 3
    for ax, act in zip(panels, result.config.activations, strict=True):
        assert ax.get_yscale() == "log"
        losses = np.stack([r.loss for r in result.runs
                           if r.activation == act and not r.diverged])
        train = next(line for line in ax.lines if line.get_linestyle() == "-")
        np.testing.assert_allclose(train.get_ydata(), np.median(losses, axis=0))
        np.testing.assert_array_equal(train.get_xdata(), np.arange(1, losses.shape[1] + 1))
        assert any(line.get_linestyle() == "--" for line in ax.lines)  # validation
    assert "1 diverged" in panels[1].get_title(loc="right")


def test_colours_are_the_same_in_every_figure(result) -> None:
    colors = F.activation_colors(result.config.activations)
    assert len(set(colors.values())) == len(colors)
    figures = (F.forecast_figure(result), F.loss_figure(result))
    for fig in figures:
        for ax, act in zip(_panels(fig), result.config.activations, strict=True):
            drawn = {to_hex(line.get_color()) for line in ax.lines}
            drawn |= {to_hex(c.get_facecolor()[0]) for c in ax.collections
                      if len(c.get_facecolor())}
            others = {to_hex(c) for a, c in colors.items() if a != act}
            assert to_hex(colors[act]) in drawn and not drawn & others, act
    dots = [c for c in F.metrics_figure(result).axes[0].collections
            if isinstance(c, PathCollection)]
    assert [to_hex(c.get_facecolor()[0]) for c in dots] == [
        to_hex(colors[a]) for a in result.config.activations]


def test_activation_figure_draws_value_and_derivative(result, fake_activations) -> None:
    r = dataclasses.replace(result, config=result.config.replace(
        activations=("tanh", "relu")))
    r = dataclasses.replace(r, runs=[x for x in r.runs if x.activation != "leaky_relu"])
    fig = F.activation_figure(r)
    value, derivative = fig.axes
    x = value.lines[0].get_xdata()
    np.testing.assert_allclose(value.lines[0].get_ydata(), np.tanh(x))
    np.testing.assert_allclose(derivative.lines[0].get_ydata(), 1 / np.cosh(x) ** 2,
                               atol=1e-12)
    np.testing.assert_allclose(value.lines[1].get_ydata(), np.maximum(x, 0))
    assert not any("not drawn" in t.get_text() for t in fig.texts)  # nothing skipped


def test_activation_figure_skips_unknown_names(result, fake_activations) -> None:
    fig = F.activation_figure(result)  # leaky_relu is unknown to the fake registry
    assert len(fig.axes[0].lines) == 2 + 2  # tanh, relu, and the two axis lines
    (note,) = [t.get_text() for t in fig.texts if "not drawn" in t.get_text()]
    assert "leaky_relu" in note
    r = dataclasses.replace(result, config=result.config.replace(activations=("mystery",)),
                            runs=[])
    assert F.activation_figure(r) is None


def test_save_figures_writes_non_blank_pngs(tmp_path: Path, fake_activations) -> None:
    from PIL import Image

    # A "$" in user text would start matplotlib's mathtext; it must print literally.
    r = example_result(series_name="revenue in $ (k$)", epochs=20)
    paths = F.save_figures(r, tmp_path / "figs")
    assert [p.name for p in paths] == ["series.png", "forecasts.png", "metrics.png",
                                       "losses.png", "activations.png"]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and b"http" not in data
        image = np.asarray(Image.open(path).convert("L"), dtype=float)
        assert (image < 200).mean() > 0.01, f"{path.name} looks blank"


def test_all_nan_group_is_drawn_as_a_note(result) -> None:
    runs = [dataclasses.replace(x, diverged=True, forecast=np.full_like(x.forecast, np.nan))
            if x.activation == "relu" else x for x in result.runs]
    r = dataclasses.replace(result, runs=runs)
    fig = F.forecast_figure(r)
    assert any("every run diverged" in t.get_text() for t in fig.axes[1].texts)
    fig = F.loss_figure(r)
    assert any("every run diverged" in t.get_text() for t in fig.axes[1].texts)
    F.png_bytes(F.metrics_figure(r), dpi=30)  # draws without error


def test_unicode_series_names_draw_without_glyph_warnings(caplog) -> None:
    """A series named with an emoji, CJK and Arabic: glyphs no installed font has are drawn
    as boxes without a warning, and no font that is not installed is asked for."""
    import logging
    import warnings

    from relulab.panel_figures import spread_forecasts_figure

    name = "Zürich 🏨 東京 ثابت"
    r = example_result(series_name=name)
    caplog.set_level(logging.DEBUG, logger="matplotlib.font_manager")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures = F.all_figures(r)
        figures["panel"] = spread_forecasts_figure({name: r}, {name: 0.2}, r.activations)
        for fig in figures.values():
            fig.axes[0].set_title(name)  # the name on every figure, whatever it shows
            assert F.png_bytes(fig, dpi=40)[:8] == b"\x89PNG\r\n\x1a\n"
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    assert [m for m in caplog.messages if "not found" in m] == []
    assert F.font_family()[0] == "sans-serif"
