"""`relulab study ...` and `relulab demo`: run a study, show the evidence, keep the results."""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from relulab.cli import terminal
from relulab.config import (
    BASELINE_SETS,
    DEMO_ACTIVATIONS,
    INITS,
    MODELS,
    PRESETS,
    StudyConfig,
    preset,
)
from relulab.errors import RelulabError
from relulab.paths import DEFAULT_DB

DEMO_REPORT = "relulab-report.html"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study",
        help="train many seeds × activations on a series and compare them",
        description="Train every activation over many seeds on one series, score the "
        "forecasts, compare each activation with the reference, and say what the "
        "evidence shows. Results go to a SQLite database; rerunning the same command "
        "resumes an interrupted study.",
    )
    # --data may join --dataset (a local copy of it, as the data module's offline advice
    # says), so it sits outside the group; load_input checks the combinations.
    p.add_argument("--data", metavar="FILE",
                   help="a CSV with the series (one value column); with --dataset, a local "
                   "copy of that data set (same as --data-file)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", metavar="NAME",
                     help="hotel-h1 | hotel-h2 (raw hotel bookings, aggregated to weeks; "
                     "combine with --data-file for a local copy)")
    src.add_argument("--bundled", metavar="NAME",
                     help="a series that ships with the install: sunspots")
    p.add_argument("--column", metavar="C", help="value column of the CSV")
    p.add_argument("--date-column", metavar="D", help="date column of the CSV")
    p.add_argument("--date-format", metavar="FMT",
                   help="how the dates are written, in strftime's codes (e.g. %%d/%%m/%%Y); "
                   "by default the one format every date of the column fits")
    p.add_argument("--data-file", metavar="FILE",
                   help="with --dataset: a local H1.csv/H2.csv or hotel_bookings.csv")
    pg = p.add_argument_group("panel (many series: the same study on each, pooled)")
    pg.add_argument("--panel", metavar="FILE",
                    help="a CSV of many series, long (id, date, value) or wide (one column "
                    "per series)")
    pg.add_argument("--id-column", metavar="C", help="long panel: the series id column")
    pg.add_argument("--columns", metavar="A,B,...|all",
                    help="wide panel: the series columns (default all)")
    pg.add_argument("--series", type=int, metavar="N", help="the first N series only")
    pg.add_argument("--series-ids", metavar="A,B,...", help="these series only")
    tg = p.add_argument_group("table (relulab's MLP on your tabular data: a classification "
                              "or a regression instead of a forecast)")
    tg.add_argument("--table", metavar="FILE",
                    help="a CSV with one row per example: feature columns (numbers, or text "
                    "categories, one-hot encoded) and the --target column; relulab's MLP "
                    "(2 x 32 units, up to 200 epochs, early stopping after 10)")
    tg.add_argument("--target", metavar="COLUMN", help="the column to predict")
    tg.add_argument("--task", metavar="classification|regression",
                    help="what the target is: classes, or numbers")
    tg.add_argument("--test-fraction", type=float, metavar="F",
                    help="share of rows held out for the test (default 0.2; stratified by "
                    "class for a classification, seeded)")
    tg.add_argument("--optimizer", metavar="adam|adamw|sgd", help="(default adam)")
    _add_config_options(p)
    _add_output_options(p)
    p.set_defaults(func=_cmd_study)

    d = sub.add_parser(
        "demo",
        help="the reference study on a bundled series (no download)",
        description="The seed preset of PROTOCOL.md on the yearly sunspot numbers that ship "
        f"with statsmodels: {', '.join(DEMO_ACTIVATIONS)}, 10 seeds; writes an HTML report.",
    )
    d.add_argument("--seeds", type=int, default=10)
    d.add_argument("--epochs", type=int, default=None, help="override the preset's 500")
    _add_output_options(d, report_default=DEMO_REPORT)
    d.set_defaults(func=_cmd_demo)


def _add_config_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("study")
    # No argparse `choices`: a wrong name would print the whole usage block; the config
    # raises one RelulabError line naming the choices instead.
    g.add_argument("--preset", default="seed",
                   help=f"starting configuration: {', '.join(sorted(PRESETS))} (default: "
                   "seed, PROTOCOL.md's experiment)")
    g.add_argument("--model", help=f"{' | '.join(MODELS)} (default: the preset's)")
    g.add_argument("--activations", metavar="A,B,...",
                   help="comma-separated activation names (default: tanh,relu)")
    g.add_argument("--reference", metavar="A", help="compare against this one (default tanh)")
    g.add_argument("--recurrent-activation", metavar="A")
    g.add_argument("--seeds", type=_seeds, metavar="N|auto",
                   help="seeds per activation, or auto: add seeds until --target-width")
    g.add_argument("--target-width", type=float, metavar="W",
                   help="with --seeds auto: stop when every comparison's interval of the "
                   "relative RMSE difference is narrower than W (e.g. 0.05)")
    g.add_argument("--seed-batch", type=int, default=10, metavar="N",
                   help="with --seeds auto: seeds per batch (default 10)")
    g.add_argument("--max-seeds", type=int, default=100, metavar="N",
                   help="with --seeds auto: at most this many seeds (default 100)")
    g.add_argument("--seed-offset", type=int)
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--units", type=int)
    g.add_argument("--layers", type=int)
    g.add_argument("--init", metavar="NAME",
                   help=f"the MLP's hidden-layer initialiser: {', '.join(INITS)} (default "
                   "glorot_uniform, Keras'; rai: Lu et al.'s randomized asymmetric one)")
    g.add_argument("--lookback", type=int)
    g.add_argument("--test-size", type=int)
    g.add_argument("--validation-split", type=float)
    g.add_argument("--patience", type=int, help="early stopping on validation loss")
    g.add_argument("--season", type=int, help="seasonal period (seasonal naive, MASE)")
    g.add_argument("--baselines", choices=BASELINE_SETS,
                   help="protocol (the default: naive, ARIMA, seasonal naive with --season) | "
                   "field (besides: statsforecast's AutoETS and seasonal AutoARIMA, seasonal "
                   "naive, the season from --season or the dates; pip install "
                   "'relulab[forecast]')")
    g.add_argument("--scaler", metavar="NAME",
                   help="how windows are scaled: global (the protocol's min-max on the train "
                   "region; the default for one series) | window-minmax | window-standard "
                   "(the default for a --panel) | robust (each window by its own inputs, as "
                   "NeuralForecast) | diff (first differences)")
    g.add_argument("--horizon", type=int, metavar="H",
                   help="steps ahead: the test region is tiled by forecast paths of H steps, "
                   "each from the actual values before it (default 1, one-step forecasts)")
    g.add_argument("--strategy", metavar="direct|recursive",
                   help="with --horizon above 1: direct (default; one head of H outputs "
                   "trained on H-step targets) or recursive (the one-step model fed its own "
                   "forecasts)")
    g.add_argument("--global", dest="pooling", action="store_const", const="global",
                   help="with --panel: one model per activation and seed, trained on the "
                   "windows of every series pooled (each series scaled on its own), scored "
                   "per series; default: one model per series")
    g.add_argument("--compare", metavar="local,global",
                   help="with --panel: train local models and one global model, each stored, "
                   "and pool them as arms of one comparison ('relu (global)' against "
                   "'tanh (local)'); a --report or --figures gets one file per scope")
    g.add_argument("--folds", type=int, help="rolling-origin folds (default 1)")
    g.add_argument("--correction", metavar="METHOD",
                   help="adjust the p-values over the study's comparisons: holm | bonferroni "
                   "| none (default holm)")
    g.add_argument("--equivalence-margin", type=float, metavar="M",
                   help="relative RMSE difference within which two activations count as "
                   "equivalent (default 0.02, i.e. ±2%%)")
    g.add_argument("--name", help="a label for this study")
    r = p.add_argument_group("where it runs")
    r.add_argument("--executor", default="inprocess", metavar="inprocess|ray",
                   help="inprocess (default): here; ray: shards of series as Ray tasks, on the "
                   "cluster at --address or on a local Ray started for the study")
    r.add_argument("--address", metavar="ADDR",
                   help="with --executor ray: the cluster's head, e.g. HEAD:6379 (`ray start "
                   "--head` there; its token, where it uses token authentication, is read as "
                   "Ray's CLI reads it: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)."
                   " Without it, a local Ray of the study's own, whatever else runs here")
    r.add_argument("--connect-timeout", type=float, metavar="S",
                   help="with --address: give up reaching the cluster after S seconds "
                   "(default 30)")


def _add_output_options(p: argparse.ArgumentParser, report_default: str | None = None) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--json", metavar="FILE", help="write the full result as JSON")
    g.add_argument("--db", metavar="PATH", default=DEFAULT_DB,
                   help=f"results database (default ./{DEFAULT_DB})")
    g.add_argument("--no-db", action="store_true", help="keep nothing on disk")
    g.add_argument("--report", metavar="FILE", default=report_default,
                   help="write a self-contained HTML report (with --panel: the answer "
                   "pooled across series, and every series in one table)")
    g.add_argument("--figures", metavar="DIR", help="also write the figures as PNG files")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


_CONFIG_FLAGS = ("model", "reference", "recurrent_activation", "seeds", "seed_offset", "epochs",
                 "batch_size", "learning_rate", "units", "layers", "init", "lookback",
                 "test_size", "validation_split", "patience", "season", "scaler", "folds",
                 "horizon", "strategy", "pooling", "correction", "equivalence_margin",
                 "name", "baselines")


def _seeds(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number of seeds nor auto"
                                         ) from None


def config_from_args(args: argparse.Namespace) -> StudyConfig:
    overrides: dict[str, Any] = {
        k: getattr(args, k) for k in _CONFIG_FLAGS if getattr(args, k, None) is not None
    }
    if overrides.get("seeds") == "auto":
        overrides["seeds"] = args.seed_batch  # the first batch; the rest follow
    if (getattr(args, "seeds", None) == "auto") != (getattr(args, "target_width", None)
                                                    is not None):
        raise RelulabError("--seeds auto and --target-width go together: pass both, e.g. "
                           "--seeds auto --target-width 0.05, or a number of seeds alone")
    if getattr(args, "activations", None):
        names = tuple(a.strip() for a in args.activations.split(",") if a.strip())
        overrides["activations"] = names
    if getattr(args, "panel", None) and "scaler" not in overrides:
        overrides["scaler"] = PANEL_SCALER
    return preset(args.preset, **overrides)


# A panel's windows are scaled each by its own inputs unless --scaler says otherwise: on
# the shared panels (benchmarks/scalers.py, LSTM(4), tanh and relu) window-standard was
# the one scaler better than the protocol's global min-max on both: 8 of 8 US employment
# series (RMSE 0.28x global's, geometric mean) and 19 of 20 Australian tourism regions
# (0.80x). Differencing was best on the trending employment series but worse than global
# on 18 of 20 tourism regions.
PANEL_SCALER = "window-standard"


def executor_from_args(args: argparse.Namespace) -> Any:
    """The executor --executor, --address and --connect-timeout name
    (:func:`relulab.study.get_executor` decides it, once)."""
    from relulab.study.executor import get_executor

    name = (getattr(args, "executor", None) or "inprocess").strip().lower()
    address = getattr(args, "address", None)
    timeout = getattr(args, "connect_timeout", None)
    if address is not None and name != "ray":
        raise RelulabError("--address names a Ray cluster; add --executor ray, or leave "
                           "--address out")
    if timeout is not None and address is None:
        raise RelulabError("--connect-timeout bounds reaching the Ray cluster at --address; "
                           "add --executor ray --address HEAD:6379, or leave it out")
    options = {k: v for k, v in (("address", address), ("connect_timeout", timeout))
               if v is not None}
    return get_executor(name, **options)


def source_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The config's data fields from the source flags (checked by the library)."""
    from relulab.data import DataSource

    source = DataSource.from_flags(data=args.data, dataset=args.dataset,
                                   bundled=args.bundled, data_file=args.data_file,
                                   column=args.column, date_column=args.date_column,
                                   date_format=args.date_format)
    return source.config_fields()


def _cmd_study(args: argparse.Namespace) -> int:
    if args.table:
        return _cmd_table(args)
    if args.target or args.task or args.test_fraction is not None or args.optimizer:
        raise RelulabError("--target, --task, --test-fraction and --optimizer describe a "
                           "--table FILE; add --table, or leave them out")
    if args.panel:
        return _cmd_panel(args)
    if args.id_column or args.columns or args.series is not None or args.series_ids:
        raise RelulabError("--id-column, --columns, --series and --series-ids choose the "
                           "series of a --panel FILE; add --panel, or leave them out")
    config = config_from_args(args).replace(**source_fields(args))
    return run_and_show(config, args)


def _cmd_panel(args: argparse.Namespace) -> int:
    """`relulab study --panel FILE`: every series, then the pooled answer."""

    from relulab.data import DataSource
    from relulab.study import run_panel_study
    from relulab.study.outputs import check_outputs

    if args.data or args.dataset or args.bundled or args.data_file:
        raise RelulabError("--panel names the series; drop --data, --dataset and --bundled")
    if getattr(args, "target_width", None) is not None:
        raise RelulabError("--seeds auto studies one series; for a panel pass a number of "
                           "seeds")
    executor = executor_from_args(args)
    outputs = outputs_from_args(args)
    check_outputs(outputs)  # before a large file is read, not only before training
    columns = None if args.columns in (None, "all") else [
        c.strip() for c in args.columns.split(",") if c.strip()]
    ids = [i.strip() for i in args.series_ids.split(",")] if args.series_ids else None
    source = DataSource("panel", path=args.panel, column=args.column,
                        date_column=args.date_column, date_format=args.date_format)
    with _reading(terminal.console(stderr=True), args.panel, quiet=args.quiet) as reading:
        panel = source.load_panel(id_column=args.id_column, columns=columns,
                                  series=args.series, series_ids=ids, progress=reading)
    config = config_from_args(args).replace(**source.config_fields())
    console = terminal.console()
    if args.compare is not None:
        return _compare_scopes(args, config, panel, outputs, executor, console)
    with _progress(terminal.console(stderr=True), quiet=args.quiet) as progress:
        result, written = run_panel_study(config, panel, outputs=outputs, progress=progress,
                                          executor=executor)
    _show_panel(console, args, config, result)
    _say_written(console, outputs, written,
                 f"Results stored in {written.db}, one study per series (relulab runs list; "
                 "relulab report STUDY_ID for one series' report)")
    return 0


def _compare_scopes(args: argparse.Namespace, config: StudyConfig, panel: Any, outputs: Any,
                    executor: Any, console: Any) -> int:
    """`relulab study --panel FILE --compare local,global`: both scopes, then pooled."""
    from relulab.study import run_panel_comparison

    scopes = tuple(s.strip() for s in args.compare.split(",") if s.strip())
    if sorted(scopes) != ["global", "local"]:
        raise RelulabError(f"--compare takes local,global, got {args.compare!r}")
    if config.pooling == "global":
        raise RelulabError("--compare local,global trains both scopes; leave --global out")
    with _progress(terminal.console(stderr=True), quiet=args.quiet) as progress:
        results, compared, written = run_panel_comparison(
            config, panel, scopes, outputs=outputs, progress=progress, executor=executor)
    for result in results.values():
        _show_panel(console, args, result.config, result)
    if compared is not None:
        _show_pooled(console, compared, "Local and global models as arms")
    say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
    for k, w in enumerate(written):
        if w.report is not None:
            what = "the comparison; " if k == len(results) else ""
            say(f"Report written to {w.report} ({what}open it in a browser)")
        if w.figures:
            say(f"{len(w.figures)} figures written to {w.figures[0].parent}/")
    if written and written[-1].json is not None:
        say(f"JSON written to {written[-1].json}")
    if outputs.db is not None:
        say(f"Results stored in {outputs.db}, one study per series and scope (relulab runs "
            "list)")
    return 0


def _show_pooled(console: Any, pooled: Any, what: str) -> None:
    """A pooled answer's table and its words."""
    from rich.markup import escape
    from rich.table import Table

    from relulab import display

    table = Table(title=f"{what}: across {pooled.series} series, median test RMSE per "
                  "series, ranked (1 = best)", title_justify="left")
    for name in ("activation", "mean rank", f"beats {pooled.reference}", "share"):
        table.add_column(name, justify="left" if name == "activation" else "right")
    for a in sorted(pooled.activations, key=lambda a: a.mean_rank):
        beats = "–" if a.activation == pooled.reference else f"{a.wins:g}/{a.series}"
        share = ("–" if a.activation == pooled.reference else
                 f"{display.percent(a.win_share)} "
                 f"{display.interval(a.win_low, a.win_high, display.percent)}")
        table.add_row(escape(a.activation),
                      f"{a.mean_rank:.2f} [{a.rank_low:.2f}, {a.rank_high:.2f}]",
                      beats, share)
    console.print(table)
    for line in pooled.words:
        console.print(f"  {escape(line)}", highlight=False)


def _show_panel(console: Any, args: argparse.Namespace, config: StudyConfig,
                result: Any) -> None:
    """A panel's result in the terminal: what was trained, the pooled answer, the series
    where the activations differ most, the warnings."""
    from rich.markup import escape

    from relulab import display

    scope = ("one global " if config.pooling == "global" else "")
    paths = (f", {config.horizon}-step paths ({config.strategy})" if config.horizon > 1
             else "")
    console.print(f"[bold]{escape(str(args.panel))}[/bold]: {len(result.series)} series, "
                  f"{scope}model {config.model.upper()}({config.units}) × {config.layers}, "
                  f"{config.epochs} epochs, {config.seeds} seeds per activation{paths}")
    if result.pooled is not None:
        _show_pooled(console, result.pooled, "Activations")
    if (baselines := result.baseline_words()):
        console.print(f"  {escape(baselines)}", highlight=False)
    if (steps := [s for s in result.by_step() if s.name != "naive"]):
        from rich.table import Table

        table = Table(title="RMSE by steps ahead over the naive path's (geometric mean over "
                      "series; activations: median over seeds)", title_justify="left")
        table.add_column("")
        for h in range(1, config.horizon + 1):
            table.add_column(f"h={h}", justify="right")
        for s in steps:
            label = f"[dim]{escape(s.name)} (baseline)[/dim]" if s.baseline else escape(s.name)
            table.add_row(label, *[f"{v:.2f}" if display.finite(v) else display.MISSING
                                   for v in s.ratio_to_naive])
        console.print(table)
    spread = result.spread().head(5)
    if len(spread):
        console.print("Series where the activations differ most (worst / best median RMSE):")
        best = result.scores().idxmin(axis=1)
        for sid, v in spread.items():
            console.print(f"  {escape(str(sid))}: {display.percent(v, 1)} apart; best "
                          f"{escape(str(best[sid]))}", highlight=False)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(w)}", highlight=False)


def _cmd_demo(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"activations": DEMO_ACTIVATIONS, "seeds": args.seeds,
                                 "name": "demo", "data": "bundled:sunspots"}
    if args.epochs:
        overrides["epochs"] = args.epochs
    return run_and_show(preset("seed", **overrides), args)


# A table's study: relulab's MLP, two hidden layers of 32, at most 200 epochs of Adam in
# batches of 32, stopped 10 epochs after the validation loss last improved (best weights
# kept): the --table defaults; every flag of the study group but the forecast's overrides
# them.
TABLE_DEFAULTS: dict[str, Any] = dict(
    model="mlp", units=32, layers=2, epochs=200, patience=10, batch_size=32,
    learning_rate=1e-3,
    activations=("relu", "leaky_relu", "gelu", "silu"), reference="relu", seeds=10)
_FORECAST_FLAGS = ("lookback", "test_size", "season", "scaler", "folds", "horizon", "strategy",
                   "pooling", "recurrent_activation", "target_width", "baselines")


def table_config(args: argparse.Namespace) -> StudyConfig:
    """The config of `relulab study --table`: TABLE_DEFAULTS, then the flags given."""
    given = [f"--{k.replace('_', '-')}" for k in _FORECAST_FLAGS
             if getattr(args, k, None) is not None]
    if given:
        raise RelulabError(f"{', '.join(given)} shape a forecast; a --table study has no "
                           "windows or folds: leave them out")
    if args.model not in (None, "mlp"):
        raise RelulabError("a --table study trains relulab's MLP; leave --model out (for your "
                           "own model use relulab.torch.study or relulab.keras.study)")
    if not args.target or not args.task:
        raise RelulabError("--table needs --target COLUMN and --task classification or "
                           "--task regression")
    fields: dict[str, Any] = {**TABLE_DEFAULTS, "task": args.task.strip().lower(),
                              "data": args.table, "column": args.target}
    fields.update({k: getattr(args, k) for k in _CONFIG_FLAGS
                   if getattr(args, k, None) is not None and k != "model"})
    for k in ("test_fraction", "optimizer"):
        if getattr(args, k, None) is not None:
            fields[k] = getattr(args, k)
    if getattr(args, "activations", None):
        fields["activations"] = tuple(a.strip() for a in args.activations.split(",")
                                      if a.strip())
        if args.reference is None and TABLE_DEFAULTS["reference"] not in fields["activations"]:
            fields["reference"] = fields["activations"][0]
    if fields.get("seeds") == "auto":
        raise RelulabError("--seeds auto studies a forecast; for a --table pass a number of "
                           "seeds")
    return StudyConfig(**fields)


def _mlp(data: Any, config: StudyConfig) -> dict[str, Any]:
    """relulab's MLP on ``data`` as an engine describes a model: its shape and size."""
    d, u, out = int(np.prod(data.input_shape)), config.units, data.classes or 1
    widths = [d, *[u] * config.layers, out]
    params = sum(a * b + b for a, b in itertools.pairwise(widths))
    return {"framework": "jax", "parameters": params,
            "model": f"MLP {' → '.join(map(str, widths))} ({config.init})"}


def _cmd_table(args: argparse.Namespace) -> int:
    """`relulab study --table FILE --target COLUMN --task ...`."""
    from relulab.study.outputs import check_outputs
    from relulab.study.plan import check_activations
    from relulab.study.task_study import describe, run_task_study
    from relulab.table import load_table
    from relulab.tabular import TabularEngine

    if args.data or args.dataset or args.bundled or args.data_file or args.panel:
        raise RelulabError("--table names the data; drop --data, --dataset, --bundled and "
                           "--panel")
    if args.executor not in (None, "inprocess") or args.address:
        raise RelulabError("a --table study runs in this process; leave --executor and "
                           "--address out")
    config = table_config(args)
    check_activations(config)
    outputs = outputs_from_args(args)
    check_outputs(outputs)
    data = load_table(args.table, args.target, config.task,
                      test_fraction=config.test_fraction,
                      validation_split=config.validation_split, seed=0)
    engine = TabularEngine()
    config = config.replace(model_description=describe(_mlp(data, config))
                            + (f"\n{data.description}" if data.description else ""))
    return _run_and_show(args, outputs, lambda progress: run_task_study(
        engine, data, config, db=outputs.db, report=outputs.report, json=outputs.json,
        figures=outputs.figures, progress=progress))


def run_and_show(config: StudyConfig, args: argparse.Namespace) -> int:
    """Run the study through the library and print what it found and wrote."""
    from relulab.study import run_study

    outputs = outputs_from_args(args)
    executor = executor_from_args(args)
    return _run_and_show(args, outputs, lambda progress: run_study(
        config, outputs=outputs, progress=progress,
        target_width=getattr(args, "target_width", None),
        seed_batch=getattr(args, "seed_batch", 10),
        max_seeds=getattr(args, "max_seeds", 100), executor=executor))


def outputs_from_args(args: argparse.Namespace) -> Any:
    """The files --db (or --no-db), --json, --report and --figures name."""
    from relulab.study import Outputs

    return Outputs(db=None if args.no_db else args.db, json=args.json, report=args.report,
                   figures=args.figures)


def _run_and_show(args: argparse.Namespace, outputs: Any,
                  run: Callable[[Any], tuple[Any, Any]]) -> int:
    """``run(progress)`` (a study of one series or one data set) under the progress bars,
    then its table, verdicts and the files it wrote. The study's warnings (diverged runs,
    ...) are in result.warnings and shown with the table; Python's own warning format
    (file, line, source) has no place in the output."""
    from relulab.cli.render import show_result

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _progress(terminal.console(stderr=True), quiet=args.quiet) as progress:
            result, written = run(progress)
    for w in caught:
        if str(w.message) not in result.warnings:
            print(f"relulab: warning: {w.message}", file=sys.stderr)
    console = terminal.console()
    show_result(console, result)
    _say_written(console, outputs, written,
                 f"Results stored in {written.db} as study {written.study_id} "
                 f"(relulab runs show {written.study_id})")
    return 0


def _say_written(console: Any, outputs: Any, written: Any, stored: str) -> None:
    """One line per file written, then ``stored`` when the results are in a database."""
    say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
    if written.json is not None:
        say(f"JSON written to {written.json}")
    if outputs.figures is not None:
        say(f"{len(written.figures)} figures written to {outputs.figures}/")
    if written.report is not None:
        say(f"Report written to {written.report} (open it in a browser)")
    if written.db is not None:
        say(stored)
    if written.folders:
        say(f"Created the folder{'s' if len(written.folders) > 1 else ''} "
            f"{', '.join(map(str, written.folders))}, which did not exist")


class _reading:
    """A bar over the bytes of a large panel file as it is read (silent for files under
    ``_READ_BAR_BYTES``, with --quiet, or when stderr is not a terminal)."""

    def __init__(self, console: Any, path: str, quiet: bool) -> None:
        import os

        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0  # the loader says what is wrong with the path
        self.enabled = not quiet and console.is_terminal and size >= _READ_BAR_BYTES
        self.console, self.path, self.bar, self.task = console, path, None, None

    def __enter__(self) -> _reading:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("reading {task.description}"), BarColumn(),
                                DownloadColumn(), TimeRemainingColumn(),
                                console=self.console, transient=True)
            self.bar.__enter__()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            return
        if self.task is None:
            from rich.markup import escape

            self.task = self.bar.add_task(escape(str(self.path)), total=total)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


_READ_BAR_BYTES = 20 << 20


class _progress:
    """A rich progress bar over activation groups, with an ETA; silent when --quiet or
    when stderr is not a terminal (logs and pipes stay clean). While the training programs
    compile (up to a minute for a large panel, before any group can train), a bar of its
    own counts them and names each as it is ready; the training bar appears when training
    starts, its time and ETA counted from there."""

    def __init__(self, console: Any, quiet: bool) -> None:
        self.console = console
        self.enabled = not quiet and console.is_terminal
        self.bar = None
        self.task = None
        self.compile_task = None
        self.groups = 0
        self.series_task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                TextColumn("ETA"), TimeRemainingColumn(),
                                console=self.console, transient=False)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, event: Any) -> None:
        from relulab.study import events as ev

        if isinstance(event, ev.Started) and event.cached:
            print(f"resuming: {event.cached} activation group(s) already in the database",
                  file=sys.stderr)
        if self.bar is None:
            return
        if isinstance(event, ev.Started):
            self.groups = event.groups
        elif isinstance(event, ev.Compiling | ev.Compiled):
            self._compiling(event)
        elif self.task is None:
            # Training starts: its bar, whose time and ETA would have counted the
            # compilation, appears now.
            self.task = self.bar.add_task("training", total=max(self.groups, 1))
            if not self.groups:
                self.bar.update(self.task, completed=1)
            self._training(event)
        else:
            self._training(event)

    def _compiling(self, event: Any) -> None:
        from relulab.study import events as ev

        if isinstance(event, ev.Compiling):
            self.compile_task = self.bar.add_task(f"compiling {_programs(event.programs)}",
                                                  total=event.programs)
        elif self.compile_task is not None:
            n, done = event.programs, event.done
            self.bar.update(self.compile_task, completed=done, description=(
                f"compiled {event.what}" if done < n else f"compiled {_programs(n)}"))
            if done == n:
                self.bar.stop_task(self.compile_task)

    def _training(self, event: Any) -> None:
        from relulab.study import events as ev

        match event:
            case ev.GroupStarted(activation=a, fold=fold):
                self.bar.update(self.task, description=f"training {a}"
                                f"{f' fold {fold + 1}' if fold else ''}")
            case ev.GroupDone(units=units):  # one activation on one or more series
                self.bar.advance(self.task, units)
            case ev.ShardDone(shard=k, shards=shards, units=units):  # a Ray shard at once
                self.bar.advance(self.task, units)
                self.bar.update(self.task, description=f"training on Ray: shard {k + 1} of "
                                f"{shards} done")
            case ev.SeriesDone(done=done, total=total) if total > 1:
                # A panel's second bar: series analysed and stored (each once its training
                # and its baselines are in), which the training bar runs ahead of.
                if self.series_task is None:
                    self.series_task = self.bar.add_task("series analysed", total=total)
                self.bar.update(self.series_task, completed=done)
            case ev.Analysing():
                self.bar.update(self.task, description="statistics and baselines")
            case ev.Finished():
                self.bar.update(self.task, description="done")


def _programs(n: int) -> str:
    return f"{n} training program{'s' if n != 1 else ''}"
