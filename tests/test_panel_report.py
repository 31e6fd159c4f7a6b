"""The panel report: the pooled answer first, the critical-difference diagram, the series
where the activations differ most, a sortable row per series, and nothing fetched.

One tiny real panel study (four sine-plus-noise series of 50 points, an LSTM of 2 units,
5 epochs, 2 seeds, 3 activations) is run once for the module and stored, so every series
has a study id.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D
from scipy.stats import rankdata

from relulab import display
from relulab.config import preset
from relulab.data import load_panel
from relulab.report import render_panel_report
from relulab.store import Store
from relulab.study import run_panel

ACTIVATIONS = ("tanh", "relu", "elu")
CONFIG = preset("seed", activations=ACTIVATIONS, seeds=2, epochs=5, units=2, test_size=8)
ODD_ID = "<i>d</i>"  # a series id that is also markup: it must be shown, not parsed


def _panel_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for k, period in (("a", 4.0), ("b", 6.0), ("c", 9.0), (ODD_ID, 5.0)):
        t = np.arange(50)
        y = 30 + 8 * np.sin(t / period) + rng.normal(0, 1.5, t.size)
        rows += [(k, str(d.date()), v) for d, v in
                 zip(pd.date_range("2010-01-01", periods=t.size, freq="MS"), y, strict=True)]
    return pd.DataFrame(rows, columns=["unique_id", "ds", "y"])


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    db = tmp_path_factory.mktemp("panel") / "r.db"
    with Store(db) as store:
        return run_panel(CONFIG, load_panel(_panel_frame()), store=store)


@pytest.fixture(scope="module")
def html(panel) -> str:
    return render_panel_report(panel, db="r.db")


def _without_images(html: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", html)


def test_the_pooled_words_come_first_then_the_table_the_diagram_and_the_series(
        panel, html: str) -> None:
    words = panel.pooled.words
    assert words and all(w.split(";")[0] in html for w in words)
    at = [html.index(words[0].split(";")[0]), html.index('<section id="pooled">'),
          html.index('<section id="ranks">'), html.index('<section id="differ">'),
          html.index('<section id="series">'), html.index('<section id="warnings">')]
    assert at == sorted(at)
    ranks = html[at[2]:at[3]]
    assert ranks.count('<img src="data:image/png;base64,') == 1
    assert html[at[3]:at[4]].count('<img src="data:image/png;base64,') == 1
    assert html.count("<img ") == 2  # only the small multiples' series are drawn


def test_the_pooled_table_shows_ranks_and_wins_counted_independently(panel, html) -> None:
    table = panel.scores()
    ranks = np.apply_along_axis(rankdata, 1, table.to_numpy())
    pooled = html[html.index('<section id="pooled">'):html.index('<section id="ranks">')]
    rows = {a: " ".join(pooled[pooled.index(f"<td>{a}"):].split("</tr>")[0].split())
            for a in ACTIVATIONS}
    for i, a in enumerate(ACTIVATIONS):
        assert f"{ranks[:, i].mean():.2f}" in rows[a]
        if a == "tanh":
            continue
        diff = table[a] - table["tanh"]
        wins, ties, losses = int((diff < 0).sum()), int((diff == 0).sum()), int((diff > 0).sum())
        assert f"{wins} / {ties} / {losses}" in rows[a]
        assert display.percent((wins + ties / 2) / len(table)) in rows[a]
    assert "reference" in rows["tanh"]


def test_a_row_per_series_with_its_study_id_and_median_rmse(panel, html: str) -> None:
    body = html[html.index('id="series-table"'):html.index('<section id="config">')]
    rows = body.split("<tr>")[2:]  # after the header row
    assert len(rows) == len(panel.series) == len(panel.detail) == 4
    for sid, result in panel.detail.items():
        assert result.study_id
        row = next(r for r in rows if f'data-v="{result.study_id}"' in r)
        frame = result.runs_frame
        for a in ACTIVATIONS:
            median = np.median(frame[(frame.activation == a) & ~frame.diverged].rmse)
            assert display.number(median) in row, (sid, a)
    assert "writes that series' full report" in html and "--db r.db" in html
    # The markup in a series id is escaped, never parsed.
    assert ODD_ID not in html and "&lt;i&gt;d&lt;/i&gt;" in html


def test_the_page_sorts_with_its_own_script_and_fetches_nothing(html: str) -> None:
    assert html.count("<script>") == 1 and 'document.querySelectorAll("table.sortable")' in html
    text = _without_images(html)
    assert "http" not in text
    assert not re.search(r'(src|href)="(?!data:|#)', text)


def test_the_critical_difference_figure_draws_the_pooled_numbers(panel) -> None:
    from relulab.panel_figures import critical_difference_figure

    ranks = {"tanh": 1.4, "relu": 2.1, "elu": 2.5}
    groups = [("tanh", "relu"), ("relu", "elu")]
    fig = critical_difference_figure(ranks, 0.9, groups, series=12, reference="tanh")
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if isinstance(ln, Line2D)]
    bars = [ln for ln in lines if ln.get_linewidth() == 4]
    assert sorted((round(min(ln.get_xdata()), 2), round(max(ln.get_xdata()), 2))
                  for ln in bars) == [(1.38, 2.12), (2.08, 2.52)]
    dots = {round(float(ln.get_xdata()[0]), 2) for ln in lines if ln.get_marker() == "o"}
    assert dots == {1.4, 2.1, 2.5}
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "critical difference 0.900" in texts and "tanh (reference)  1.40" in texts


def test_the_small_multiples_draw_each_activations_median_forecast(panel) -> None:
    from relulab.panel_figures import spread_forecasts_figure

    chosen = list(panel.spread().index[:2])
    fig = spread_forecasts_figure({s: panel.detail[s] for s in chosen},
                                  panel.spread().to_dict(), ACTIVATIONS)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 2
    for ax, sid in zip(shown, chosen, strict=True):
        result = panel.detail[sid]
        drawn = [ln.get_ydata() for ln in ax.get_lines()][1:]  # the actual series first
        for line, a in zip(drawn, ACTIVATIONS, strict=True):
            np.testing.assert_allclose(line, np.median(result.forecasts(a), axis=0))


def test_cli_panel_report_and_figures(tmp_path: Path, capsys) -> None:
    from relulab.cli import main

    path = tmp_path / "p.csv"
    _panel_frame().to_csv(path, index=False)
    code = main(["study", "--panel", str(path), "--series-ids", "a,b,c", "--activations",
                 "tanh,relu", "--seeds", "2", "--epochs", "3", "--units", "2",
                 "--test-size", "8", "--quiet", "--no-db", "--report",
                 str(tmp_path / "out" / "p.html"), "--figures", str(tmp_path / "figs")])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert f"Report written to {tmp_path / 'out' / 'p.html'}" in out
    assert "2 figures written to" in out
    page = (tmp_path / "out" / "p.html").read_text(encoding="utf-8")
    assert "were not stored" in page  # --no-db: no study ids to hand to `relulab report`
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "critical_difference.png", "spread_forecasts.png"]


def test_sorting_in_headless_chromium_reorders_the_rows(tmp_path: Path, panel,
                                                       html: str) -> None:
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser",
                                                "google-chrome") if shutil.which(n)), None)
    if chromium is None:
        pytest.skip("headless Chromium not installed; the browser check is skipped")
    # The page's own script sorts; one line appended here clicks the "series" header.
    click = ('<script>document.querySelector("#series-table th button").click();'
             "</script></body>")
    page = tmp_path / "panel.html"
    page.write_text(html.replace("</body>", click), encoding="utf-8")
    run = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Uncaught" not in run.stderr

    def ids(dom: str) -> list[str]:
        return [unescape(v) for v in re.findall(r'<td class="id" data-v="([^"]*)"', dom)]

    before, after = ids(html), ids(run.stdout)
    assert before == list(panel.spread().index)  # the page opens largest spread first
    assert after == sorted(before) == [ODD_ID, "a", "b", "c"]
    assert 'aria-sort="ascending"' in run.stdout


def test_the_lede_names_the_model_with_its_article_and_how_windows_were_scaled(panel, html):
    text = unescape(re.sub(r"\s+", " ", html))
    assert "On every series an LSTM (2 units) was trained 2 times per activation" in text
    assert "each window" not in text  # the protocol's global scaling is not a clause
    assert display.model_phrase("gru", 4, 1) == "a GRU (4 units)"
    assert display.model_phrase("tcn", 8, 2) == "a TCN (8 units, 2 layers)"
    scaled = panel_context_of(panel, model="gru", scaler="window-standard")
    assert scaled["model"] == "a GRU (2 units)"
    assert scaled["scaling"] == ("each window standardised by its own inputs' mean and "
                                 "standard deviation")


def panel_context_of(panel, **changes):
    """The panel page's context for the same panel under another config."""
    import copy

    from relulab.report.panel_page import panel_context

    other = copy.copy(panel)
    other.config = panel.config.replace(**changes)
    return panel_context(other)


def test_the_baselines_table_counts_each_activation_against_each_baseline(panel, html):
    section = html[html.index('<section id="baselines">'):html.index('<section id="differ">')]
    rows = {b: " ".join(section[section.index(f"<td>{b}"):].split("</tr>")[0].split())
            for b in ("naive", "arima")}
    # counted from each series' whole result, not from the panel's summaries
    rmse = {b: np.array([r.baselines[b]["metrics"]["rmse"] for r in panel.detail.values()])
            for b in rows}
    for b, row in rows.items():
        assert display.number(np.median(rmse[b])) in row
        for a in ACTIVATIONS:
            medians = np.array([np.median(f[(f.activation == a) & ~f.diverged].rmse)
                                for f in (r.runs_frame for r in panel.detail.values())])
            assert f"{int(np.sum(medians < rmse[b]))} / 4" in row
    geo = {b: np.exp(np.mean(np.log(v))) for b, v in rmse.items()}
    strongest = min(geo, key=geo.get)
    assert "strongest" in rows[strongest] and "strongest" not in rows[max(geo, key=geo.get)]
    assert f"strongest baseline: {strongest} (median RMSE" in html  # the answer names it


# ------------------------------------------------------------ error by steps ahead, pooled


def test_the_pooled_error_by_steps_is_each_steps_geometric_mean_ratio_to_naive() -> None:
    from relulab.pooled import by_step

    step_rmse = {
        "a": {"tanh": [2.0, 6.0], "naive": [4.0, 3.0], "arima": [1.0, 3.0]},
        "b": {"tanh": [8.0, 1.0], "naive": [2.0, 4.0], "arima": [math.nan, 2.0]},
        "c": {"tanh": [1.0, 1.0]},  # no naive path: cannot be relative to it
    }
    got = {s.name: s for s in by_step(step_rmse, ["relu", "tanh"], 2)}
    assert list(got) == ["tanh", "naive", "arima"]  # relu has no errors by step
    assert not got["tanh"].baseline and got["arima"].baseline
    np.testing.assert_allclose(got["tanh"].ratio_to_naive,
                               [math.sqrt(0.5 * 4.0), math.sqrt(2.0 * 0.25)], rtol=1e-12)
    assert got["tanh"].series == [2, 2]
    np.testing.assert_allclose(got["arima"].ratio_to_naive, [0.25, math.sqrt(1.0 * 0.5)],
                               rtol=1e-12)
    assert got["arima"].series == [1, 2]
    assert got["naive"].ratio_to_naive == [1.0, 1.0]


@pytest.fixture(scope="module")
def paths_panel():
    return run_panel(CONFIG.replace(horizon=2, activations=("tanh", "relu")),
                     load_panel(_panel_frame()))


def test_a_panel_of_paths_pools_each_series_error_by_steps(paths_panel) -> None:
    from relulab.pooled import by_step

    steps = paths_panel.by_step()
    # each series' own error by steps ahead, as its study computed it, pooled by hand
    series = {sid: paths_panel.series[sid].step_rmse for sid in paths_panel.series}
    assert all(set(s) >= {"tanh", "relu", "naive"} and len(s["tanh"]) == 2
               for s in series.values())
    for s, want in zip(steps, by_step(series, ["tanh", "relu"], 2), strict=True):
        assert s == want
    tanh = next(s for s in steps if s.name == "tanh")
    ratio = [math.exp(np.mean([math.log(v["tanh"][h] / v["naive"][h])
                               for v in series.values()])) for h in range(2)]
    np.testing.assert_allclose(tanh.ratio_to_naive, ratio, rtol=1e-12)
    data = paths_panel.to_json()
    assert [s["name"] for s in data["by_step"]][:2] == ["tanh", "relu"]
    assert data["by_step"][0]["series"] == [4, 4]
    assert len(next(iter(data["series"].values()))["step_rmse"]["relu"]) == 2


def test_the_panel_report_of_paths_has_the_error_by_steps(paths_panel, panel, html) -> None:
    from relulab.panel_figures import panel_figures

    page = unescape(render_panel_report(paths_panel))
    assert 'id="horizon"' in page and 'href="#horizon"' in page
    tanh = next(s for s in paths_panel.by_step() if s.name == "tanh")
    row = re.search(r"<tr><td>tanh</td>(.*?)</tr>", page, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == [f"{v:.2f}" for v in tanh.ratio_to_naive] + ["4"]
    figure = panel_figures(paths_panel)["by_step"]
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    np.testing.assert_allclose(lines["tanh"].get_ydata(), tanh.ratio_to_naive)
    # one-step studies have neither
    assert 'id="horizon"' not in html and "by_step" not in panel_figures(panel)


def test_cli_panel_of_paths_shows_the_error_by_steps(tmp_path: Path, capsys) -> None:
    from relulab.cli import main

    path = tmp_path / "p.csv"
    _panel_frame().to_csv(path, index=False)
    code = main(["study", "--panel", str(path), "--series-ids", "a,b", "--activations",
                 "tanh,relu", "--seeds", "2", "--epochs", "3", "--units", "2",
                 "--test-size", "8", "--horizon", "2", "--quiet", "--no-db",
                 "--figures", str(tmp_path / "figs")])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "2-step paths (direct)" in out and "RMSE by steps ahead over the naive" in out
    assert re.search(r"tanh\s+│\s+\d+\.\d\d\s+│\s+\d+\.\d\d", out)
    assert (tmp_path / "figs" / "by_step.png").exists()


def test_the_error_by_steps_legend_fits_inside_its_figure_with_every_baseline() -> None:
    # The field's baselines beside the protocol's made the legend's five columns wider than
    # the figure: its first and last labels were cut off at the page's edges.
    import io

    from relulab.panel_figures import step_ratio_figure
    from relulab.pooled import StepPooled

    names = [("tanh", False), ("relu", False), ("naive", True), ("seasonal_naive", True),
             ("arima", True), ("auto_ets", True), ("auto_arima", True)]
    steps = [StepPooled(n, b, [0.5 + k / 10, 0.9, 1.1], [20, 20, 20])
             for k, (n, b) in enumerate(names)]
    fig = step_ratio_figure(steps, series=20)
    fig.savefig(io.BytesIO(), format="png")  # lays the figure out as the report saves it
    legend = fig.legends[0]
    box, page = legend.get_window_extent(), fig.bbox
    assert box.x0 >= page.x0 and box.x1 <= page.x1
    assert len(legend.get_texts()) == len(names)
    assert 1 < legend._ncols < 5  # narrowed, not a column of seven
    short = step_ratio_figure(steps[:3], series=20)
    assert short.legends[0]._ncols == 3  # what fits keeps its one row
