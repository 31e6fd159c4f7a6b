"""Where a study's series comes from, resolved once.

A :class:`DataSource` names one of three kinds of origin:

- ``csv``: a user's CSV file (``path``), with an optional value ``column``,
  ``date_column`` and ``date_format`` (:func:`~relulab.data.user.load_series`);
- ``bundled``: a series shipped inside statsmodels (``name``;
  :func:`~relulab.data.bundled.bundled`);
- ``dataset``: a named data set (``name``), read from a local copy (``path``) when given,
  else from the cache or one download (:func:`~relulab.data.datasets.load_dataset`).

It is built from command-line flags (:meth:`DataSource.from_flags`, which holds every check
of how they combine) or from a stored config (:meth:`DataSource.from_config`), goes into a
config as plain strings (:meth:`DataSource.config_fields`: ``data`` is a CSV path,
``"bundled:NAME"`` or ``"dataset:NAME[:LOCAL_FILE]"``, as every stored study has it), and
:meth:`DataSource.load` is the one place a series is loaded from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relulab.data.bundled import bundled
from relulab.data.datasets import load_dataset
from relulab.data.series import Series
from relulab.data.user import load_series
from relulab.errors import RelulabError

if TYPE_CHECKING:
    from relulab.config import StudyConfig

KINDS = ("csv", "bundled", "dataset", "panel")


@dataclass(frozen=True)
class DataSource:
    """One origin of a series: ``kind`` is ``"csv"``, ``"bundled"`` or ``"dataset"``; or
    of many, ``"panel"`` (a long or wide CSV of series, read by :meth:`load_panel`).

    ``path``: the CSV file (``csv`` and ``panel``, required) or a local copy of the data
    set (``dataset``, optional). ``name``: the bundled series or data set. ``column`` and
    ``date_column`` choose columns of a CSV, ``date_format`` how its dates are written
    (strftime's codes); they apply to ``csv`` and ``panel`` only.

    >>> DataSource.from_flags(dataset="hotel-h1", data_file="H1.csv").config_fields()
    {'data': 'dataset:hotel-h1:H1.csv', 'column': None, 'date_column': None, 'date_format': None}
    """

    kind: str
    path: str | None = None
    name: str | None = None
    column: str | None = None
    date_column: str | None = None
    date_format: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RelulabError(f"unknown data source kind {self.kind!r}; choose one of: "
                               f"{', '.join(KINDS)}")
        if self.kind in ("csv", "panel"):
            flag = "--data" if self.kind == "csv" else "--panel"
            if not self.path:
                raise RelulabError(f"a {self.kind} data source needs a file; pass {flag} FILE")
            if self.name is not None:
                raise RelulabError("a CSV data source takes a path, not a name; pass "
                                   "--dataset NAME or --bundled NAME for a named series")
            return
        flag = f"--{self.kind}"
        if not self.name:
            raise RelulabError(f"a {self.kind} data source needs a name; pass {flag} NAME")
        if any(v is not None for v in (self.column, self.date_column, self.date_format)):
            raise RelulabError(f"--column, --date-column and --date-format describe a --data "
                               f"CSV; {flag} {self.name} has its own; drop them")
        if self.kind == "bundled" and self.path is not None:
            raise RelulabError("--data and --bundled both name a series; pass one of them")

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_flags(
        cls,
        *,
        data: str | None = None,
        dataset: str | None = None,
        bundled: str | None = None,
        data_file: str | None = None,
        column: str | None = None,
        date_column: str | None = None,
        date_format: str | None = None,
    ) -> DataSource:
        """The source the ``relulab study`` flags name, or one error line saying how to fix them.

        ``--data`` is a series CSV, or with ``--dataset`` a local copy of that data set (the
        same as ``--data-file``); ``--dataset`` and ``--bundled`` exclude each other.
        """
        if dataset and bundled:
            raise RelulabError("--dataset and --bundled both name a series; pass one of them")
        if dataset:
            if data and data_file and data != data_file:
                raise RelulabError(f"--data {data} and --data-file {data_file} both name the "
                                   f"local copy of {dataset}; pass one of them")
            return cls("dataset", path=data_file or data or None, name=dataset,
                       column=column, date_column=date_column, date_format=date_format)
        if data_file:
            raise RelulabError("--data-file is the local copy of a --dataset; add --dataset "
                               "hotel-h1|hotel-h2, or pass a plain series CSV with --data")
        if data and bundled:
            raise RelulabError("--data and --bundled both name a series; pass one of them")
        if data:
            return cls("csv", path=data, column=column, date_column=date_column,
                       date_format=date_format)
        if bundled:
            return cls("bundled", name=bundled, column=column, date_column=date_column,
                       date_format=date_format)
        raise RelulabError("no series given; pass --data FILE, --dataset NAME or --bundled NAME")

    @classmethod
    def from_string(cls, data: str, *, column: str | None = None,
                    date_column: str | None = None,
                    date_format: str | None = None) -> DataSource:
        """Parse a stored ``StudyConfig.data`` string (see the module docstring).

        ``column``, ``date_column`` and ``date_format`` are kept for a CSV and ignored
        otherwise, as stored configs of named series may carry them.
        """
        kind, _, rest = str(data).partition(":")
        if kind == "panel" and rest:
            return cls("panel", path=rest, column=column, date_column=date_column,
                       date_format=date_format)
        if kind == "bundled" and rest:
            return cls("bundled", name=rest)
        if kind == "dataset" and rest:
            name, _, local = rest.partition(":")
            return cls("dataset", path=local or None, name=name)
        return cls("csv", path=str(data), column=column, date_column=date_column,
                   date_format=date_format)

    @classmethod
    def from_config(cls, config: StudyConfig) -> DataSource | None:
        """The source ``config.data`` (with its ``column``, ``date_column`` and
        ``date_format``) names; None if unset."""
        if not config.data:
            return None
        return cls.from_string(config.data, column=config.column,
                               date_column=config.date_column,
                               date_format=config.date_format)

    # ------------------------------------------------------------------ uses

    def config_fields(self) -> dict[str, Any]:
        """``data``, ``column``, ``date_column`` and ``date_format`` for
        ``StudyConfig.replace(**...)``."""
        if self.kind == "csv":
            data = self.path
        elif self.kind == "panel":
            data = f"panel:{self.path}"
        elif self.kind == "bundled":
            data = f"bundled:{self.name}"
        else:
            data = f"dataset:{self.name}" + (f":{self.path}" if self.path else "")
        return {"data": data, "column": self.column, "date_column": self.date_column,
                "date_format": self.date_format}

    def load(self) -> Series:
        """The series, loaded: every way it can fail is one :class:`RelulabError`."""
        if self.kind == "panel":
            raise RelulabError(f"{self} holds many series; read it with "
                               "DataSource.load_panel (relulab study --panel), or pass one "
                               "series")
        if self.kind == "csv":
            return load_series(self.path, column=self.column, date_column=self.date_column,
                               date_format=self.date_format)
        if self.kind == "bundled":
            return bundled(str(self.name))
        return load_dataset(str(self.name), data=self.path)

    def load_panel(self, **options: Any) -> Any:
        """The panel a ``panel`` source names (:func:`relulab.data.load_panel`, with
        ``options``: ``id_column``, ``columns``, ``series``, ``series_ids``, ``progress``)."""
        from relulab.data.panel import load_panel

        if self.kind != "panel":
            raise RelulabError(f"{self} is one series, not a panel; pass --panel FILE")
        return load_panel(self.path, column=self.column, date_column=self.date_column,
                          date_format=self.date_format, **options)

    def __str__(self) -> str:
        if self.kind == "panel":
            return f"panel {self.path}"
        if self.kind == "csv":
            chosen = [f"{what} {c!r}" for what, c in (("column", self.column),
                                                       ("date column", self.date_column),
                                                       ("date format", self.date_format)) if c]
            return f"CSV file {self.path}" + (f" ({', '.join(chosen)})" if chosen else "")
        if self.kind == "bundled":
            return f"bundled series {self.name}"
        where = (f"local copy {self.path}" if self.path else "from the cache or downloaded")
        return f"data set {self.name} ({where})"
