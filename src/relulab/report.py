"""The study report: one self-contained HTML file.

Figures are embedded as base64 PNG, the CSS is inline, and the page has no scripts, fonts
or links outside itself, so it opens anywhere with no network. Everything that comes from
the user (series name, study name, activation names, warnings) passes through Jinja2's
autoescaping. The template is a string in this module so that the package needs no data
files.

:func:`render_report` is pure (a :class:`~relulab.result.StudyResult` in, HTML out);
:func:`write_report` is the only function here that touches the file system.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from relulab import __version__
from relulab.errors import RelulabError
from relulab.figures import all_figures, png_bytes
from relulab.result import METRIC_COLUMNS, StudyResult

# Display name, unit note and which way is better, per metric column.
METRIC_INFO: dict[str, tuple[str, str, str]] = {
    "rmse": ("RMSE", "series units", "low"),
    "mae": ("MAE", "series units", "low"),
    "mfe": ("MFE", "bias, units", "zero"),
    "mda": ("MDA", "vs forecast", "high"),
    "mda_naive": ("MDA", "vs actual", "high"),
    "mase": ("MASE", "vs naive", "low"),
    "vol_ratio": ("Vol. ratio", "1 = as volatile", "one"),
}


# ---------------------------------------------------------------------------- formatting


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def fmt_num(v: Any, metric: str | None = None) -> str:
    """A number for a table: MDA as a percentage, otherwise 3 significant digits (more
    for large values, so that 1234.5 is not shown as 1.23e+03)."""
    if not _finite(v):
        return "–"
    v = float(v)
    if metric in ("mda", "mda_naive"):
        return f"{100 * v:.0f}%"
    if v != 0 and abs(v) < 1e-3:
        text = f"{v:.2e}"
    elif abs(v) >= 99.95:
        text = f"{v:,.0f}"
    else:
        text = f"{v:#.3g}"  # '#' keeps trailing zeros: 0.500, not 0.5
    return text.replace("-", "−")  # a true minus sign, as wide as the plus


def fmt_pct(v: Any) -> str:
    """A relative difference as a signed percentage: 0.183 -> '+18.3%'."""
    if not _finite(v):
        return "–"
    v = 100 * float(v)
    return f"{v:+.1f}%".replace("-", "−")


def fmt_p(v: Any) -> str:
    if not _finite(v):
        return "–"
    v = float(v)
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def fmt_seconds(v: Any) -> str:
    if not _finite(v):
        return "–"
    v = float(v)
    if v < 60:
        return f"{v:.1f} s"
    minutes, seconds = divmod(v, 60)
    return f"{minutes:.0f} min {seconds:.0f} s"


# ---------------------------------------------------------------------------- view model


@dataclass
class Verdict:
    activation: str
    reference: str
    metric: str
    badge: str  # "better" | "worse" | "unclear" | "unknown"
    label: str  # the badge in words
    rel: str
    interval: str
    dm_stat: str
    dm_p: str
    vol: str
    vol_ref: str
    text: str


def _verdict(c: Any) -> Verdict:
    # The badge reads only the interval of the relative difference: it excludes 0 or not.
    metric = METRIC_INFO.get(c.metric, (c.metric.upper(),))[0]
    if not (_finite(c.rel_lo) and _finite(c.rel_hi)):
        badge, label = "unknown", "not enough runs to tell"
    elif c.rel_lo > 0:
        badge, label = "worse", f"{metric} worse than {c.reference}"
    elif c.rel_hi < 0:
        badge, label = "better", f"{metric} better than {c.reference}"
    else:
        badge, label = "unclear", f"no clear {metric} difference"
    return Verdict(
        activation=c.activation, reference=c.reference, metric=metric, badge=badge,
        label=label, rel=fmt_pct(c.rel_diff),
        interval=f"{fmt_pct(c.rel_lo)} to {fmt_pct(c.rel_hi)}",
        dm_stat=fmt_num(c.dm_stat), dm_p=fmt_p(c.dm_p), vol=fmt_num(c.vol_ratio),
        vol_ref=fmt_num(c.vol_ratio_ref), text=c.verdict,
    )


def _best(values: dict[str, float], direction: str) -> str | None:
    finite = {k: float(v) for k, v in values.items() if _finite(v)}
    if len(finite) < 2:
        return None
    key = {"low": lambda k: finite[k], "high": lambda k: -finite[k],
           "zero": lambda k: abs(finite[k]), "one": lambda k: abs(finite[k] - 1)}[direction]
    return min(finite, key=key)


def _summary_rows(result: StudyResult, activations: list[str]) -> tuple[list[dict], list[str]]:
    """Per activation: cells (median, interval, best?) per metric, plus runs counted."""
    summary = result.summary
    metrics = [m for m in METRIC_COLUMNS if m in set(summary.get("metric", []))] or list(
        METRIC_COLUMNS)
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for row in summary.itertuples(index=False):
        table.setdefault(str(row.activation), {})[str(row.metric)] = {
            "median": row.median, "lo": row.lo, "hi": row.hi, "n": row.n}
    best = {m: _best({a: table.get(a, {}).get(m, {}).get("median") for a in activations},
                     METRIC_INFO.get(m, ("", "", "low"))[2]) for m in metrics}
    rows = []
    for act in activations:
        runs = [r for r in result.runs if r.activation == act]
        cells = []
        for m in metrics:
            cell = table.get(act, {}).get(m)
            if cell is None:
                cells.append({"median": "–", "interval": "", "best": False})
                continue
            interval = (f"[{fmt_num(cell['lo'], m)}, {fmt_num(cell['hi'], m)}]"
                        if _finite(cell["lo"]) and _finite(cell["hi"]) else "")
            cells.append({"median": fmt_num(cell["median"], m), "interval": interval,
                          "best": best[m] == act})
        ok = sum(not r.diverged for r in runs)
        rows.append({"activation": act, "cells": cells, "runs": f"{ok}/{len(runs)}",
                     "diverged": len(runs) - ok})
    return rows, metrics


def _context(result: StudyResult) -> dict[str, Any]:
    config = result.config
    activations = list(config.activations)
    activations += list(dict.fromkeys(r.activation for r in result.runs
                                      if r.activation not in activations))
    n = int(result.values.size)
    rows, metrics = _summary_rows(result, activations)
    frame = result.runs_frame
    good = frame[~frame["diverged"]] if not frame.empty else frame
    rmse = good.groupby("activation")["rmse"].median().to_dict() if not good.empty else {}
    best = _best({a: rmse.get(a) for a in activations}, "low")
    baseline_rows = [
        {"name": name, "cells": [fmt_num(b.get("metrics", {}).get(m), m) for m in metrics]}
        for name, b in result.baselines.items()
    ]
    naive = result.baselines.get("naive", {}).get("metrics", {}).get("rmse")
    diverged = [(a, [r.seed for r in result.runs if r.activation == a and r.diverged])
                for a in activations]
    diverged = [(a, seeds) for a, seeds in diverged if seeds]
    model = (f"LSTM ({config.units} units" if config.model == "lstm"
             else f"MLP ({config.units} wide") + (
        f", {config.layers} layers)" if config.layers > 1 else ")")
    seeds = config.seed_list
    figures = _embedded_figures(result)
    config_rows = [(k, _config_value(v)) for k, v in config.to_dict().items()]
    config_rows += [("relulab version", __version__), ("data hash", result.data_hash or "–"),
                    ("study id", result.study_id or "–"),
                    ("series", f"{result.series_name} ({n} points)")]
    half = -(-len(config_rows) // 2)
    timing = dict(result.timing)
    timing_parts = []
    if _finite(timing.get("wall_s")):
        timing_parts.append(f"study ran in {fmt_seconds(timing.pop('wall_s'))}")
    if _finite(timing.get("compile_s")):
        timing_parts.append(f"of which compiling {fmt_seconds(timing.pop('compile_s'))}")
    if _finite(timing.get("model_steps_per_s")):
        timing_parts.append(f"{float(timing.pop('model_steps_per_s')):,.0f} model steps/s")
    timing_parts += [f"{k.replace('_', ' ')} {fmt_num(v)}" for k, v in timing.items()]
    return {
        "r": result, "config": config, "n": n, "activations": activations,
        "n_test": n - result.test_start, "n_train": result.train_end,
        "n_val": result.test_start - result.train_end, "model": model,
        "seeds_text": (f"{len(seeds)} seeds ({seeds[0]}–{seeds[-1]})" if len(seeds) > 1
                       else f"1 seed ({seeds[0]})"),
        "verdicts": [_verdict(c) for c in result.comparisons],
        "best": best, "best_rmse": fmt_num(rmse.get(best)) if best else None,
        "naive_rmse": fmt_num(naive) if _finite(naive) else None,
        "summary_rows": rows, "metrics": metrics,
        "metric_info": {m: METRIC_INFO.get(m, (m, "", "low")) for m in metrics},
        "baseline_rows": baseline_rows, "diverged": diverged, "figures": figures,
        "diverged_text": "; ".join(
            f"{a} diverged on seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"
            for a, s in diverged),
        "config_columns": [config_rows[:half], config_rows[half:]],
        "confidence": f"{100 * config.confidence:g}%", "timing": timing_parts,
        "version": __version__,
    }


def _embedded_figures(result: StudyResult) -> dict[str, str]:
    """Figure name -> PNG data URI."""
    return {name: "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode("ascii")
            for name, fig in all_figures(result).items()}


def _config_value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v) if str(v) != "" else "–"


# ---------------------------------------------------------------------------- rendering

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)


def render_report(result: StudyResult) -> str:
    """The report of one study as a self-contained HTML document."""
    return _ENV.from_string(TEMPLATE).render(**_context(result))


def write_report(result: StudyResult, path: str | Path) -> Path:
    """Render the report and write it to ``path`` (parent folders are created)."""
    path = Path(path)
    html = render_report(result)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise RelulabError(
            f"cannot write the report to {path}: {exc.strerror or exc}; "
            "choose another path with -o"
        ) from exc
    return path


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>relulab report: {{ r.series_name }}{% if r.study_id %} ({{ r.study_id }}){% endif %}</title>
<style>
:root {
  --ink: #1d1f23; --muted: #5d6470; --rule: #dde1e6; --paper: #ffffff; --tint: #f5f7fa;
  --better: #0a7d4f; --better-bg: #e3f4ec; --worse: #b3261e; --worse-bg: #fbe7e5;
  --unclear: #5d6470; --unclear-bg: #eef0f3; --warn: #8a5a00; --warn-bg: #fff4dc;
}
* { box-sizing: border-box; }
html { background: var(--tint); }
body {
  margin: 0; color: var(--ink); background: var(--paper);
  font: 16px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Noto Sans",
        "Liberation Sans", "DejaVu Sans", Arial, sans-serif;
  max-width: 960px; margin: 0 auto; padding: 2.2rem 2.5rem 1.5rem;
  box-shadow: 0 0 0 1px var(--rule);
}
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0.2rem 0 0.8rem; letter-spacing: -0.01em; }
h2 { font-size: 1.35rem; margin: 2.6rem 0 0.6rem; padding-top: 0.8rem;
     border-top: 1px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.6rem 0 0.4rem; }
p, li { max-width: 44em; }
.kicker { color: var(--muted); font-size: 0.85rem; text-transform: uppercase;
          letter-spacing: 0.06em; margin: 0; }
.lede { font-size: 1.08rem; color: #33373d; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
.cards { display: grid; gap: 0.8rem; margin: 1.2rem 0; }
.card { border: 1px solid var(--rule); border-left: 6px solid var(--unclear);
        border-radius: 6px; padding: 0.8rem 1.1rem; background: var(--paper); }
.card.better { border-left-color: var(--better); }
.card.worse { border-left-color: var(--worse); }
.card .head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.4rem 0.9rem; }
.card .pair { font-weight: 700; font-size: 1.1rem; }
.card .big { font-size: 1.5rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.card .ci { color: var(--muted); font-variant-numeric: tabular-nums; }
.card p { margin: 0.35rem 0 0; }
.badge { display: inline-block; font-size: 0.8rem; font-weight: 700; padding: 0.1rem 0.55rem;
         border-radius: 999px; background: var(--unclear-bg); color: var(--unclear);
         text-transform: uppercase; letter-spacing: 0.04em; }
.badge.better { background: var(--better-bg); color: var(--better); }
.badge.worse { background: var(--worse-bg); color: var(--worse); }
.facts { color: var(--muted); font-size: 0.95rem; }
.facts b { color: var(--ink); }
.callout { background: var(--warn-bg); color: var(--warn); border-radius: 6px;
           padding: 0.6rem 1rem; margin: 1rem 0; }
.callout a { color: inherit; }
nav.toc { font-size: 0.92rem; color: var(--muted); margin-top: 1.2rem; }
nav.toc a { color: #1f5fa8; text-decoration: none; margin-right: 0.9rem; white-space: nowrap; }
figure { margin: 1rem 0 0.4rem; }
figure img { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 0.92rem; margin-top: 0.4rem; max-width: 44em; }
table { border-collapse: collapse; width: 100%; margin: 0.8rem 0; font-size: 0.93rem;
        font-variant-numeric: tabular-nums; }
th, td { padding: 0.42rem 0.6rem; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { text-align: left; font-weight: 600; color: #3b4048; border-bottom: 2px solid #c9ced6; }
thead th { vertical-align: bottom; }
td.num, th.num { text-align: right; white-space: nowrap; }
th .unit { display: block; font-weight: 400; color: var(--muted); font-size: 0.78rem; }
td .ci { display: block; color: var(--muted); font-size: 0.8rem; }
td.best { font-weight: 700; }
td.best .ci { font-weight: 400; }
.scroll { overflow-x: auto; }
table.comparison tr.numbers td { border-bottom: none; padding-bottom: 0.1rem; }
table.comparison tr.words td { color: #33373d; padding-top: 0.1rem; }
tr.baseline td { color: #3b4048; background: var(--tint); }
.swatch { display: inline-block; width: 0.75em; height: 0.75em; border-radius: 2px;
          margin-right: 0.4em; vertical-align: -0.05em; }
.config { display: grid; grid-template-columns: 1fr 1fr; gap: 0 2rem; }
.config table { font-size: 0.88rem; margin: 0.3rem 0; }
.config td:first-child { color: var(--muted); white-space: nowrap; }
.config td:last-child { word-break: break-word; }
.warnings li { margin: 0.3rem 0; }
.ok { color: var(--better); }
footer { margin-top: 3rem; padding-top: 0.8rem; border-top: 1px solid var(--rule);
         color: var(--muted); font-size: 0.85rem; }
@media (max-width: 720px) {
  body { padding: 1.2rem; } .config { grid-template-columns: 1fr; }
}
@media print { html { background: none; } body { box-shadow: none; } }
</style>
</head>
<body>
<header>
  <p class="kicker">relulab report
  {%- if r.study_id %} · study <span class="mono">{{ r.study_id }}</span>{% endif %}</p>
  <h1>Does the activation function matter for “{{ r.series_name }}”?</h1>
  <p class="lede">An {{ model }} was trained {{ config.seeds }} times per activation
  ({{ activations|join(", ") }}), each time from a different random seed, and asked to
  forecast the last {{ n_test }} points of the series one step ahead.
  Each activation is compared with <b>{{ config.reference }}</b> over all seeds.</p>

  {% if verdicts %}
  <div class="cards" id="verdicts">
  {% for v in verdicts %}
    <div class="card {{ v.badge }}">
      <div class="head">
        <span class="pair">{{ v.activation }} vs {{ v.reference }}</span>
        <span class="badge {{ v.badge }}">{{ v.label }}</span>
      </div>
      <div class="head">
        <span class="big">{{ v.metric }} {{ v.rel }}</span>
        <span class="ci">{{ confidence }} interval {{ v.interval }}
        · Diebold-Mariano p = {{ v.dm_p }}
        · volatility ratio {{ v.vol }} vs {{ v.vol_ref }}</span>
      </div>
      <p>{{ v.text }}</p>
    </div>
  {% endfor %}
  </div>
  {% endif %}
  <p class="facts">
  {% if config.name %}Study “{{ config.name }}”. {% endif %}
  {% if best %}Lowest median test RMSE: <b>{{ best }}</b> ({{ best_rmse }}).{% endif %}
  {% if naive_rmse %} Naive forecast (last value): RMSE {{ naive_rmse }}.{% endif %}
  {{ n_train }} training, {{ n_val }} validation and {{ n_test }} test points; {{ seeds_text }}.
  </p>
  {% if r.warnings or diverged %}
  {% set n_warn = (r.warnings|length) or (diverged|length) %}
  <p class="callout">⚠ {{ n_warn }} warning{{ "s" if n_warn > 1 }}
  {%- if diverged_text %}: {{ diverged_text }}{% endif %}.
  <a href="#warnings">Details below.</a></p>
  {% endif %}
  <nav class="toc">
    <a href="#config">Configuration</a> <a href="#series">Series</a>
    <a href="#forecasts">Forecasts</a> <a href="#metrics">Metrics</a>
    <a href="#comparison">Comparison</a> <a href="#summary">Summary</a>
    <a href="#losses">Training</a> <a href="#activations">Activations</a>
    <a href="#warnings">Warnings</a>
  </nav>
</header>

<main>
<section id="config">
  <h2>Configuration</h2>
  <p>Everything that decides the numbers below; with the same data (identified by its hash)
  the study reproduces them.</p>
  <div class="config">
  {% for column in config_columns %}
    <table>
    {% for key, value in column %}
      <tr><td>{{ key }}</td><td class="mono">{{ value }}</td></tr>
    {% endfor %}
    </table>
  {% endfor %}
  </div>
</section>

<section id="series">
  <h2>The series</h2>
  <figure>
    <img src="{{ figures.series }}"
         alt="The series over time, with the train, validation and test regions shaded">
    <figcaption>The scaler and the models see only the train region (the validation loss
    comes from its last {{ "%g"|format(100 * config.validation_split) }}%); the validation
    region is scored separately, and the test region is scored last.</figcaption>
  </figure>
</section>

<section id="forecasts">
  <h2>Forecasts on the test window</h2>
  <figure>
    <img src="{{ figures.forecasts }}"
         alt="Actual test values against the median forecast of each activation">
    <figcaption>Black: the actual series. Colour: the median forecast over seeds at each
    test point, with the band holding the middle 80% of seeds. Grey lines: baselines.
    A forecast that is flatter than the black line underestimates the volatility.</figcaption>
  </figure>
</section>

<section id="metrics">
  <h2>Metrics over seeds</h2>
  <figure>
    <img src="{{ figures.metrics }}"
         alt="Distribution over seeds of each test metric, per activation">
    <figcaption>One dot per seed; the box spans the middle half of the seeds and its line is
    the median. Dashed grey lines are reference levels (no bias, coin-flip direction,
    naive-forecast error, equal volatility); baselines are shown in the legend's styles.
    Diverged runs are left out.</figcaption>
  </figure>
</section>

<section id="comparison">
  <h2>Comparison with {{ config.reference }}</h2>
  {% if verdicts %}
  <p>The relative difference is the median over seeds of
  (RMSE<sub>activation</sub> / RMSE<sub>{{ config.reference }}</sub> − 1), with a
  {{ confidence }} bootstrap interval. The Diebold-Mariano test (with the
  Harvey-Leybourne-Newbold correction) compares the per-seed-median forecasts; a small p
  says the accuracy difference is unlikely to be chance.</p>
  <div class="scroll"><table class="comparison">
    <thead><tr>
      <th>activation</th><th>finding</th>
      <th class="num">RMSE<span class="unit">rel. diff.</span></th>
      <th class="num">RMSE<span class="unit">{{ confidence }} interval</span></th>
      <th class="num">DM<span class="unit">statistic</span></th>
      <th class="num">DM<span class="unit">p</span></th>
      <th class="num">vol. ratio<span class="unit">activation</span></th>
      <th class="num">vol. ratio<span class="unit">{{ config.reference }}</span></th>
    </tr></thead>
    <tbody>
    {% for v in verdicts %}
      <tr class="numbers">
        <td><b>{{ v.activation }}</b></td>
        <td><span class="badge {{ v.badge }}">{{ v.badge }}</span></td>
        <td class="num">{{ v.rel }}</td><td class="num">{{ v.interval }}</td>
        <td class="num">{{ v.dm_stat }}</td><td class="num">{{ v.dm_p }}</td>
        <td class="num">{{ v.vol }}</td><td class="num">{{ v.vol_ref }}</td>
      </tr>
      <tr class="words"><td></td><td colspan="7">{{ v.text }}</td></tr>
    {% endfor %}
    </tbody>
  </table></div>
  {% else %}
  <p>No comparisons: the study has a single activation.</p>
  {% endif %}
</section>

<section id="summary">
  <h2>Summary per activation</h2>
  <p>Median over seeds on the test window, with its {{ confidence }} interval below it;
  bold marks the best median of each column. MFE is the mean error (positive: forecasts
  too low); MDA counts the directions forecast right, measured from the previous forecast
  as the reference study did, or from the previous actual value (the textbook definition);
  MASE below 1 beats the naive forecast; a volatility ratio below 1 means flattened
  forecasts.</p>
  <div class="scroll"><table>
    <thead><tr>
      <th>activation</th><th class="num">runs<span class="unit">converged</span></th>
      {% for m in metrics %}
      <th class="num">{{ metric_info[m][0] }}<span class="unit">{{ metric_info[m][1] }}</span></th>
      {% endfor %}
    </tr></thead>
    <tbody>
    {% for row in summary_rows %}
      <tr>
        <td><b>{{ row.activation }}</b></td><td class="num">{{ row.runs }}</td>
        {% for c in row.cells %}
        <td class="num{{ ' best' if c.best }}">{{ c.median }}
          {%- if c.interval %}<span class="ci">{{ c.interval }}</span>{% endif %}</td>
        {% endfor %}
      </tr>
    {% endfor %}
    {% for b in baseline_rows %}
      <tr class="baseline">
        <td>baseline: {{ b.name }}</td><td class="num">–</td>
        {% for c in b.cells %}<td class="num">{{ c }}</td>{% endfor %}
      </tr>
    {% endfor %}
    </tbody>
  </table></div>
</section>

<section id="losses">
  <h2>Training</h2>
  <figure>
    <img src="{{ figures.losses }}"
         alt="Training and validation loss per epoch for each activation">
    <figcaption>Mean squared error on the scaled data, per epoch, median over seeds with the
    band holding the middle 80%. {{ config.epochs }} epochs{% if config.patience %}, early
    stopping after {{ config.patience }} epochs without improvement{% endif %}.</figcaption>
  </figure>
</section>

<section id="activations">
  <h2>The activations</h2>
  {% if figures.activations is defined %}
  <figure>
    <img src="{{ figures.activations }}" alt="Each activation function and its derivative">
    <figcaption>Inside the LSTM the activation shapes the candidate cell value and the cell
    state on its way out; the gates keep the sigmoid.</figcaption>
  </figure>
  {% else %}
  <p>The activation curves could not be drawn: none of {{ activations|join(", ") }} was
  found in <code>relulab.activations</code>.</p>
  {% endif %}
</section>

<section id="warnings">
  <h2>Warnings</h2>
  {% if r.warnings or diverged %}
  <ul class="warnings">
  {% for a, seeds in diverged %}
    <li><b>{{ a }}</b>: {{ seeds|length }} run{{ "s" if seeds|length > 1 }} diverged
    (seed{{ "s" if seeds|length > 1 }} {{ seeds|join(", ") }}); left out of the metrics
    and figures.</li>
  {% endfor %}
  {% for w in r.warnings %}
    <li>{{ w }}</li>
  {% endfor %}
  </ul>
  {% else %}
  <p class="ok">None: every run converged.</p>
  {% endif %}
</section>
</main>

<footer>
  {% if timing %}{{ timing|join(" · ") }}.<br>{% endif %}
  Generated by relulab {{ version }}
  {%- if r.study_id %} from study <span class="mono">{{ r.study_id }}</span>{% endif %};
  data hash <span class="mono">{{ r.data_hash or "–" }}</span>.
</footer>
</body>
</html>
"""
