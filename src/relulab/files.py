"""Writing a user's output files: the one place a path that cannot be written becomes one
error line (the CLI prints it; nothing computed is lost by it)."""

from __future__ import annotations

import os
from pathlib import Path

from relulab.errors import RelulabError

__all__ = ["write_text"]


def write_text(path: str | os.PathLike[str], text: str, *, what: str, fix: str) -> Path:
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
