"""`relulab diagnose ...`: diagnostics that need no data, such as `born-dead`.

A thin shell: the numbers come from :mod:`relulab.dying`, the page from
:mod:`relulab.report.born_dead`; this module parses the flags, shows a progress bar and a
table, and says what it wrote. JAX is imported inside the command so that ``relulab --help``
starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from relulab.config import INITS
from relulab.errors import RelulabError

# Light copies of relulab.dying's defaults (that module imports JAX); a test keeps them equal.
DEFAULT_WIDTHS = "2,3,4,5"
DEFAULT_DEPTHS = "1-30"
DEFAULT_INITS = "he_normal,glorot_uniform,rai"
DEFAULT_NETWORKS = 10_000


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``relulab diagnose born-dead``."""
    parser = sub.add_parser(
        "diagnose",
        help="diagnostics without data: how often ReLU networks are born dead",
        description="Diagnostics that need no data.",
    )
    parser.set_defaults(func=lambda args: _print_help(parser))
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


def cmd_born_dead(args: argparse.Namespace) -> int:
    from relulab.dying import BornDeadSpec, estimate_born_dead

    spec = BornDeadSpec(widths=args.widths, depths=args.depths, inits=args.inits,
                        networks=args.networks, input_dim=args.input_dim, inputs=args.inputs,
                        seed=args.seed, confidence=args.confidence)
    console = _console()
    with _Progress(quiet=args.quiet) as progress:
        result = estimate_born_dead(spec, progress=progress)
    console.print(_table(result))
    from relulab.report.born_dead import findings

    for line in findings(result):
        console.print(line, markup=False, highlight=False)
    written = []
    if args.json:
        written.append(("JSON", _write(Path(args.json), json.dumps(result.to_json(), indent=2),
                                       "--json")))
    if args.report:
        from relulab.report.born_dead import write_born_dead

        written.append(("Report", write_born_dead(result, args.report)))
    for what, path in written:
        console.print(f"{what} written to {path}", markup=False, highlight=False)
    return 0


def _table(result: Any):
    from rich import box
    from rich.table import Table

    from relulab.report.born_dead import share

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

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and _isatty(sys.stderr)
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

            self.bar = Progress(TextColumn("born dead: cells"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=_console(stderr=True), transient=True)
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


def _write(path: Path, text: str, flag: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise RelulabError(f"cannot write {path}: {exc.strerror or exc}; choose another path "
                           f"with {flag}") from exc
    return path


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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _console(stderr: bool = False):
    from rich.console import Console

    file = sys.stderr if stderr else sys.stdout
    width = None
    if not _isatty(file) and "COLUMNS" not in os.environ:
        width = 160  # a pipe or a file: lay the table out whole
    return Console(file=file, width=width, highlight=False)


def _isatty(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1
