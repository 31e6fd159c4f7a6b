"""`relulab report STUDY_ID -o report.html [--db PATH] [--figures DIR]`.

Loads a complete study from the results database and writes its self-contained HTML
report (and, with ``--figures``, each figure as a PNG). The store, matplotlib and Jinja2
are imported inside the command so that ``relulab --help`` starts fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from relulab.paths import DEFAULT_DB


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``relulab report``."""
    p = sub.add_parser(
        "report", help="write a study's HTML report (and its figures as PNG)",
        description="Write one self-contained HTML file (figures embedded, no network "
        "needed to view it) with a study's config, series, forecasts, metric "
        "distributions, comparisons with their verdicts, loss curves and activations.",
        epilog="example: relulab report 3 -o report.html --figures figures/",
    )
    p.add_argument("study", metavar="STUDY_ID",
                   help="study id, id prefix or # from `relulab runs list`")
    p.add_argument("-o", "--output", metavar="FILE", default="report.html",
                   help="where to write the HTML (default: ./report.html)")
    p.add_argument("--db", metavar="PATH", default=DEFAULT_DB,
                   help=f"results database (default: ./{DEFAULT_DB})")
    p.add_argument("--figures", metavar="DIR",
                   help="also write every figure as DIR/<name>.png")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from relulab.store import Store
    from relulab.study.outputs import Outputs, write_outputs

    with Store(args.db, create=False) as store:
        result = store.load(args.study)
    written = write_outputs(result, Outputs(db=args.db, report=args.output,
                                            figures=args.figures))
    print(f"report written to {written.report.resolve()}")
    if written.folders:
        print(f"created the folder{'s' if len(written.folders) > 1 else ''} "
              f"{', '.join(map(str, written.folders))}, which did not exist")
    if args.figures:
        print(f"{len(written.figures)} figures written to {Path(args.figures).resolve()}"
              if written.figures else "no figures written")
    return 0
