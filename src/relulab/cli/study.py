"""`relulab study ...` and `relulab demo`: run a study, show the evidence, keep the results."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from relulab.config import DEMO_ACTIVATIONS, MODELS, PRESETS, StudyConfig, preset
from relulab.errors import RelulabError

DEFAULT_DB = "relulab.db"  # = relulab.store.DEFAULT_PATH (tested), kept literal for a light import
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
    p.add_argument("--data-file", metavar="FILE",
                   help="with --dataset: a local H1.csv/H2.csv or hotel_bookings.csv")
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
    g.add_argument("--seeds", type=int)
    g.add_argument("--seed-offset", type=int)
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--units", type=int)
    g.add_argument("--layers", type=int)
    g.add_argument("--lookback", type=int)
    g.add_argument("--test-size", type=int)
    g.add_argument("--validation-split", type=float)
    g.add_argument("--patience", type=int, help="early stopping on validation loss")
    g.add_argument("--season", type=int, help="seasonal period (seasonal naive, MASE)")
    g.add_argument("--folds", type=int, help="rolling-origin folds (default 1)")
    g.add_argument("--name", help="a label for this study")


def _add_output_options(p: argparse.ArgumentParser, report_default: str | None = None) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--json", metavar="FILE", help="write the full result as JSON")
    g.add_argument("--db", metavar="PATH", default=DEFAULT_DB,
                   help=f"results database (default ./{DEFAULT_DB})")
    g.add_argument("--no-db", action="store_true", help="keep nothing on disk")
    g.add_argument("--report", metavar="FILE", default=report_default,
                   help="write a self-contained HTML report")
    g.add_argument("--figures", metavar="DIR", help="also write the figures as PNG files")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


_CONFIG_FLAGS = ("model", "reference", "recurrent_activation", "seeds", "seed_offset", "epochs",
                 "batch_size", "learning_rate", "units", "layers", "lookback", "test_size",
                 "validation_split", "patience", "season", "folds", "name")


def config_from_args(args: argparse.Namespace) -> StudyConfig:
    overrides: dict[str, Any] = {
        k: getattr(args, k) for k in _CONFIG_FLAGS if getattr(args, k, None) is not None
    }
    if getattr(args, "activations", None):
        names = tuple(a.strip() for a in args.activations.split(",") if a.strip())
        overrides["activations"] = names
    return preset(args.preset, **overrides)


def load_input(args: argparse.Namespace):
    from relulab import data

    if args.dataset:
        if args.data and args.data_file and args.data != args.data_file:
            raise RelulabError(f"--data {args.data} and --data-file {args.data_file} both name "
                               f"the local copy of {args.dataset}; pass one of them")
        return data.load_dataset(args.dataset, data=args.data_file or args.data)
    if args.data_file:
        raise RelulabError("--data-file is the local copy of a --dataset; add --dataset "
                           "hotel-h1|hotel-h2, or pass a plain series CSV with --data")
    if args.data and args.bundled:
        raise RelulabError("--data and --bundled both name a series; pass one of them")
    if args.data:
        return data.load_series(args.data, column=args.column, date_column=args.date_column)
    if args.bundled:
        return data.bundled(args.bundled)
    raise RelulabError("no series given; pass --data FILE, --dataset NAME or --bundled NAME")


def _source(args: argparse.Namespace) -> dict[str, Any]:
    """The config's record of where the series came from (relulab.data.load_source)."""
    if args.dataset:
        local = args.data_file or args.data
        return {"data": f"dataset:{args.dataset}" + (f":{local}" if local else "")}
    if args.bundled:
        return {"data": f"bundled:{args.bundled}"}
    return {"data": args.data, "column": args.column, "date_column": args.date_column}


def _cmd_study(args: argparse.Namespace) -> int:
    series = load_input(args)
    config = config_from_args(args).replace(**_source(args))
    return run_and_show(config, series, args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from relulab import data

    overrides: dict[str, Any] = {"activations": DEMO_ACTIVATIONS, "seeds": args.seeds,
                                 "name": "demo", "data": "bundled:sunspots"}
    if args.epochs:
        overrides["epochs"] = args.epochs
    config = preset("seed", **overrides)
    series = data.bundled("sunspots")
    return run_and_show(config, series, args)


def run_and_show(config: StudyConfig, series: Any, args: argparse.Namespace) -> int:
    from rich.console import Console

    from relulab.study import Study
    from relulab.training import enable_compilation_cache

    enable_compilation_cache()

    # In a pipe or a log, rich would assume 80 columns and squeeze the tables; give them room.
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    err = Console(stderr=True)
    study = Study(config, series)
    store = None
    if not args.no_db:
        from relulab.store import Store

        store = Store(args.db)
    try:
        # The study's warnings (diverged runs, ...) are in result.warnings and shown with the
        # table; Python's own warning format (file, line, source) has no place in the output.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with _progress(err, quiet=args.quiet) as progress:
                result = study.run(store=store, progress=progress)
    finally:
        if store is not None:
            store.close()
    for w in caught:
        if str(w.message) not in result.warnings:
            print(f"relulab: warning: {w.message}", file=sys.stderr)

    from relulab.cli.render import show_result

    show_result(console, result)
    kept = (f"; the results are stored in {args.db} as study {result.study_id}"
            if store is not None else "")
    if args.json:
        _write(Path(args.json), json.dumps(result.to_json(), indent=1, allow_nan=False),
               "the JSON", kept)
        console.print(f"JSON written to {args.json}", markup=False, highlight=False)
    if args.figures:
        from relulab.figures import save_figures

        try:
            paths = save_figures(result, args.figures)
        except OSError as exc:
            raise RelulabError(f"cannot write the figures to {args.figures} "
                               f"({exc.strerror or exc}); choose a writable folder{kept}"
                               ) from None
        console.print(f"{len(paths)} figures written to {args.figures}/", markup=False,
                      highlight=False)
    if args.report:
        from relulab.report import write_report

        path = write_report(result, args.report)
        console.print(f"Report written to {path} (open it in a browser)", markup=False,
                      highlight=False)
    if store is not None:
        console.print(f"Results stored in {args.db} as study {result.study_id} "
                      f"(relulab runs show {result.study_id})")
    return 0


def _write(path: Path, text: str, what: str, kept: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RelulabError(f"cannot write {what} to {path} ({exc.strerror or exc}); choose a "
                           f"writable path{kept}") from None


class _progress:
    """A rich progress bar over activation groups, with an ETA; silent when --quiet or
    when stderr is not a terminal (logs and pipes stay clean)."""

    def __init__(self, console: Any, quiet: bool) -> None:
        self.console = console
        self.enabled = not quiet and console.is_terminal
        self.bar = None
        self.task = None

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

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "start" and info.get("cached"):
            print(f"resuming: {info['cached']} activation group(s) already in the database",
                  file=sys.stderr)
        if self.bar is None:
            return
        if event == "start":
            self.task = self.bar.add_task("training", total=max(info["groups"], 1))
            if not info["groups"]:
                self.bar.update(self.task, completed=1)
        elif event == "compile":
            self.bar.update(self.task, description=f"compiling {len(info['activations'])} "
                            "training programs")
        elif event == "group_start":
            fold = f" fold {info['fold'] + 1}" if info.get("fold") else ""
            self.bar.update(self.task, description=f"training {info['activation']}{fold}")
        elif event == "group_done":
            self.bar.advance(self.task)
        elif event == "analysis":
            self.bar.update(self.task, description="statistics and baselines")
        elif event == "done":
            self.bar.update(self.task, description="done")
