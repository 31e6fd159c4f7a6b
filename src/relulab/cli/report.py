"""`relulab report STUDY_ID -o report.html [--db PATH] [--figures DIR]`.

Loads a complete study from the results database and writes its self-contained HTML
report (and, with ``--figures``, each figure as a PNG). The store, matplotlib and Jinja2
are imported inside the command so that ``relulab --help`` starts fast.
"""

from __future__ import annotations

import argparse

DEFAULT_DB = "relulab.db"  # = relulab.store.DEFAULT_PATH, not imported here (start-up time)


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
    from relulab.figures import save_figures
    from relulab.report import write_report
    from relulab.store import Store

    with Store(args.db, create=False) as store:
        result = store.load(args.study)
    path = write_report(result, args.output)
    print(f"report written to {path.resolve()}")
    if args.figures:
        try:
            paths = save_figures(result, args.figures)
        except OSError as exc:
            from relulab.errors import RelulabError

            raise RelulabError(
                f"cannot write figures to {args.figures}: {exc.strerror or exc}; "
                "choose another folder with --figures"
            ) from None
        print(f"{len(paths)} figures written to {paths[0].parent.resolve()}"
              if paths else "no figures written")
    return 0
