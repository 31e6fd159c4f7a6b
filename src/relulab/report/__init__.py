"""The study report: one self-contained HTML file.

Figures are embedded as base64 PNG, the CSS is inline, and the page has no scripts, fonts
or links outside itself, so it opens anywhere with no network. Everything that comes from
the user (series name, study name, activation names, warnings) passes through Jinja2's
autoescaping.

- :mod:`relulab.report.study_page`: the view model, a result as the strings the page shows;
- ``templates/report.html.j2``: the page, shipped as package data;
- :func:`render_report` is pure (a :class:`~relulab.result.StudyResult` in, HTML out);
  :func:`write_report` is the only function here that touches the file system.

A study over a panel has its own page (:func:`render_panel_report`, view model
:mod:`relulab.report.panel_page`, ``templates/panel.html.j2``, the same style): the pooled answer,
the critical-difference diagram, the series where the activations differ most, and a table
of every series. Its one script, inline, sorts that table; it loads nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from relulab import display
from relulab.files import write_text
from relulab.report.study_page import page_context
from relulab.result import StudyResult

__all__ = ["render_panel_report", "render_report", "write_report"]

TEMPLATE = "report.html.j2"
PANEL_TEMPLATE = "panel.html.j2"

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("relulab.report", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)
_ENV.filters["p_is"] = display.p_is


def render_report(result: StudyResult) -> str:
    """The report of one study as a self-contained HTML document."""
    return _ENV.get_template(TEMPLATE).render(**page_context(result))


def render_panel_report(panel: Any, db: str | Path | None = None,
                        scope_reports: dict[str, str] | None = None) -> str:
    """The report of a study over a panel (a :class:`~relulab.study.pipeline.PanelResult`) as
    a self-contained HTML document; ``db``, the results database its series are stored in,
    is named in the page's hint for each series' own report. A comparison of local and
    global models links each scope's report from ``scope_reports`` (scope: address)."""
    from relulab.report.panel_page import panel_context

    return _ENV.get_template(PANEL_TEMPLATE).render(
        **panel_context(panel, db=db, scope_reports=scope_reports))


def write_page(html: str, path: str | Path, flag: str) -> Path:
    """Write one page to ``path`` (parent folders are created); a path that cannot be
    written is one error naming the ``flag`` that chooses another."""
    return write_text(path, html, what="the report", fix=f"choose another path with {flag}")


def write_report(result: StudyResult, path: str | Path) -> Path:
    """Render the report and write it to ``path`` (parent folders are created)."""
    return write_page(render_report(result), path, "-o")
