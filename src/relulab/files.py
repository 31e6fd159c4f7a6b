"""Writing a user's output files: the one place a path that cannot be written becomes one
error line (the CLI prints it; nothing computed is lost by it).

A command checks every destination it will write before it starts any work
(:func:`destination_problem`, :func:`prepare_destination`), so a path that cannot be
written costs one line, not a study's training. The checks only look (``os.access``,
which also sees a read-only file system); the write itself is still guarded, since a
folder can change while a study trains.

Missing folders: a destination whose folders do not exist yet gets them, created when the
destination is prepared; :func:`prepare_destination` returns the ones it created, so that
the command can name them (a mistyped folder shows up at once, not as a silent new tree).
"""

from __future__ import annotations

import os
from pathlib import Path

from relulab.errors import RelulabError

__all__ = ["destination_problem", "exists", "missing_folders", "prepare_destination", "write_text"]

PathLike = str | os.PathLike[str]


def exists(path: Path) -> bool:
    """``path.exists()``, ``False`` also where a folder on the way may not be searched."""
    try:
        return path.exists()
    except OSError:  # e.g. a folder on the way that may not be searched
        return False


def missing_folders(path: PathLike, *, folder: bool = False) -> list[Path]:
    """The folders to create before ``path`` (a file; a folder itself when ``folder``) can
    be written, outermost first."""
    path = Path(path)
    todo = [path] if folder and not exists(path) else []
    for parent in path.parents:
        if exists(parent):
            break
        todo.append(parent)
    return todo[::-1]


def destination_problem(path: PathLike, *, folder: bool = False) -> str | None:
    """Why ``path`` cannot be written (a file; a folder to write files into when
    ``folder``), in words, or ``None``. Creates nothing."""
    path = Path(path)
    if exists(path):
        if folder != path.is_dir():
            return (f"{path} is a file, not a folder" if folder
                    else f"{path} is a folder, not a file")
        if folder:
            return None if os.access(path, os.W_OK | os.X_OK) else \
                f"the folder {path} is not writable"
        return None if os.access(path, os.W_OK) else f"{path} is read-only"
    missing = missing_folders(path, folder=folder)
    above = missing[0].parent if missing else path.parent  # the nearest that exists
    if not above.is_dir():
        return f"{above} is a file, not a folder"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"the folder {above} is not writable"
    return None


def prepare_destination(path: PathLike, *, what: str, fix: str,
                        folder: bool = False) -> list[Path]:
    """Check that ``path`` can be written and create the folders it lacks (``path`` itself
    too when ``folder``); returns the folders created. A destination that cannot be
    written raises ``cannot write {what} to {path}: {reason}; {fix}``."""
    problem = destination_problem(path, folder=folder)
    if problem is not None:
        raise RelulabError(f"cannot write {what} to {path}: {problem}; {fix}")
    created = missing_folders(path, folder=folder)
    try:
        for f in created:
            f.mkdir(exist_ok=True)
    except OSError as exc:
        raise RelulabError(f"cannot write {what} to {path}: cannot create the folder "
                           f"{exc.filename or f} ({exc.strerror or exc}); {fix}") from None
    return created


def write_text(path: PathLike, text: str, *, what: str, fix: str) -> Path:
    """Write ``text`` to ``path``, creating its parent folders. A path that cannot be
    written raises ``cannot write {what} to {path} ({reason}); {fix}``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RelulabError(f"cannot write {what} to {path} ({exc.strerror or exc}); {fix}"
                           ) from None
    return path
