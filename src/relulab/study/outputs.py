"""A study with the files its user asked for: the one route from a config to results.

:func:`run_study` opens the results store, runs the study (resuming what the store
already holds) and writes the JSON, the figures and the HTML report named in
:class:`Outputs`; :func:`write_outputs` writes them for a result already in hand (a
stored study, as ``relulab report`` does). The command line calls these and only
formats what they return, so Python users get exactly the same files.

A file that cannot be written raises one :class:`~relulab.errors.RelulabError` that also
says where the results are stored, since nothing computed is lost by it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.files import write_text
from relulab.paths import DEFAULT_DB
from relulab.result import StudyResult
from relulab.study.executor import Executor, ProgressFn
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


def run_study(config: StudyConfig, series: Any = None, *, outputs: Outputs = Outputs(),
              progress: ProgressFn | None = None, executor: Executor | None = None,
              compilation_cache: bool = True, target_width: float | None = None,
              seed_batch: int = 10, max_seeds: int = 100) -> tuple[StudyResult, Written]:
    """Run ``config`` on ``series`` (or on the source ``config.data`` names), store it in
    ``outputs.db`` and write the other outputs asked for.

    With ``compilation_cache``, compiled training programs are kept on disk
    (:func:`relulab.training.enable_compilation_cache`), so a repeated study compiles in
    about a second. With ``target_width``, ``config.seeds`` is ignored: seeds are added in
    batches of ``seed_batch`` until every comparison's interval is narrower than it, at
    most ``max_seeds`` (:func:`relulab.study.adaptive.run_adaptive`).
    """
    from relulab.study.runner import Study

    if target_width is not None:
        series = resolve_series(config, series)  # load once; fail before training
        first = config.replace(seeds=min(seed_batch, max_seeds))
        Study(first, series)  # checks the first batch's plan before anything runs
    else:
        study = Study(config, series, executor=executor)  # loads and checks: fails early
    if compilation_cache:
        from relulab.training import enable_compilation_cache

        enable_compilation_cache()
    store = None
    if outputs.db is not None:
        from relulab.store import Store

        store = Store(outputs.db)
    try:
        if target_width is not None:
            from relulab.study.adaptive import run_adaptive

            result = run_adaptive(config, series, target_width=target_width, batch=seed_batch,
                                  max_seeds=max_seeds, store=store, progress=progress,
                                  executor=executor)
        else:
            result = study.run(store=store, progress=progress)
    finally:
        if store is not None:
            store.close()
    written = Written(db=Path(outputs.db) if store is not None else None,
                      study_id=result.study_id)
    _write_all(result, outputs, written)
    return result, written


def write_outputs(result: StudyResult, outputs: Outputs) -> Written:
    """Write the JSON, figures and report of ``result`` that ``outputs`` names (its
    ``db`` only says where the result is stored, for the error messages)."""
    written = Written(db=Path(outputs.db) if outputs.db is not None else None,
                      study_id=result.study_id)
    _write_all(result, outputs, written)
    return written


def _write_all(result: StudyResult, outputs: Outputs, written: Written) -> None:
    kept = (f"; the results are stored in {written.db} as study {result.study_id}"
            if written.db is not None and result.study_id else "")

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
    """Write the JSON, figures and report ``outputs`` names, recording each in ``written``;
    ``kept`` ends each error line, saying where the results already are."""
    if outputs.json is not None:
        path = Path(outputs.json)
        write_text(path, json.dumps(to_json(), indent=1, allow_nan=False),
                   what="the JSON", fix=f"choose a writable path{kept}")
        written.json = path
    if outputs.figures is not None:
        try:
            written.figures = save_figures(outputs.figures)
        except OSError as exc:
            raise RelulabError(f"cannot write the figures to {outputs.figures} "
                               f"({exc.strerror or exc}); choose a writable folder{kept}"
                               ) from None
    if outputs.report is not None:
        path = Path(outputs.report)
        write_text(path, render(), what="the report", fix=f"choose a writable path{kept}")
        written.report = path
