"""`relulab runs list|show|export`: what the results database holds.

A thin shell over :class:`relulab.store.Store`. Study ids may be given as the full id, a
unique prefix of it, or the row number ``#`` of ``relulab runs list`` (``3`` or ``#3``).
The store (and with it pandas) is imported inside the commands so that ``relulab --help``
starts fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from relulab.cli import terminal
from relulab.errors import RelulabError
from relulab.paths import DEFAULT_DB

_ID_HELP = "study id or a unique prefix of it, or its # in `runs list` (3 or #3)"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``relulab runs {list,show,export}``."""
    parser = sub.add_parser(
        "runs", help="list, show and export stored studies",
        description="The studies in a results database: list them, show one, export one.",
    )
    parser.set_defaults(func=lambda args: _print_help(parser))
    commands = parser.add_subparsers(dest="runs_command", metavar="SUBCOMMAND")

    p = commands.add_parser(
        "list", help="one line per stored study",
        description="Every study in the database: id, date, name, series, activations, "
        "seeds, runs stored and status.",
    )
    _add_db_option(p)
    p.set_defaults(func=cmd_list)

    p = commands.add_parser(
        "show", help="config, summary, verdicts and baselines of one study",
        description="A study's config, its per-activation metrics (median [interval] over "
        "seeds), the verdicts against the reference activation and the baselines.",
        epilog="example: relulab runs show 3   (or an id prefix: relulab runs show 9f2c)",
    )
    p.add_argument("study", metavar="ID", help=_ID_HELP)
    _add_db_option(p)
    p.set_defaults(func=cmd_show)

    p = commands.add_parser(
        "export", help="one study as CSV (a row per run) or JSON (everything)",
        description="Export a study: --csv writes one row per run (activation, seed, "
        "diverged, best epoch, test metrics, val_* validation metrics); --json writes the "
        "whole result (config, series, runs with forecasts and losses, summary, "
        "comparisons, baselines).",
        epilog="example: relulab runs export 3 --csv -o runs.csv",
    )
    p.add_argument("study", metavar="ID", help=_ID_HELP)
    fmt = p.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--csv", action="store_true", help="one row per run")
    fmt.add_argument("--json", action="store_true", help="the whole study result")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    _add_db_option(p)
    p.set_defaults(func=cmd_export)


def _add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH", default=DEFAULT_DB,
                   help=f"results database (default: ./{DEFAULT_DB})")


def _open(path: str) -> Any:
    from relulab.store import Store

    return Store(path, create=False)


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    with _open(args.db) as store:
        studies = store.list_studies()
    console = terminal.console()
    if studies.empty:
        console.print(Text(f"No studies in {args.db} yet; run one with `relulab study`."))
        return 0
    table = Table(title=Text(f"Studies in {args.db}"), title_justify="left")
    for header in ("#", "id", "created (UTC)", "name", "series", "activations", "seeds",
                   "runs", "status"):
        table.add_column(header, justify="right" if header in ("#", "seeds") else "left",
                         no_wrap=header in ("#", "id", "created (UTC)"))
    for s in studies.itertuples(index=False):
        table.add_row(
            str(s.n), s.id, _when(s.created), Text(s.name), Text(s.series),
            Text(", ".join(s.activations)), str(s.seeds), f"{s.runs}/{s.runs_total}",
            s.status,
        )
    console.print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    with _open(args.db) as store:
        study_id = store.resolve(args.study)
        row = store.list_studies().set_index("id").loc[study_id]
        config = store.config(study_id)
        result = store.load(study_id) if row.status == "complete" else None
        runs = store.load_runs(study_id) if result is None else result.runs
        done = store.completed_activations(study_id)
    console = terminal.console()
    console.print(Text.assemble(
        ("study ", ""), (study_id, "bold"), f" (#{row.n}), {row.status}, created "
        f"{_when(row.created)} UTC", *((f", name {row['name']!r}",) if row["name"] else ()),
    ))
    grid = Table(title="Config", title_justify="left", show_header=False, box=None,
                 padding=(0, 2, 0, 0))
    grid.add_column(style="dim")
    grid.add_column()
    for key, value in config.to_dict().items():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        grid.add_row(key, Text(shown))
    console.print(grid)
    if result is not None:
        from relulab.cli.render import show_result

        show_result(console, result)
        return 0
    per_activation = {a: sum(r.activation == a for r in runs) for a in config.activations}
    console.print(Text(f"Not complete: {len(done)} of {len(config.activations)} activation "
                       f"groups stored."))
    for act, n in per_activation.items():
        console.print(Text(f"  {act}: {n}/{config.seeds} runs" if n else f"  {act}: not yet"))
    console.print(Text("Rerun the same `relulab study` command to finish it."))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _open(args.db) as store:
        study_id = store.resolve(args.study)
        if args.json:
            data = _finite(store.load(study_id).to_json())
            text = json.dumps(data, indent=2, allow_nan=False) + "\n"
            what = "study result"
        else:
            runs = store.load_runs(study_id)
            text = _runs_csv(runs, store.config(study_id).task)
            what = f"{len(runs)} runs"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RelulabError(f"cannot write {out}: {exc.strerror}; check the path") from None
    terminal.console().print(f"Wrote the {what} of study {study_id} to {out}", highlight=False,
                     markup=False)
    return 0


def _runs_csv(runs: list[Any], task: str = "forecast") -> str:
    import pandas as pd

    from relulab.metrics import columns as task_columns

    cols = task_columns(task)
    rows = [
        {"activation": r.activation, "seed": r.seed, "diverged": r.diverged,
         "best_epoch": r.best_epoch,
         **{m: r.metrics.get(m, float("nan")) for m in cols},
         **{f"val_{m}": r.val_metrics.get(m, float("nan")) for m in cols}}
        for r in runs
    ]
    columns = ["activation", "seed", "diverged", "best_epoch", *cols,
               *(f"val_{m}" for m in cols)]
    # repr-exact floats; a missing value (NaN) is an empty field.
    return pd.DataFrame(rows, columns=columns).to_csv(index=False, float_format=None)


def _finite(obj: Any) -> Any:
    # StudyResult.to_json writes undefined numbers as null; make sure none slipped through
    # (a NaN would make the file invalid JSON).
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _when(iso: str) -> str:
    return iso.replace("T", " ").removesuffix("Z")




def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1
