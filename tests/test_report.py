"""The HTML report: content, escaping, self-containment, and a real browser's view of it.

``example_result()`` builds a realistic synthetic StudyResult (no training): a weekly
sine-plus-noise series of 115 points, 3 activations x 5 seeds, one diverged run, and a
series name that tries to inject a script.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.report import render_report, write_report
from relulab.result import METRIC_COLUMNS, Comparison, RunRecord, StudyResult

MALICIOUS = "<script>alert(1)</script>"


def _metrics(actual: np.ndarray, forecast: np.ndarray, prev: np.ndarray,
             train: np.ndarray) -> dict[str, float]:
    # Written out from PROTOCOL.md's table, independently of relulab.metrics.
    e = actual - forecast
    mae = float(np.mean(np.abs(e)))
    return {
        "rmse": float(np.sqrt(np.mean(e**2))),
        "mae": mae,
        "mfe": float(np.mean(e)),
        "mda": float(np.mean(np.sign(np.diff(actual)) == np.sign(np.diff(forecast)))),
        "mda_naive": float(np.mean(np.sign(actual - prev) == np.sign(forecast - prev))),
        "mase": mae / float(np.mean(np.abs(np.diff(train)))),
        "vol_ratio": float(np.std(forecast) / np.std(actual)),
    }


def example_result(series_name: str = MALICIOUS, epochs: int = 80) -> StudyResult:
    """A StudyResult shaped like a real 3 x 5 study, with made-up forecasts and losses."""
    rng = np.random.default_rng(42)
    n, test_size = 115, 15
    t = np.arange(n)
    values = 200 + 60 * np.sin(2 * np.pi * t / 26) + 0.4 * t + rng.normal(0, 18, n)
    values = np.round(values)
    dates = [str(d) for d in np.datetime64("2015-07-05") + 7 * t]
    test_start = n - test_size
    train_end = int(0.8 * test_start)
    config = StudyConfig(activations=("tanh", "relu", "leaky_relu"), seeds=5, epochs=epochs,
                         name=f"study {MALICIOUS}")
    actual = values[test_start:]
    prev = values[test_start - 1 : n - 1]
    val_actual = values[train_end:test_start]
    val_prev = values[train_end - 1 : test_start - 1]
    # relu "flattens the volatility": its forecasts shrink toward the level; tanh follows.
    follow = {"tanh": 0.75, "relu": 0.45, "leaky_relu": 0.6}
    spread = {"tanh": 0.9, "relu": 0.5, "leaky_relu": 0.75}
    level = float(np.mean(values[train_end:test_start]))
    runs: list[RunRecord] = []
    for act in config.activations:
        for seed in config.seed_list:
            diverged = act == "relu" and seed == 3
            k, v = follow[act] + rng.normal(0, 0.06), spread[act] + rng.normal(0, 0.05)
            fc = prev + k * (actual - prev) + rng.normal(0, 8, test_size) + rng.normal(0, 6)
            fc = level + v * (fc - level) + 0.5 * (1 - v) * (actual - level).mean()
            vfc = val_prev + k * (val_actual - val_prev) + rng.normal(0, 8, val_actual.size)
            vfc = level + v * (vfc - level)
            epoch = np.arange(epochs)
            loss = 0.012 + 0.09 * np.exp(-epoch / (12 + 4 * rng.random()))
            loss = loss * np.exp(rng.normal(0, 0.04, epochs))
            val_loss = 0.02 + 0.06 * np.exp(-epoch / 15) + 0.00006 * epoch
            val_loss = val_loss * np.exp(rng.normal(0, 0.05, epochs))
            if diverged:
                # The loss explodes half-way through training, then is NaN.
                blowup = epochs // 2
                loss[blowup:] = np.nan
                loss[blowup - 5 : blowup] = np.geomspace(0.02, 1e6, 5)
                val_loss[blowup - 5 :] = np.nan
                fc = np.full(test_size, np.nan)
                vfc = np.full(val_actual.size, np.nan)
                metrics = dict.fromkeys(METRIC_COLUMNS, np.nan)
                val_metrics = dict.fromkeys(METRIC_COLUMNS, np.nan)
            else:
                metrics = _metrics(actual, fc, prev, values[:train_end])
                val_metrics = _metrics(val_actual, vfc, val_prev, values[:train_end])
            runs.append(RunRecord(activation=act, seed=seed, diverged=diverged,
                                  metrics=metrics, val_metrics=val_metrics, forecast=fc,
                                  val_forecast=vfc, loss=loss, val_loss=val_loss,
                                  best_epoch=epochs - 1))
    frame = pd.DataFrame([{"activation": r.activation, **r.metrics} for r in runs
                          if not r.diverged])
    summary = pd.DataFrame([
        {"activation": act, "metric": m, "median": float(np.median(g[m])),
         "lo": float(np.percentile(g[m], 2.5)), "hi": float(np.percentile(g[m], 97.5)),
         "n": len(g)}
        for act, g in frame.groupby("activation", sort=False) for m in METRIC_COLUMNS
    ])
    comparisons = [
        Comparison(activation="relu", reference="tanh", metric="rmse", rel_diff=0.183,
                   rel_lo=0.071, rel_hi=0.305, dm_stat=2.71, dm_p=0.017, vol_ratio=0.52,
                   vol_ratio_ref=0.86,
                   verdict="relu is worse than tanh: RMSE 18% higher (95% CI 7% to 31%), "
                           "and its forecasts are flatter (volatility ratio 0.52 vs 0.86).",
                   n_pairs=10, accuracy="less_accurate", volatility="flattens",
                   seed_interval="above_zero", p_adjusted=0.034, correction="holm",
                   n_comparisons=2, equivalence_margin=0.02, equivalence_p=0.45,
                   equivalence_p_adjusted=0.9, prob_improvement=0.1,
                   prob_improvement_low=0.0, prob_improvement_high=0.3,
                   seeds_needed={"0.01": 160, "0.02": 41, "0.05": 8}, decision="different"),
        Comparison(activation="leaky_relu", reference="tanh", metric="rmse", rel_diff=0.041,
                   rel_lo=-0.032, rel_hi=0.118, dm_stat=0.88, dm_p=0.39, vol_ratio=0.71,
                   vol_ratio_ref=0.86,
                   verdict="No clear difference between leaky_relu and tanh: the RMSE "
                           "interval (-3% to 12%) includes 0."),
    ]
    naive = prev.astype(float)
    baselines = {
        "naive": {"metrics": _metrics(actual, naive, prev, values[:train_end]),
                  "forecast": naive},
        "ARIMA(1,1,1)": {"metrics": _metrics(actual, 0.5 * (naive + np.mean(prev)), prev,
                                             values[:train_end]),
                         "forecast": 0.5 * (naive + np.mean(prev))},
    }
    return StudyResult(
        config=config, series_name=series_name, values=values, dates=dates,
        data_hash="3f9a2c41d0b7e655", train_end=train_end, test_start=test_start, runs=runs,
        summary=summary, comparisons=comparisons, baselines=baselines,
        timing={"wall_s": 12.4, "compile_s": 3.1, "model_steps_per_s": 48213.0},
        study_id="s-20240611-7c1e",
        warnings=["relu seed 3 diverged (loss became NaN at epoch 41); it is left out of "
                  "the metrics and the comparison."],
    )


# ---------------------------------------------------------------------------- the HTML

SECTIONS = ("config", "series", "forecasts", "metrics", "comparison", "summary", "losses",
            "activations", "warnings")


# A 1x1 PNG: tests about the page's text need no real figures (they cost seconds).
TINY_PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mN"
            "k+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture
def cheap_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    from relulab import figures

    monkeypatch.setattr("relulab.report.study_page._embedded_figures",
                        lambda r: dict.fromkeys(figures.FIGURES, TINY_PNG))


@pytest.fixture(scope="module")
def result() -> StudyResult:
    return example_result()


@pytest.fixture(scope="module")
def html(result: StudyResult) -> str:
    return render_report(result)


def test_report_has_every_section_in_order(html: str) -> None:
    positions = [html.find(f'<section id="{s}">') for s in SECTIONS]
    assert all(p > 0 for p in positions), dict(zip(SECTIONS, positions, strict=True))
    assert positions == sorted(positions)
    assert html.find('id="verdicts"') < positions[0], "the verdicts lead the page"
    assert "<footer>" in html and html.rstrip().endswith("</html>")


def test_user_text_is_escaped(html: str) -> None:
    # The series name and the study name both carry a script tag; neither may survive.
    assert MALICIOUS not in html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_user_text_in_activation_names_and_warnings_is_escaped(cheap_figures) -> None:
    r = example_result(series_name="plain")
    r.warnings = ['<img src=x onerror="alert(2)">']
    # (leaky_relu does not record its verdict's parts: the page words it by its sentence)
    r.comparisons[1] = dataclasses.replace(r.comparisons[1], verdict="<b>bold</b> & more")
    page = render_report(r)
    assert "<img src=x" not in page and "&lt;img src=x onerror=" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page


def test_report_is_self_contained(html: str) -> None:
    assert not re.search(r"https?://", html), "no web addresses, not even in text"
    assert not re.search(r"""\bsrc\s*=\s*["'](?!data:)""", html), "every src is a data URI"
    assert not re.search(r"""\bhref\s*=\s*["'](?!#)""", html), "links stay on the page"
    assert "@import" not in html and "url(" not in html and "<link" not in html
    assert "@font-face" not in html


def test_figures_are_embedded_pngs(html: str) -> None:
    from PIL import Image

    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) == 5  # series, forecasts, metrics, losses, activations
    for uri in uris:
        image = Image.open(io.BytesIO(base64.b64decode(uri, validate=True)))
        image.verify()
        assert image.size[0] >= 1000  # sharp on a high-density screen


def test_every_config_field_and_the_provenance_are_shown(html: str, result) -> None:
    from relulab import __version__

    config_html = html[html.find('<section id="config">'):html.find('<section id="series">')]
    for key in result.config.to_dict():
        assert f"<td>{key}</td>" in config_html, key
    for text in (result.data_hash, result.study_id):
        assert text in config_html
    # The version that ran the study is unknown here: the page says so, and names its own.
    assert ("<td>relulab version</td><td class=\"mono\">not recorded (report: "
            f"{__version__})</td>") in config_html
    assert "the relulab version that ran it is not recorded" in html[html.find("<footer>"):]


def test_the_relulab_that_ran_the_study_is_named(cheap_figures) -> None:
    from relulab import __version__

    r = dataclasses.replace(example_result(), relulab_version="0.0.7")
    page = render_report(r)
    assert '<td>relulab version</td><td class="mono">0.0.7</td>' in page
    assert "ran with relulab 0.0.7" in page[: page.find("</header>")]
    footer = page[page.find("<footer>"):]
    assert f"Report written by relulab {__version__}" in footer
    assert "which ran with relulab 0.0.7" in footer


def test_comparison_table_numbers(html: str) -> None:
    section = html[html.find('<section id="comparison">'):html.find('<section id="summary">')]
    # relu: rel_diff 0.183 [0.071, 0.305], DM 2.71 (p 0.017), volatility 0.52 vs 0.86.
    row = section[section.find("<b>relu</b>"):]
    row = row[: row.find("</tr>")]
    # Each cell: the number, then its companions below it (eight columns fit the page).
    cells = [re.findall(r">\s*([^<>]*?)\s*<", f">{c}<")
             for c in re.findall(r'<td class="num">(.*?)</td>', row, flags=re.S)]
    cells = [[t for t in c if t] for c in cells]
    assert cells[:3] == [["+18.3%", "+7.1% to +30.5%"],
                         ["0.034", "raw p 0.017", "statistic 2.71"], ["0.900"]]
    assert cells[-1] == ["0.520", "vs 0.860"]
    assert '<td class="num">10%<span class="ci">0% to 30%</span></td>' in row
    assert " ".join(row.split()).count("1%: 160<br>") == 1 and "2%: 41<br>" in row
    assert "5%: 8</td>" in row
    assert "badge worse" in row
    leaky = section[section.find("<b>leaky_relu</b>"):]
    leaky = leaky[: leaky.find("</tr>")]
    assert "badge unclear" in leaky
    # stored before the new numbers were recorded: missing marks, not made-up numbers
    leaky_cells = re.findall(r'<td class="num">(.*?)</td>', leaky, flags=re.S)
    assert leaky_cells[1].startswith("–") and leaky_cells[2] == "–"
    assert "−3.2% to +11.8%" in leaky  # a real minus sign
    assert "includes 0." in section  # the verdict in words


def test_summary_table_medians_match_the_runs(html: str, result: StudyResult) -> None:
    section = html[html.find('<section id="summary">'):html.find('<section id="losses">')]
    for act in result.config.activations:
        rmse = [r.metrics["rmse"] for r in result.runs if r.activation == act and not r.diverged]
        row = section[section.find(f"<b>{act}</b>"):]
        row = row[: row.find("</tr>")]
        medians = re.findall(r'<td class="num[^"]*">([^<]*)', row)
        assert medians[0] == f"{len(rmse)}/5"
        assert medians[1] == f"{np.median(rmse):.3g}"  # RMSE column
    assert "baseline: naive" in section and "baseline: ARIMA(1,1,1)" in section
    # tanh has the lowest median RMSE in this example, so its cell is the bold one.
    tanh = section[section.find("<b>tanh</b>"):]
    assert 'class="num best"' in tanh[: tanh.find("</tr>")]


def test_header_states_the_answer(html: str) -> None:
    header = html[: html.find("</header>")]
    assert "Does the activation function matter" in header
    assert 'relu <span class="ref">vs tanh</span>' in header and "worse than tanh" in header
    assert 'leaky_relu <span class="ref">vs tanh</span>' in header
    assert "no clear RMSE difference" in header
    # One sentence over all cards.
    assert "Higher RMSE than tanh: relu; no clear difference: leaky_relu." in header
    assert "Lowest median test RMSE: <b>tanh</b>" in header
    assert "relu diverged on seed 3" in header  # the warning is visible without scrolling


def test_warnings_section_lists_diverged_runs_and_engine_warnings(html: str,
                                                                   cheap_figures) -> None:
    section = html[html.find('<section id="warnings">'):html.find("<footer>")]
    assert "relu seed 3 diverged" in section
    assert "loss became NaN at epoch 41" in section
    r = example_result()
    page = render_report(dataclasses.replace(
        r, runs=[x for x in r.runs if not x.diverged], warnings=[]))
    assert "None: every run converged." in page and 'class="callout"' not in page


def test_footer_has_timing(html: str, cheap_figures) -> None:
    footer = html[html.find("<footer>"):]
    assert "12.4 s" in footer and "3.1 s" in footer and "48,213 model steps/s" in footer
    r = dataclasses.replace(example_result(), timing={
        "wall_s": 30.5, "train_s": 1.83, "model_steps": 1_800_000.0,
        "groups_trained": 6.0, "groups_cached": 0.0})
    footer = render_report(r).split("<footer>")[1]
    for text in ("training 1.8 s", "1,800,000 model steps", "6 activation groups trained",
                 "0 groups taken from the results store"):
        assert text in footer, text
    assert "6.00" not in footer  # counts are not shown as measurements


def test_engine_divergence_warning_is_shown_once(cheap_figures) -> None:
    # The engine words each diverged group as a warning, which the report lists as it is;
    # the header names the diverged seeds from the diagnostics, not from that sentence.
    r = example_result(series_name="plain")
    r.warnings = ["relu: 1 of 5 runs diverged (non-finite loss or forecast; seed 3); they "
                  "are left out of the statistics; a lower --learning-rate may help",
                  "the data has 2 missing values, interpolated"]
    page = render_report(r)
    section = page[page.find('<section id="warnings">'):page.find("<footer>")]
    assert section.count("<li>") == 2
    assert page.count("1 of 5 runs diverged") == 1
    assert "interpolated" in section and "a lower --learning-rate may help" in section
    header = page[: page.find("</header>")]
    assert "2 warnings: relu diverged on seed 3." in " ".join(header.split())


def _with_dead_units(r: StudyResult, dead: dict[tuple[str, int], float],
                     onset: int = 10) -> StudyResult:
    """Give every run a dead_fraction curve: 0 until epoch ``onset``, then the given share."""
    runs = []
    for x in r.runs:
        curve = np.zeros(x.loss.size)
        curve[onset:] = dead.get((x.activation, x.seed), 0.0)
        runs.append(dataclasses.replace(x, epoch_stats={"dead_fraction": curve}))
    return dataclasses.replace(r, runs=runs)


def test_dead_units_are_shown_with_the_losses_when_any_unit_died(cheap_figures) -> None:
    r = _with_dead_units(example_result(series_name="plain"),
                         {("relu", 0): 0.25, ("relu", 1): 0.5, ("relu", 2): 0.25})
    page = render_report(r)
    training = page[page.find('<section id="losses">'):page.find('<section id="activations">')]
    assert "<h3>Dead hidden units</h3>" in training
    # 4 converged relu seeds (seed 3 diverged): 3 with dead units, median 25%, at most 50%.
    assert ("relu: 3 of 4 seeds ended with dead units (median 25% of the hidden units, at "
            "most 50%)") in training
    assert 'class="callout"' in page  # seed 3's divergence only: nothing flat here
    assert "flat line" not in page[: page.find("</header>")]


def test_dead_units_absent_or_never_seen(cheap_figures) -> None:
    r = example_result(series_name="plain")
    never = render_report(_with_dead_units(r, {}))
    assert "No hidden unit was dead" in never and "<h3>Dead hidden units</h3>" not in never
    absent = render_report(r)  # runs that do not carry the statistic
    assert "No hidden unit was dead" not in absent
    assert "<h3>Dead hidden units</h3>" not in absent


def test_a_run_whose_units_all_died_is_a_warning(cheap_figures) -> None:
    r = _with_dead_units(example_result(series_name="plain"), {("relu", 4): 1.0})
    # As a study words its diverged run (seed 3 of the example).
    r.warnings = ["relu: 1 of 5 runs diverged (non-finite loss or forecast; seed 3); they "
                  "are left out of the statistics; a lower --learning-rate may help"]
    for x in r.runs:
        if (x.activation, x.seed) == ("relu", 4):
            x.forecast = np.full_like(x.forecast, 180.0)
            x.metrics = {**x.metrics, "vol_ratio": 0.0}
    # r.warnings lacks the flat run, as a result analysed before flat runs were warnings
    # does: the report words it from the diagnostics.
    page = render_report(r)
    section = page[page.find('<section id="warnings">'):page.find("<footer>")]
    flat = ("relu: 1 of 5 runs forecast a flat line: on seed 4 every hidden unit is dead (its "
            "output is 0 on every training sample), so the model forecasts a constant "
            "(volatility ratio 0.00); it counts in the metrics and the comparisons like any run")
    assert flat in section
    header = " ".join(page[: page.find("</header>")].split())
    assert "2 warnings: relu diverged on seed 3; relu forecast a flat line on seed 4." in header
    # A result whose warnings hold it (as a study's do now) shows it once.
    from relulab.diagnostics import diagnose, flat_warnings

    r.warnings = [*r.warnings, *flat_warnings(diagnose(r.runs, r.activations).flat_runs,
                                                r.runs)]
    again = render_report(r)
    assert again.count("runs forecast a flat line") == 1
    assert "2 warnings:" in " ".join(again[: again.find("</header>")].split())


def test_cards_word_the_verdicts_parts_without_their_numbers(cheap_figures) -> None:
    from relulab import stats
    from relulab.verdicts import judged

    cases = {"relu": dict(rel_diff=0.02, rel_lo=-0.02, rel_hi=0.06, dm_stat=0.2, dm_p=0.85,
                          vol_ratio=0.97, vol_ratio_ref=0.95, n_pairs=10),
             "leaky_relu": dict(rel_diff=0.3, rel_lo=0.1, rel_hi=0.5, dm_stat=3.0,
                                dm_p=0.001, vol_ratio=0.5, vol_ratio_ref=0.9, n_pairs=2)}
    comparisons = []
    for act, kw in cases.items():
        accuracy = stats.judge_accuracy(**{k: kw[k] for k in ("rel_lo", "rel_hi", "dm_stat",
                                                               "dm_p", "n_pairs")})
        volatility = stats.judge_volatility(vol_ratio=kw["vol_ratio"],
                                            vol_ratio_ref=kw["vol_ratio_ref"])
        comparisons.append(Comparison(
            act, "tanh", "rmse", kw["rel_diff"], kw["rel_lo"], kw["rel_hi"], kw["dm_stat"],
            kw["dm_p"], kw["vol_ratio"], kw["vol_ratio_ref"],
            judged(Comparison(act, "tanh", "rmse", verdict="", **kw)).verdict,
            n_pairs=kw["n_pairs"], accuracy=accuracy, volatility=volatility,
            seed_interval=stats.seed_interval(kw["rel_lo"], kw["rel_hi"])))
    page = render_report(dataclasses.replace(example_result(), comparisons=comparisons))
    cards = page[page.find('<div class="cards"'):page.find('<p class="facts">')]
    assert "<p>No evidence of a difference; similar volatility.</p>" in cards
    assert "<p>Too few runs to judge (2 non-diverged seed pairs; at least 3 needed).</p>" in cards
    assert "DM p" not in cards  # the sentence's numbers are not repeated in the words
    assert '<div class="card worse">' in cards  # leaky_relu's interval lies above 0


def test_formatting_of_zero_percent() -> None:
    from relulab.display import signed_percent

    assert signed_percent(-0.0001) == "0.0%" and signed_percent(0.0) == "0.0%"
    assert signed_percent(-0.004) == "−0.4%" and signed_percent(0.183) == "+18.3%"


def test_single_activation_study_renders(cheap_figures) -> None:
    r = example_result()
    r = dataclasses.replace(
        r, config=r.config.replace(activations=("tanh",)), comparisons=[],
        runs=[x for x in r.runs if x.activation == "tanh"],
        summary=r.summary[r.summary["activation"] == "tanh"], warnings=[])
    page = render_report(r)
    assert "No comparisons: the study has a single activation." in page


def test_write_report(tmp_path: Path, cheap_figures) -> None:
    r = example_result(series_name="weekly cancellations")
    path = write_report(r, tmp_path / "sub" / "report.html")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    (tmp_path / "taken").mkdir()
    with pytest.raises(RelulabError, match="cannot write the report"):
        write_report(r, tmp_path / "taken")


# ---------------------------------------------------------------------------- the CLI


def _stored_study(db: Path, result: StudyResult) -> str:
    from relulab.store import Store

    with Store(db) as store:
        key = store.open_study(result.config, series_name=result.series_name,
                               values=result.values, dates=result.dates,
                               data_hash=result.data_hash, train_end=result.train_end,
                               test_start=result.test_start)
        for act in result.config.activations:
            store.save_group(key, act, [r for r in result.runs if r.activation == act])
        store.save_analysis(key, result)
    return key


def test_cli_report_writes_html_and_figures(tmp_path: Path, capsys, cheap_figures) -> None:
    from relulab.cli import main

    pytest.importorskip("relulab.store")
    db = tmp_path / "results.db"
    key = _stored_study(db, example_result())
    out = tmp_path / "out" / "report.html"
    code = main(["report", key[:6], "-o", str(out), "--db", str(db),
                 "--figures", str(tmp_path / "figs")])
    assert code == 0
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed and "figures written" in printed
    page = out.read_text(encoding="utf-8")
    assert key in page and "&lt;script&gt;" in page and MALICIOUS not in page
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "activations.png", "forecasts.png", "losses.png", "metrics.png", "series.png"]


def test_cli_report_errors_are_one_line(tmp_path: Path, capsys) -> None:
    from relulab.cli import main

    pytest.importorskip("relulab.store")
    assert main(["report", "abc", "--db", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("relulab: error: no results database") and err.count("\n") == 1
    db = tmp_path / "results.db"
    _stored_study(db, example_result())
    assert main(["report", "ffff", "--db", str(db), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "no study 'ffff'" in err and err.count("\n") == 1


# ---------------------------------------------------------------------------- the browser

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--enable-logging=stderr", "--v=0")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium not installed (apt-get install chromium); "
                "the browser check of the report is skipped")


def _browse(chromium: str, page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _console_messages(stderr: str) -> list[str]:
    # Chromium logs every console message (and uncaught errors) as INFO:CONSOLE lines.
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_report_in_headless_chromium(tmp_path: Path, html: str) -> None:
    from PIL import Image

    chromium = _chromium()
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "report.png"

    run = _browse(chromium, page, tmp_path / "profile-shot", f"--screenshot={shot}",
                  "--window-size=1280,4000")
    assert run.returncode == 0, run.stderr[-2000:]
    assert not _console_messages(run.stderr), _console_messages(run.stderr)

    image = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert image.shape == (4000, 1280, 3)
    background = np.median(image.reshape(-1, 3), axis=0)
    inked = np.abs(image - background).sum(axis=2) > 60
    assert inked.mean() > 0.05, f"screenshot looks blank ({inked.mean():.1%} inked)"
    assert image.std() > 20
    # The figures are drawn: saturated activation colours appear on the page.
    saturation = image.max(axis=2) - image.min(axis=2)
    assert (saturation > 100).mean() > 0.001

    run = _browse(chromium, page, tmp_path / "profile-dom", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    assert not _console_messages(run.stderr), _console_messages(run.stderr)
    dom = run.stdout
    for section in SECTIONS:
        assert f'<section id="{section}">' in dom, section
    assert dom.count("<img ") == 5
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script" not in dom


# Appended to a copy of a page (the pages themselves run no script): every box that scrolls
# sideways, and every table, as "class:scrollWidth/clientWidth", written into the DOM.
_MEASURE = ("<script>window.addEventListener('load', () => document.body.setAttribute("
            "'data-widths', [...document.querySelectorAll('.scroll')].map(e => "
            "e.firstElementChild.className + ':' + e.scrollWidth + '/' + e.clientWidth)"
            ".join(' ')))</script>")


def _cut_off(html: str, tmp_path: Path, width: int = 1400) -> list[str]:
    """The boxes of ``html`` whose content is wider than the box, in a window ``width``
    pixels wide."""
    chromium = _chromium()
    page = tmp_path / "measured.html"
    page.write_text(html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    run = _browse(chromium, page, tmp_path / "profile-measure", "--dump-dom",
                  f"--window-size={width},2000", "--virtual-time-budget=5000")
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'data-widths="([^"]*)"', run.stdout)
    assert found, run.stdout[-2000:]
    boxes = found.group(1).split()
    assert boxes, "no scrolling box measured"
    return [b for b in boxes if int(b.rsplit(":", 1)[1].split("/")[0])
            > int(b.rsplit("/", 1)[1])]


def test_the_tables_fit_a_1400_pixel_window(tmp_path: Path, html: str) -> None:
    assert _cut_off(html, tmp_path) == []


def _wide_born_dead():
    """A born-dead estimate over four widths, three initialisers and 30 depths, every cell
    written with the widest text a share and its interval take."""
    from relulab.dying.born_dead import BornDead, BornDeadSpec, Cell

    spec = BornDeadSpec(widths=(2, 3, 4, 5), depths=tuple(range(1, 31)), networks=10_000)
    cells = tuple(Cell(w, d, i, 10_000, 9_999, 0.9999, 0.9995, 0.99995)
                  for w in spec.widths for d in spec.depths for i in spec.inits)
    return BornDead(spec, cells, {"wall_s": 12.0})


def test_the_born_dead_page_has_one_table_per_width(tmp_path: Path) -> None:
    from relulab.report.born_dead_page import render_born_dead

    page = render_born_dead(_wide_born_dead())
    tables = re.findall(r"<table>(.*?)</table>", page, flags=re.S)
    assert [re.search(r"<caption>(.*?)</caption>", t).group(1) for t in tables] == [
        "width 2", "width 3", "width 4", "width 5"]
    for table in tables:
        header = table[table.find("<thead>"):table.find("</thead>")]
        assert len(re.findall(r"<th[ >]", header)) == 1 + 3  # depth, then the initialisers
        assert table.count("<tr>") == 1 + 30
    assert page.count('&gt;99.9%<span class="ci">[&gt;99.9%, &gt;99.9%]</span>') == 4 * 3 * 30
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        assert _cut_off(page, tmp_path) == []


def test_cards_show_the_adjusted_p_equivalence_share_of_seeds_and_seeds_needed(html: str) -> None:
    cards = html[html.find('<div class="cards"'):html.find('<p class="facts">')]
    relu = " ".join(cards[cards.find("relu <span"):cards.find("leaky_relu <span")].split())
    # the example's relu numbers, as the card must write them
    assert "Diebold-Mariano p = 0.034 (Holm-adjusted over 2 comparisons)" in relu
    assert "equivalence within ±2%: p = 0.900" in relu
    assert "lower RMSE on 10% of seeds (0% to 30%)" in relu
    assert "seeds for 80% power: 160 (1%), 41 (2%), 8 (5%)" in relu
    assert "<p>Evidence that relu is less accurate; relu flattens the forecast.</p>" in relu
    leaky = cards[cards.find("leaky_relu <span"):]
    assert "equivalence within" not in leaky and "seeds for 80% power" not in leaky
    assert "Diebold-Mariano p = 0.390" in leaky  # stored before adjustment: the raw p


def test_an_equivalent_comparison_is_labelled_so(cheap_figures) -> None:
    from relulab.verdicts import judged

    r = example_result()
    c = judged(dataclasses.replace(r.comparisons[0], rel_diff=0.004, rel_lo=-0.006,
                                   rel_hi=0.01, dm_p=0.6, p_adjusted=0.8, equivalence_p=0.004,
                                   equivalence_p_adjusted=0.008))
    assert c.decision == "equivalent"
    page = render_report(dataclasses.replace(r, comparisons=[c, r.comparisons[1]]))
    cards = page[page.find('<div class="cards"'):page.find('<p class="facts">')]
    assert '<span class="badge unclear">equivalent within ±2%</span>' in cards
    assert "Equivalent to tanh within ±2%: relu.</p>" in page[: page.find('<div class="cards"')]
    assert "<p>relu and tanh are equivalent within ±2%; relu flattens the forecast.</p>" in cards


def test_every_page_sets_user_text_in_a_stack_with_cjk_and_emoji_fonts(html: str) -> None:
    from relulab.report.born_dead_page import render_born_dead

    for page in (html, render_born_dead(_wide_born_dead())):
        stack = re.search(r"--sans:([^;]*);", page).group(1)
        families = [f.strip().strip('"') for f in stack.split(",")]
        assert families.index("Noto Sans CJK SC") < families.index("sans-serif") < (
            families.index("Noto Color Emoji"))
        assert "font: 16px/1.55 var(--sans);" in page


def test_the_header_names_the_strongest_baseline_and_whether_an_activation_beats_it(
        html: str, result: StudyResult) -> None:
    from html import unescape

    header = unescape(html[: html.find("</header>")])
    base = {name: b["metrics"]["rmse"] for name, b in result.baselines.items()}
    strongest = min(base, key=base.get)
    medians = {a: np.median([r.metrics["rmse"] for r in result.runs
                             if r.activation == a and not r.diverged])
               for a in result.config.activations}
    assert f"strongest baseline, {strongest}" in header
    beaten = [a for a, v in medians.items() if v < base[strongest]]
    if beaten and len(beaten) < len(medians):
        assert f"{beaten[0]} (median RMSE" in header and "does not" in header
    elif not beaten:
        assert "beats every activation" in header
    else:
        assert "Every activation's median beats" in header
