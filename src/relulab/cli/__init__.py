"""The `relulab` command line: a thin shell over the library.

Each sub-command group lives in its own module with a ``register(subparsers)`` function
that adds its parser and sets ``func`` (a callable taking the parsed ``args`` and returning
an exit code). User errors (:class:`relulab.RelulabError`) become one line on stderr and
exit code 2; nothing here is imported by the library.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from relulab import __version__
from relulab.errors import RelulabError

# Sub-command modules, each with register(subparsers). Imported lazily by name so that a
# missing optional piece cannot break the others.
_COMMAND_MODULES = ("activations", "study", "runs", "report", "diagnose")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line naming the fix, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"relulab: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="relulab",
        description="Which activation function suits my model and my data, and does it matter?",
    )
    parser.add_argument("--version", action="version", version=f"relulab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"relulab.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except RelulabError as exc:
        print(f"relulab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("relulab: interrupted; results already computed are kept.", file=sys.stderr)
        if argv is None:  # the program itself, not a call from Python
            # Everything computed is stored and closed by now, but XLA cannot stop a
            # program it is compiling or a training call it is running, and the
            # interpreter's exit waits for them: seconds for a compile, minutes for a
            # large call. The program ends here instead.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
