"""A study with the files its user asked for: the one route from a config to results.

:func:`run_study` (one series) and :func:`run_panel_study` (a panel) open the results
store, run the study pipeline (resuming what the store already holds) and write the JSON,
the figures and the HTML report named in :class:`Outputs`; :func:`write_outputs` writes
them for a result already in hand (a stored study, as ``relulab report`` does). The
command line calls these and only formats what they return, so Python users get exactly
the same files.

Every destination is checked (:func:`prepare_outputs`) before anything is trained, and
the folders it lacks are created then and listed in :attr:`Written.folders`. A file that
still cannot be written after training (its folder removed meanwhile, a full disk) does
not stop the others; then one :class:`~relulab.errors.RelulabError` names what failed and
where the results are: in the database, in the JSON, or, when neither holds them, in a JSON
file saved to the temporary folder, so that nothing computed is lost by it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.files import destination_problem, exists, prepare_destination, write_text
from relulab.paths import DEFAULT_DB
from relulab.result import PANEL_DETAIL, StudyResult
from relulab.store import get_store
from relulab.study.events import ProgressFn, quiet
from relulab.study.executor import Executor, get_executor
from relulab.study.pipeline import PanelResult, run_plan
from relulab.study.plan import Plan, make_plan
from relulab.study.recorder import Recorder
from relulab.study.runner import resolve_series

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Outputs:
    """What a study leaves on disk. ``db=None`` keeps no database."""

    db: PathLike | None = DEFAULT_DB
    json: PathLike | None = None
    report: PathLike | None = None
    figures: PathLike | None = None


@dataclass
class Written:
    """The files a study wrote, by kind (``None`` where none was asked for)."""

    db: Path | None = None
    study_id: str = ""
    json: Path | None = None
    report: Path | None = None
    figures: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # created for the outputs


_FIX = "choose another path"


def _destinations(outputs: Outputs) -> list[tuple[PathLike, str, bool]]:
    """(path, what, is a folder) of every file or folder ``outputs`` names, the database
    first."""
    return [(path, what, what == "the figures") for path, what in (
        (outputs.db, "the results database"), (outputs.json, "the JSON"),
        (outputs.report, "the report"), (outputs.figures, "the figures"))
        if path is not None]


def check_outputs(outputs: Outputs) -> None:
    """Refuse, in one line, a destination of ``outputs`` that cannot be written (read-only,
    in a folder that is not writable, a file where a folder should be or the reverse), and
    a results database that cannot be used; creates nothing. :func:`run_study` checks
    this before any training; a caller can check earlier still (before loading a large
    panel)."""
    for path, what, folder in _destinations(outputs):
        if what == "the results database":
            from relulab.store import Store, check_writable

            if exists(Path(path)):
                Store(path).close()  # also an SQLite file, relulab's, a schema it reads
            else:
                check_writable(path, folders_made=True)
            continue
        problem = destination_problem(path, folder=folder)
        if problem is not None:
            raise RelulabError(f"cannot write {what} to {path}: {problem}; "
                               f"{'choose another folder' if folder else _FIX}")


def prepare_outputs(outputs: Outputs) -> list[Path]:
    """:func:`check_outputs`, then create the folders the destinations lack; returns the
    folders created (the command names them: a mistyped folder shows at once)."""
    check_outputs(outputs)
    created: list[Path] = []
    for path, what, folder in _destinations(outputs):
        created += prepare_destination(path, what=what, fix=_FIX, folder=folder)
    return created


@contextmanager
def _session(outputs: Outputs, executor: Any, plan: Plan
             ) -> Iterator[tuple[Recorder, Executor, Written]]:
    """What every study run opens, once, at the boundary: the executor's check of the
    (first) ``plan`` (memory) and every destination (missing folders made), before anything
    is stored or trained; then the store (``outputs.db``, or nothing kept) behind the
    recorder, and the executor (one Ray, say, over every batch and series), each closed
    whatever happens."""
    executor = get_executor(executor)
    executor.check(plan)
    folders = prepare_outputs(outputs)  # every destination, before any training
    store = get_store(outputs.db)
    try:
        with executor:
            yield Recorder(store), executor, Written(
                db=Path(outputs.db) if outputs.db is not None else None, folders=folders)
    finally:
        store.close()


def run_study(config: StudyConfig, series: Any = None, *, outputs: Outputs = Outputs(),
              progress: ProgressFn = quiet, executor: Executor | str | None = None,
              target_width: float | None = None,
              seed_batch: int = 10, max_seeds: int = 100) -> tuple[StudyResult, Written]:
    """Run ``config`` on ``series`` (or on the source ``config.data`` names), store it in
    ``outputs.db`` and write the other outputs asked for.

    Compiled training programs are kept on disk
    (:func:`relulab.study.jax_trainer.enable_compilation_cache`), so a repeated study
    compiles in about a second. With ``target_width``, ``config.seeds`` is ignored: seeds
    are added in batches of ``seed_batch`` until every comparison's interval is narrower
    than it, at most ``max_seeds`` (:func:`relulab.study.adaptive.run_adaptive`).
    """
    from relulab.study.adaptive import FixedSeeds, UntilPrecise, run_seeds

    policy = FixedSeeds() if target_width is None else UntilPrecise(target_width, seed_batch,
                                                                     max_seeds)
    series = resolve_series(config, series)  # load once; fail before training
    policy.check(config)
    plan = make_plan(config.replace(seeds=policy.first(config)), series)  # checks it first
    with _session(outputs, executor, plan) as (recorder, executor, written):
        result = run_seeds(config, series, policy, recorder=recorder, executor=executor,
                           progress=progress)
    for w in result.warnings:
        warnings.warn(w, stacklevel=2)
    written.study_id = result.study_id
    _write_all(result, outputs, written)
    return result, written


def run_panel(config: StudyConfig, panel: Any, *, store: Any = None,
              progress: ProgressFn = quiet, executor: Executor | str | None = None,
              keep: int | None = PANEL_DETAIL) -> PanelResult:
    """Run ``config`` on every series of ``panel`` (a :class:`relulab.data.Panel`, or
    series by id) that suits it, then pool: :func:`relulab.study.pipeline.run_plan` with
    ``store`` (a :class:`relulab.store.Store`, a path, or None for none)."""
    return run_plan(make_plan(config, panel), recorder=Recorder(get_store(store)),
                    executor=get_executor(executor), progress=progress, keep=keep)


def run_panel_study(config: StudyConfig, panel: Any, *, outputs: Outputs = Outputs(),
                    progress: ProgressFn = quiet, executor: Executor | str | None = None,
                    keep: int | None = PANEL_DETAIL) -> tuple[PanelResult, Written]:
    """:func:`run_panel` against the results store ``outputs.db`` (one study per series),
    with the JSON ``outputs.json``, the panel report ``outputs.report`` and the panel
    figures ``outputs.figures`` written: the panel's route from a config to results, as
    :func:`run_study` is one series'. Each series' own report is ``relulab report
    STUDY_ID``."""
    plan = make_plan(config, panel)  # checks every series before anything runs
    with _session(outputs, executor, plan) as (recorder, executor, written):
        result = run_plan(plan, recorder=recorder, executor=executor, progress=progress,
                          keep=keep)
    write_panel_outputs(result, outputs, written)
    return result, written


def _scoped(path: PathLike | None, scope: str) -> Path | None:
    """``report.html`` as ``report-global.html``: one scope's file of a comparison."""
    if path is None:
        return None
    p = Path(path)
    return p.with_name(f"{p.stem}-{scope}{p.suffix}")


def run_panel_comparison(config: StudyConfig, panel: Any, scopes: tuple[str, ...] = (
        "local", "global"), *, outputs: Outputs = Outputs(), progress: ProgressFn = quiet,
        executor: Executor | str | None = None) -> tuple[dict[str, PanelResult], Any,
                                                         list[Written]]:
    """``config`` on ``panel`` once per scope of ``scopes`` (``config.pooling``: a model per
    series, one across the panel), each stored as its own studies, then the scopes as arms
    of one comparison (:func:`relulab.study.pipeline.compared_scopes`; its pooled answer is
    returned). Each scope's report and figures go to the names ``outputs`` gives with
    ``-SCOPE`` added; the report ``outputs`` names is the comparison's (the arms ranked,
    with links to the scopes' reports), the last of the ``Written``; the JSON holds every
    scope and the comparison."""
    from relulab.study.pipeline import compared_scopes, pooled_json

    results: dict[str, PanelResult] = {}
    written: list[Written] = []
    for scope in scopes:
        own = dataclasses.replace(outputs, json=None, report=_scoped(outputs.report, scope),
                                  figures=_scoped(outputs.figures, scope))
        results[scope], w = run_panel_study(config.replace(pooling=scope), panel,
                                            outputs=own, progress=progress,
                                            executor=executor)
        written.append(w)
    compared = compared_scopes(results)
    if outputs.json is not None or outputs.report is not None:
        db = Path(outputs.db) if outputs.db is not None else None
        kept = (f"the results are stored in {db}, one study per series and scope"
                if db is not None else "")
        links = {scope: w.report.name for scope, w in zip(scopes, written, strict=True)
                 if w.report is not None}

        def report() -> str:
            from relulab.report import render_panel_report

            return render_panel_report(compared, db=db, scope_reports=links)

        mine = Written(db=db)
        write_files(dataclasses.replace(outputs, figures=None), mine, kept=kept,
                    to_json=lambda: {
                        "scopes": {s: r.to_json() for s, r in results.items()},
                        "compared": pooled_json(compared.pooled)},
                    save_figures=lambda _: [], render=report)
        written.append(mine)
    return results, compared.pooled, written


def write_outputs(result: StudyResult, outputs: Outputs) -> Written:
    """Write the JSON, figures and report of ``result`` that ``outputs`` names (its
    ``db`` only says where the result is stored, for the error messages)."""
    written = Written(db=Path(outputs.db) if outputs.db is not None else None,
                      study_id=result.study_id)
    try:
        written.folders = prepare_outputs(dataclasses.replace(outputs, db=None))
    except RelulabError as exc:
        kept = _kept(result, written)
        raise RelulabError(f"{exc}; {kept}" if kept else str(exc)) from None
    _write_all(result, outputs, written)
    return written


def _kept(result: StudyResult, written: Written) -> str:
    """Where a database keeps ``result``, in words ("" where none does)."""
    if written.db is None or not result.study_id:
        return ""
    return (f"the results are stored in {written.db} as study {result.study_id} (relulab "
            f"report {result.study_id} --db {written.db} writes the report and figures "
            f"from there)")


def _write_all(result: StudyResult, outputs: Outputs, written: Written) -> None:
    kept = _kept(result, written)

    def figures(directory: Any) -> list[Path]:
        from relulab.figures import save_figures  # matplotlib, only when asked

        return save_figures(result, directory)

    def report() -> str:
        from relulab.report import render_report

        return render_report(result)

    write_files(outputs, written, kept=kept, to_json=result.to_json, save_figures=figures,
                render=report)


def write_files(outputs: Outputs, written: Written, *, kept: str,
                to_json: Callable[[], Any], save_figures: Callable[[Any], list[Path]],
                render: Callable[[], str]) -> None:
    """Write the JSON, figures and report ``outputs`` names, recording each in ``written``.

    One that cannot be written does not stop the others; then one error names each that
    failed and where the results are: ``kept`` (where a database holds them, or ""), the
    JSON when it was written, else a JSON file saved to the temporary folder."""
    failed: list[str] = []
    document = None

    def doc() -> str:
        nonlocal document
        if document is None:
            document = json.dumps(to_json(), indent=1, allow_nan=False)
        return document

    if outputs.json is not None:
        try:
            written.json = write_text(outputs.json, doc(), what="the JSON", fix=_FIX)
        except RelulabError as exc:
            failed.append(str(exc).removesuffix(f"; {_FIX}"))
    if outputs.figures is not None:
        try:
            written.figures = save_figures(outputs.figures)
        except OSError as exc:
            failed.append(f"cannot write the figures to {outputs.figures} "
                          f"({exc.strerror or exc})")
    if outputs.report is not None:
        try:
            written.report = write_text(outputs.report, render(), what="the report",
                                        fix=_FIX)
        except RelulabError as exc:
            failed.append(str(exc).removesuffix(f"; {_FIX}"))
    if not failed:
        return
    where = [kept] if kept else []
    if written.json is not None:
        where.append(f"the JSON was written to {written.json}")
    if not where:
        where.append(_save_elsewhere(doc))
    raise RelulabError(f"{'; '.join(failed)}; {_FIX}; {'; '.join(where)}")


def _save_elsewhere(doc: Callable[[], str]) -> str:
    """Save the result as JSON in the temporary folder, where nothing else keeps it; what
    to tell the user about it."""
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", prefix="relulab-result-",
                                         suffix=".json", delete=False) as f:
            f.write(doc())
    except OSError as exc:
        return f"no copy of the result could be saved ({exc.strerror or exc})"
    return f"the result is saved as JSON in {f.name}"


def write_panel_outputs(result: PanelResult, outputs: Outputs, written: Written) -> None:
    """Write the JSON, the panel figures (PNG) and the panel report that ``outputs`` names,
    recording each in ``written`` (whose ``db`` says where the series are stored, for the
    report's hint and the error messages)."""

    def figures(directory: Any) -> Any:
        from relulab.panel_figures import save_panel_figures  # matplotlib, only when asked

        return save_panel_figures(result, directory)

    def report() -> str:
        from relulab.report import render_panel_report

        return render_panel_report(result, db=written.db)

    kept = (f"the results are stored in {written.db}, one study per series (relulab "
            f"runs list --db {written.db})" if written.db is not None else "")
    write_files(outputs, written, kept=kept, to_json=result.to_json,
                save_figures=figures, render=report)
