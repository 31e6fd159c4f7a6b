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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from relulab import __version__
from relulab.errors import RelulabError
from relulab.figures import all_figures, dead_fractions, has_dead_units, png_bytes
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
    if abs(v) < 0.05:
        return "0.0%"  # not "−0.0%": a sign on a zero reads as a direction
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
    words: str  # the verdict without the numbers the card shows next to it


def verdict_words(text: str, activation: str, reference: str) -> str:
    """The plain-words part of an engine verdict (relulab.stats.verdict):
    ``"relu vs tanh: RMSE +2% [-2%, +6%], DM p = 0.85: no evidence of a difference;
    volatility ratio 0.97 vs 0.95: similar volatility"`` becomes
    ``"No evidence of a difference; similar volatility."``. Text of another shape is
    returned whole."""
    head = f"{activation} vs {reference}: "
    if not text.startswith(head):
        return text
    body = text[len(head):].strip()
    if body.startswith("too few"):
        words = body
    else:
        clauses = body.split("; ")
        parts = [c.rsplit(": ", 1)[1] for c in clauses if ": " in c]
        if len(parts) != len(clauses) or not all(parts):
            return text
        words = "; ".join(parts)
    return words[:1].upper() + words[1:] + ("" if words.endswith(".") else ".")


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
        words=verdict_words(c.verdict, c.activation, c.reference),
    )


def _headline(verdicts: list[Verdict], reference: str, confidence: str) -> str:
    """One sentence over all comparisons, so that five cards need not be read to learn
    that none of them found anything."""
    if not verdicts:
        return ""
    metric = verdicts[0].metric
    groups: dict[str, list[str]] = {}
    for v in verdicts:
        groups.setdefault(v.badge, []).append(v.activation)
    if set(groups) == {"unclear"}:
        which = (verdicts[0].activation if len(verdicts) == 1
                 else f"any of the {len(verdicts)} activations compared")
        return (f"No clear {metric} difference from {reference} for {which}: every "
                f"{confidence} interval of the relative difference includes 0.")
    parts = []
    for badge, words in (("better", f"Lower {metric} than {reference}"),
                         ("worse", f"Higher {metric} than {reference}"),
                         ("unclear", "no clear difference"),
                         ("unknown", "too few runs to tell")):
        if groups.get(badge):
            parts.append(f"{words}: {', '.join(groups[badge])}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


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
    # The engine also words each diverged group as a warning; the list above says it once.
    said = [re.compile(rf"{re.escape(a)}: \d+ of \d+ runs? diverged") for a, _ in diverged]
    engine_warnings = [w for w in result.warnings if not any(p.match(w) for p in said)]
    flat = _flat_runs(result, activations)
    model = (f"LSTM ({config.units} units" if config.model == "lstm"
             else f"MLP ({config.units} wide") + (
        f", {config.layers} layers)" if config.layers > 1 else ")")
    seeds = config.seed_list
    figures = _embedded_figures(result)
    config_rows = [(k, _config_value(v)) for k, v in config.to_dict().items()]
    ran_with = result.relulab_version
    config_rows += [("relulab version", ran_with or f"not recorded (report: {__version__})"),
                    ("data hash", result.data_hash or "–"),
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
    timing_parts += [_timing_part(k, v) for k, v in timing.items() if _finite(v)]
    verdicts = [_verdict(c) for c in result.comparisons]
    confidence = f"{100 * config.confidence:g}%"
    n_warn = len(diverged) + len(engine_warnings) + len(flat)
    return {
        "r": result, "config": config, "n": n, "activations": activations,
        "n_test": n - result.test_start, "n_train": result.train_end,
        "n_val": result.test_start - result.train_end, "model": model,
        "seeds_text": (f"{len(seeds)} seeds ({seeds[0]}–{seeds[-1]})" if len(seeds) > 1
                       else f"1 seed ({seeds[0]})"),
        "verdicts": verdicts, "headline": _headline(verdicts, config.reference, confidence),
        "best": best, "best_rmse": fmt_num(rmse.get(best)) if best else None,
        "naive_rmse": fmt_num(naive) if _finite(naive) else None,
        "summary_rows": rows, "metrics": metrics,
        "metric_info": {m: METRIC_INFO.get(m, (m, "", "low")) for m in metrics},
        "baseline_rows": baseline_rows, "diverged": diverged, "figures": figures,
        "diverged_text": "; ".join(
            f"{a} diverged on seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"
            for a, s in diverged),
        "config_columns": [config_rows[:half], config_rows[half:]],
        "confidence": confidence, "timing": timing_parts,
        "version": __version__, "ran_with": ran_with,
        "engine_warnings": engine_warnings, "flat": flat, "n_warn": n_warn,
        "flat_text": "; ".join(
            f"{a} forecast a flat line on seed{'s' if len(items) > 1 else ''} "
            + ", ".join(str(seed) for _, seed, _ in items) for a, items in _grouped(flat)),
        "dead": has_dead_units(result), "dead_rows": _dead_rows(result, activations),
    }


TIMING_LABELS = {"train_s": "training", "model_steps": "model steps",
                 "groups_trained": "activation groups trained",
                 "groups_cached": "groups taken from the results store"}


def _timing_part(key: str, value: Any) -> str:
    label = TIMING_LABELS.get(key, key.removesuffix("_s").replace("_", " "))
    v = float(value)
    if key.endswith("_s"):
        return f"{label} {fmt_seconds(v)}"
    if v.is_integer():  # a count: "6 activation groups trained"
        return f"{int(v):,} {label}"
    return f"{label} {fmt_num(v)}"


FLAT_RATIO = 0.05  # a forecast whose spread is under 5% of the actual's is called flat


def _dead_at_kept(run: Any) -> float:
    d = np.asarray(run.epoch_stats.get("dead_fraction", []), dtype=float).ravel()
    if not d.size:
        return math.nan
    return float(d[min(max(int(run.best_epoch), 0), d.size - 1)])


def _flat_runs(result: StudyResult, activations: list[str]) -> list[tuple[str, int, str]]:
    """(activation, seed, explanation) for converged runs whose forecast is (nearly)
    constant, the signature of a model whose hidden units all died: they count in the
    metrics like any run, so the reader should know they are there."""
    out = []
    for act in activations:
        for r in result.runs:
            if r.activation != act or r.diverged:
                continue
            ratio = r.metrics.get("vol_ratio", math.nan)
            dead = _dead_at_kept(r)
            flat = _finite(ratio) and float(ratio) < FLAT_RATIO
            if not (flat or (_finite(dead) and dead >= 1.0)):
                continue
            why = ("every hidden unit is dead (its output is 0 on every training sample), "
                   "so the model forecasts a constant" if _finite(dead) and dead >= 1.0
                   else "the forecast is nearly constant")
            out.append((act, r.seed, f"{why} (volatility ratio {fmt_num(ratio)}). The run "
                        "still counts in the metrics and the comparison."))
    return out


def _grouped(items: list[tuple[str, int, str]]) -> list[tuple[str, list]]:
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(item[0], []).append(item)
    return list(groups.items())


def _dead_rows(result: StudyResult, activations: list[str]) -> list[str]:
    """Per activation that had dead units: the share at the kept epoch, in words."""
    rows = []
    for act in activations:
        runs = [r for r in result.runs if r.activation == act and not r.diverged]
        kept = np.array([_dead_at_kept(r) for r in runs])
        kept = kept[np.isfinite(kept)]
        curves = dead_fractions(result, act)
        if not kept.size or curves is None or not np.nanmax(curves, initial=0.0) > 0:
            continue
        some = int((kept > 0).sum())
        rows.append(f"{act}: {some} of {kept.size} seeds ended with dead units (median "
                    f"{100 * float(np.median(kept)):.0f}% of the hidden units, at most "
                    f"{100 * float(kept.max()):.0f}%)")
    return rows


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
.answer { font-size: 1.12rem; font-weight: 600; margin: 1.2rem 0 0.2rem; }
.cards { display: grid; gap: 0.7rem; margin: 0.8rem 0 1.1rem;
         grid-template-columns: repeat(auto-fill, minmax(262px, 1fr)); }
.card { border: 1px solid var(--rule); border-top: 5px solid var(--unclear);
        border-radius: 6px; padding: 0.65rem 0.9rem 0.7rem; background: var(--paper);
        display: flex; flex-direction: column; gap: 0.15rem; }
.card.better { border-top-color: var(--better); }
.card.worse { border-top-color: var(--worse); }
.card .pair { font-weight: 700; font-size: 1.05rem; line-height: 1.3; }
.card .pair .ref { font-weight: 400; color: var(--muted); }
.card .big { font-size: 1.45rem; font-weight: 700; line-height: 1.25;
             font-variant-numeric: tabular-nums; }
.card .ci { color: var(--muted); font-size: 0.86rem; line-height: 1.4;
            font-variant-numeric: tabular-nums; }
.card p { margin: 0.3rem 0 0; font-size: 0.93rem; line-height: 1.4; }
.card .badge { align-self: flex-start; margin: 0.1rem 0 0.15rem; }
.badge { display: inline-block; font-size: 0.74rem; font-weight: 700; padding: 0.08rem 0.5rem;
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
  {%- if r.study_id %} · study <span class="mono">{{ r.study_id }}</span>{% endif %}
  {%- if ran_with %} · ran with relulab {{ ran_with }}{% endif %}</p>
  <h1>Does the activation function matter for “{{ r.series_name }}”?</h1>
  <p class="lede">An {{ model }} was trained {{ config.seeds }} times per activation
  ({{ activations|join(", ") }}), each time from a different random seed, and asked to
  forecast the last {{ n_test }} points of the series one step ahead.
  Each activation is compared with <b>{{ config.reference }}</b> over all seeds.</p>

  {% if verdicts %}
  <p class="answer">{{ headline }}</p>
  <div class="cards" id="verdicts">
  {% for v in verdicts %}
    <div class="card {{ v.badge }}">
      <span class="pair">{{ v.activation }} <span class="ref">vs {{ v.reference }}</span></span>
      <span class="badge {{ v.badge }}">{{ v.label }}</span>
      <span class="big">{{ v.metric }} {{ v.rel }}</span>
      <span class="ci">{{ confidence }} interval {{ v.interval }}</span>
      <span class="ci">Diebold-Mariano p = {{ v.dm_p }}</span>
      <span class="ci">volatility ratio {{ v.vol }} vs {{ v.vol_ref }}</span>
      <p>{{ v.words }}</p>
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
  {% if n_warn %}
  <p class="callout">⚠ {{ n_warn }} warning{{ "s" if n_warn > 1 }}
  {%- if diverged_text or flat_text %}: {{ [diverged_text, flat_text]|select|join("; ") }}
  {%- if engine_warnings %}; and {{ engine_warnings|length }} more{% endif %}
  {%- endif %}.
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
    <figcaption>Black: the actual series, with a few points before the test window (shaded)
    for context. Colour: the median forecast over seeds at each test point, with the band
    holding the middle 80% of seeds; above each panel, the median test RMSE over seeds.
    Grey lines: baselines. A forecast flatter than the black line underestimates the
    volatility.</figcaption>
  </figure>
</section>

<section id="metrics">
  <h2>Metrics over seeds</h2>
  <figure>
    <img src="{{ figures.metrics }}"
         alt="Distribution over seeds of each test metric, per activation">
    <figcaption>One dot per seed; the box spans the middle half of the seeds and its line is
    the median. Solid grey lines are reference levels (no bias, coin-flip direction,
    naive-forecast error, equal volatility); baselines are dashed or dotted, as in the
    legend. A seed far from all the others is drawn as an arrow at the panel's edge with
    its value. Diverged runs are left out.</figcaption>
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
      <tr class="words"><td></td><td colspan="7">{{ v.words }}</td></tr>
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
  {% if dead and figures.dead_units is defined %}
  <h3>Dead hidden units</h3>
  <figure>
    <img src="{{ figures.dead_units }}"
         alt="Share of dead hidden units per epoch and per seed, for each activation">
    <figcaption>A hidden unit is dead when its output is exactly 0 on every training
    sample: it passes no gradient, so training cannot revive it. Only activations that are
    exactly 0 over a whole range (such as relu) can have them.
    {% for row in dead_rows %}{{ row }}{{ "; " if not loop.last else "." }}{% endfor %}
    </figcaption>
  </figure>
  {% elif dead == false %}
  <p>No hidden unit was dead (output exactly 0 on every training sample) at any epoch, for
  any activation.</p>
  {% endif %}
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
  {% if n_warn %}
  <ul class="warnings">
  {% for a, seeds in diverged %}
    <li><b>{{ a }}</b>: {{ seeds|length }} run{{ "s" if seeds|length > 1 }} diverged
    (seed{{ "s" if seeds|length > 1 }} {{ seeds|join(", ") }}): the loss or the forecast
    became infinite or NaN, so {{ "they are" if seeds|length > 1 else "it is" }} left out
    of the metrics, the comparison and the figures. A lower learning rate may help.</li>
  {% endfor %}
  {% for a, seed, why in flat %}
    <li><b>{{ a }}</b>, seed {{ seed }}: {{ why }}</li>
  {% endfor %}
  {% for w in engine_warnings %}
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
  Report written by relulab {{ version }}
  {%- if r.study_id %} from study <span class="mono">{{ r.study_id }}</span>{% endif %}
  {%- if ran_with %}, which ran with relulab {{ ran_with }}
  {%- else %} (the relulab version that ran it is not recorded){% endif %};
  data hash <span class="mono">{{ r.data_hash or "–" }}</span>.
</footer>
</body>
</html>
"""
