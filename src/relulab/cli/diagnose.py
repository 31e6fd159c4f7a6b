"""`relulab diagnose ...`: diagnostics that need no data, such as `born-dead`.

A thin shell: the numbers come from :mod:`relulab.dying`, the page from
:mod:`relulab.report.born_dead_page`; this module parses the flags, shows a progress bar and a
table, and says what it wrote. JAX is imported inside the command so that ``relulab --help``
starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from relulab.cli.terminal import console, isatty
from relulab.config import INITS

# Light copies of relulab.dying's defaults (that module imports JAX); a test keeps them equal.
DEFAULT_WIDTHS = "2,3,4,5"
DEFAULT_DEPTHS = "1-30"
DEFAULT_INITS = "he_normal,glorot_uniform,rai"
DEFAULT_NETWORKS = 10_000
# ... and of relulab.dying.experiment's (the cause-and-cure experiment).
EXPERIMENT_DEPTHS = "1,2,4,8"
EXPERIMENT_WIDTHS = "8"
EXPERIMENT_LEARNING_RATES = "1e-3,1e-2,1e-1"
EXPERIMENT_INITS = "glorot_uniform,he_normal,rai"
EXPERIMENT_ACTIVATIONS = "relu,leaky_relu,prelu,elu,selu,gelu,silu"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``relulab diagnose`` (the cause-and-cure experiment) and ``relulab diagnose
    born-dead``."""
    parser = sub.add_parser(
        "diagnose",
        help="dying units: which settings kill them and what cures them; born-dead networks",
        description="Train MLP forecasters of a real series (default: the bundled sunspots) "
        "over a grid of depth, width, learning rate, initialiser and activation, several "
        "seeds per cell, and report the share of hidden units dead (exactly 0 on every "
        "training sample) and dormant, and the test RMSE, per cell with bootstrap "
        "intervals, in words and as a heatmap. `relulab diagnose born-dead` measures how "
        "often ReLU networks are dead before training starts.",
        epilog="example: relulab diagnose --depths 2,8 --learning-rates 1e-3,1e-1 "
        "--report diagnose.html",
    )
    parser.add_argument("--depths", type=_int_list, default=EXPERIMENT_DEPTHS,
                        metavar="L,...", help=f"hidden layers (default {EXPERIMENT_DEPTHS})")
    parser.add_argument("--widths", type=_int_list, default=EXPERIMENT_WIDTHS,
                        metavar="N,...", help=f"units per layer (default {EXPERIMENT_WIDTHS})")
    parser.add_argument("--learning-rates", type=_float_list, default=EXPERIMENT_LEARNING_RATES,
                        metavar="X,...", help=f"Adam learning rates (default "
                        f"{EXPERIMENT_LEARNING_RATES})")
    parser.add_argument("--inits", type=_name_list, default=EXPERIMENT_INITS,
                        metavar="NAME,...", help=f"initialisers among {', '.join(INITS)} "
                        f"(default {EXPERIMENT_INITS})")
    parser.add_argument("--activations", type=_activation_list,
                        default=EXPERIMENT_ACTIVATIONS, metavar="A,...",
                        help=f"activations (default {EXPERIMENT_ACTIVATIONS})")
    parser.add_argument("--seeds", type=_positive_int, default=5, help="seeds per cell (5)")
    parser.add_argument("--epochs", type=_positive_int, default=100, help="epochs (100)")
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="batch size (16)")
    data = parser.add_argument_group("series (default: the bundled yearly sunspots)")
    data.add_argument("--data", metavar="FILE", help="a CSV with the series")
    data.add_argument("--column", metavar="C", help="value column of the CSV")
    data.add_argument("--date-column", metavar="D", help="date column of the CSV")
    data.add_argument("--date-format", metavar="FMT",
                       help="how the dates are written, in strftime's codes (e.g. %%d/%%m/%%Y); "
                       "by default the one format every date of the column fits")
    data.add_argument("--bundled", metavar="NAME", help="sunspots | nile")
    data.add_argument("--dataset", metavar="NAME", help="hotel-h1 | hotel-h2")
    data.add_argument("--data-file", metavar="FILE", help="with --dataset: a local copy")
    parser.add_argument("--json", metavar="FILE", help="write one record per cell as JSON")
    parser.add_argument("--report", metavar="FILE", help="write a self-contained HTML page")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_experiment)
    commands = parser.add_subparsers(dest="diagnose_command", metavar="SUBCOMMAND")

    p = commands.add_parser(
        "born-dead",
        help="the probability that a ReLU network is dead at initialisation, by width and depth",
        description="Estimate, for each width, depth and initialiser, the share of freshly "
        "initialised ReLU networks that are born dead: some hidden layer outputs zero for "
        "every input of a sample, so training cannot start (Lu, Shin, Su & Karniadakis 2020, "
        "arXiv:1903.06733). Symmetric initialisations die with certainty as depth grows; "
        "their randomized asymmetric initialisation (rai) holds the curve down.",
        epilog="example: relulab diagnose born-dead --widths 2,3 --depths 1-20 "
        "--report born-dead.html",
    )
    p.add_argument("--widths", type=_int_list, default=DEFAULT_WIDTHS, metavar="N,...",
                   help=f"units per hidden layer (default {DEFAULT_WIDTHS})")
    p.add_argument("--depths", type=_int_list, default=DEFAULT_DEPTHS, metavar="L,...",
                   help=f"hidden layers; ranges allowed, e.g. 1-10,15,20 (default "
                   f"{DEFAULT_DEPTHS})")
    p.add_argument("--inits", type=_name_list, default=DEFAULT_INITS, metavar="NAME,...",
                   help=f"initialisers among {', '.join(INITS)} (default {DEFAULT_INITS})")
    p.add_argument("--networks", type=_positive_int, default=DEFAULT_NETWORKS, metavar="M",
                   help=f"networks per width and initialiser (default {DEFAULT_NETWORKS:,})")
    p.add_argument("--input-dim", type=_positive_int, default=1, metavar="D",
                   help="input features (default 1, as in the paper's examples)")
    p.add_argument("--inputs", type=_positive_int, default=100, metavar="K",
                   help="points of each network's sample, uniform on [-1, 1]^D (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="level of the Wilson intervals (default 0.95)")
    p.add_argument("--json", metavar="FILE", help="write one record per cell as JSON")
    p.add_argument("--report", metavar="FILE", help="write a self-contained HTML page")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_born_dead)


def cmd_experiment(args: argparse.Namespace) -> int:
    from relulab.data import DataSource
    from relulab.dying.experiment import ExperimentSpec, run_experiment, verdicts

    spec = ExperimentSpec(depths=args.depths, widths=args.widths,
                          learning_rates=args.learning_rates, inits=args.inits,
                          activations=args.activations, seeds=args.seeds, epochs=args.epochs,
                          batch_size=args.batch_size)
    if any((args.data, args.bundled, args.dataset, args.data_file)):
        source = DataSource.from_flags(data=args.data, dataset=args.dataset,
                                       bundled=args.bundled, data_file=args.data_file,
                                       column=args.column, date_column=args.date_column,
                                   date_format=args.date_format)
    else:
        source = DataSource("bundled", name="sunspots")
    series = source.load()
    out = console()
    with _Progress(quiet=args.quiet, label="diagnose: programs") as progress:
        experiment = run_experiment(spec, series, progress=progress)
    out.print(_experiment_table(experiment))
    for line in verdicts(experiment):
        out.print(f"- {line}", markup=False, highlight=False)
    from relulab.report.experiment_page import write_experiment

    _write_outputs(out, args, experiment.to_json(), lambda path: write_experiment(
        experiment, path), indent=1)
    return 0


def _experiment_table(experiment: Any):
    """Dead units (dormant in brackets) per activation and depth, at the highest learning
    rate and the first initialiser and width: the corner where units die most."""
    from rich import box
    from rich.table import Table

    from relulab import display

    spec = experiment.spec
    lr, init, width = max(spec.learning_rates), spec.inits[0], spec.widths[0]
    table = Table(title=f"Units dead (dormant), {experiment.series_name}",
                  title_justify="left",
                  caption=f"Median over {spec.seeds} seeds at the kept epoch; width {width}, "
                  f"{init}, lr {lr:g}. Every one of the {len(experiment.cells)} cells, with "
                  f"intervals: --json, --report. {display.seconds(experiment.seconds)}.",
                  caption_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("activation")
    for depth in spec.depths:
        table.add_column(f"depth {depth}", justify="right")
    for act in spec.activations:
        cells = []
        for depth in spec.depths:
            c = experiment.cell(depth, width, lr, init, act)
            cells.append(f"{display.percent(c.dead_share)} ({display.percent(c.dormant_share)})"
                         if c.seeds else "diverged")
        table.add_row(act, *cells)
    return table


def cmd_born_dead(args: argparse.Namespace) -> int:
    from relulab.dying import BornDeadSpec, estimate_born_dead

    spec = BornDeadSpec(widths=args.widths, depths=args.depths, inits=args.inits,
                        networks=args.networks, input_dim=args.input_dim, inputs=args.inputs,
                        seed=args.seed, confidence=args.confidence)
    out = console()
    with _Progress(quiet=args.quiet) as progress:
        result = estimate_born_dead(spec, progress=progress)
    out.print(_table(result))
    from relulab.report.born_dead_page import findings

    for line in findings(result):
        out.print(line, markup=False, highlight=False)
    from relulab.report.born_dead_page import write_born_dead

    _write_outputs(out, args, result.to_json(), lambda path: write_born_dead(result, path),
                   indent=2)
    return 0


def _write_outputs(out: Any, args: argparse.Namespace, doc: dict[str, Any],
                   write_report: Any, indent: int) -> None:
    """The JSON (``--json``) and the page (``--report``) a diagnose command was asked for,
    and a line saying where each went."""
    from relulab.files import write_text

    written = []
    if args.json:
        written.append(("JSON", write_text(args.json, json.dumps(doc, indent=indent) + "\n",
                                           what="the JSON",
                                           fix="choose another path with --json")))
    if args.report:
        written.append(("Report", write_report(args.report)))
    for what, path in written:
        out.print(f"{what} written to {path}", markup=False, highlight=False)


def _table(result: Any):
    from rich import box
    from rich.table import Table

    from relulab.report.born_dead_page import share

    spec = result.spec
    widths = sorted(spec.widths)
    table = Table(
        title=f"Share of ReLU networks born dead ({spec.networks:,} per cell; "
        f"{spec.inputs} inputs uniform on [-1, 1]^{spec.input_dim}; seed {spec.seed})",
        title_justify="left",
        caption=f"born dead: some hidden layer outputs 0 on every input. {spec.confidence:.0%} "
        "Wilson intervals are in --json and --report; the widest here is ±"
        f"{max((c.high - c.low) / 2 for c in result.cells):.1%}. "
        f"{result.timing.get('wall_s', 0):.1f} s.",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("depth", justify="right")
    for width in widths:
        for i, name in enumerate(spec.inits):
            table.add_column(f"w={width}\n{name}" if i == 0 else f"\n{name}", justify="right")
    for depth in sorted(spec.depths):
        table.add_row(str(depth), *(share(result.cell(w, depth, n).born_dead)
                                    for w in widths for n in spec.inits))
    return table


class _Progress:
    """A rich progress bar over cells, silent when --quiet or stderr is not a terminal."""

    def __init__(self, quiet: bool, label: str = "born dead: cells") -> None:
        self.label = label
        self.enabled = not quiet and isatty(sys.stderr)
        self.bar = None
        self.task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(TextColumn(self.label), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=console(stderr=True), transient=True)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task("cells", total=total)
        self.bar.update(self.task, completed=done)


# ------------------------------------------------------------------------------- parsing


def _int_list(text: str) -> tuple[int, ...]:
    """``2,3,5`` or ``1-10,15``: positive integers, ranges inclusive."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            if dash:
                a, b = int(low), int(high)
                if b < a:
                    raise argparse.ArgumentTypeError(f"range {part!r} runs backwards; write "
                                                     f"{b}-{a}")
                values.extend(range(a, b + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a list of whole numbers; write e.g. 2,3,4 or 1-20"
            ) from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be at least 1")
    return tuple(dict.fromkeys(values))


def _name_list(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in INITS]
    if unknown or not names:
        problem = f"unknown initialiser {unknown[0]!r}" if unknown else "no initialiser named"
        raise argparse.ArgumentTypeError(f"{problem}; choose among {', '.join(INITS)}")
    return names


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(dict.fromkeys(float(v) for v in text.split(",") if v.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers; write e.g. "
                                         "1e-3,1e-2") from None
    if not values or any(not (v > 0 and v < float("inf")) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: learning rates must be positive numbers")
    return values


def _activation_list(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise argparse.ArgumentTypeError("no activation named; write e.g. relu,leaky_relu")
    return names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


