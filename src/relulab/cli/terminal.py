"""The terminal the commands print to: one rich Console per call, laid out whole in pipes."""

from __future__ import annotations

import os
import sys
from typing import Any


def console(stderr: bool = False):
    """A rich Console on stdout (or stderr), built per call so that it writes to the
    ``sys.stdout`` of the moment (tests capture it). In a terminal it takes the terminal's
    width; in a pipe or a file 160 columns, so tables are laid out whole instead of folding
    to 80, unless ``COLUMNS`` says otherwise."""
    from rich.console import Console

    file = sys.stderr if stderr else sys.stdout
    width = None
    if not isatty(file) and "COLUMNS" not in os.environ:
        width = 160
    return Console(file=file, width=width, highlight=False)


def isatty(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False
