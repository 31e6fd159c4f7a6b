"""Many series at once: a panel, from a long or a wide table.

Forecasting libraries take panels as a matter of course. Two layouts are read:

- **long**: one row per series and time point, with an id column, a date column and a value
  column (``unique_id, ds, y`` in NeuralForecast's and statsforecast's words). The id column
  is ``id_column`` or the one column named ``unique_id``, ``series_id``, ``id`` or
  ``series``; rows may come in any order (each series is sorted by date);
- **wide**: one column per series, one row per time point, with a date column; ``columns``
  picks them (``"all"``, the default: every numeric column but the date).

Series may start and end at different dates and differ in length (*ragged*): in a wide
table a series' leading and trailing blanks are not part of it; a blank *inside* a series
is an error naming the series and the row. Each series keeps the file's order; ``series``
takes the first N, ``series_ids`` the named ones (in the order named).

Every problem is one :class:`~relulab.errors.RelulabError` that names the series, the row
and the fix: a missing id column, a duplicate (id, date) row, a value that is not a number,
an id asked for that is not there. A series too short for a study's windows is not an error
of the file: :func:`fit_panel` leaves it out with a warning naming it (and refuses only when
no series is left), so one short store of a chain does not stop a study of the others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relulab.data.series import Series
from relulab.data.user import (
    _KEY_NAME,
    _columns_list,
    _detect_date_column,
    _iso_dates,
    _numeric_like,
    _numeric_values,
    _parse_dates,
    read_csv,
)
from relulab.errors import RelulabError

if TYPE_CHECKING:
    from relulab.config import StudyConfig

__all__ = ["Panel", "fit_panel", "load_panel"]

_ID_NAMES = ("unique_id", "series_id", "id", "series")
# Period-like date columns that are not ISO dates ("1998-Q1", "2019 Sep"): named so, and
# every value parses as a date.
_PERIOD_NAME = re.compile(r"(quarter|month|week|period|year_?month|year_?quarter|ds|date)",
                          re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Panel:
    """Series by id, in the file's order, and where they came from."""

    series: dict[str, Series]
    source: str = ""
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (id, why) left out

    def __len__(self) -> int:
        return len(self.series)

    def __iter__(self) -> Iterator[str]:
        return iter(self.series)

    def __getitem__(self, series_id: str) -> Series:
        return self.series[series_id]

    @property
    def ids(self) -> list[str]:
        return list(self.series)

    def lengths(self) -> dict[str, int]:
        return {k: len(s) for k, s in self.series.items()}


def _date_column(frame: pd.DataFrame, date_column: Any, what: str) -> Any:
    if date_column is not None:
        if date_column not in frame.columns:
            raise RelulabError(f"{what} has no column {date_column!r}; available columns: "
                               f"{_columns_list(frame)}; pass one of them with --date-column")
        return date_column
    found = _detect_date_column(frame)
    if found is not None:
        return found
    named = [c for c in frame.columns if _PERIOD_NAME.fullmatch(str(c))
             and not pd.api.types.is_numeric_dtype(frame[c])]
    if len(named) == 1:
        return named[0]  # a value that is not a date is then named where it stands
    raise RelulabError(f"{what} has no date column (columns: {_columns_list(frame)}); a panel "
                       "needs one to line its series up; name it with --date-column")


def _subset(series: dict[str, Series], n: int | None, ids: Sequence[str] | None,
            what: str) -> dict[str, Series]:
    if ids is not None:
        ids = [str(i) for i in ids]
        missing = [i for i in ids if i not in series]
        if missing:
            shown = ", ".join(list(series)[:5]) + (", ..." if len(series) > 5 else "")
            raise RelulabError(f"{what} has no series {missing[0]!r} ({len(series)} series: "
                               f"{shown}); check --series-ids")
        series = {i: series[i] for i in dict.fromkeys(ids)}
    if n is not None:
        if int(n) < 1:
            raise RelulabError(f"--series must be at least 1, got {n}")
        series = dict(list(series.items())[:int(n)])
    return series


def _from_long(frame: pd.DataFrame, id_column: Any, date_column: Any, column: Any,
               what: str, locate: Any) -> dict[str, Series]:
    if id_column is None:
        found = [c for c in frame.columns if str(c).lower() in _ID_NAMES]
        if len(found) != 1:
            raise RelulabError(f"{what} has no id column (columns: {_columns_list(frame)}); "
                               "name the column that says which series a row belongs to "
                               "with --id-column")
        id_column = found[0]
    elif id_column not in frame.columns:
        raise RelulabError(f"{what} has no id column {id_column!r}; available columns: "
                           f"{_columns_list(frame)}; pass one of them with --id-column")
    date_col = _date_column(frame.drop(columns=[id_column]), date_column, what)
    if column is None:
        numeric = [c for c in frame.columns if c not in (id_column, date_col)
                   and _numeric_like(frame[c])]
        values = [c for c in numeric if not _KEY_NAME.fullmatch(str(c))] or numeric
        if len(values) != 1:
            raise RelulabError(f"{what} has {len(values)} value columns "
                               f"({', '.join(map(str, values)) or 'none'}); choose one with "
                               "--column NAME")
        column = values[0]
    elif column not in frame.columns:
        raise RelulabError(f"{what} has no column {column!r}; available columns: "
                           f"{_columns_list(frame)}; pass one of them with --column")
    ids = frame[id_column]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise RelulabError(f"{what}: {locate(i)} has no id in column {id_column!r}; fill it "
                           "or drop the row")
    dates = _parse_dates(frame[date_col])
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise RelulabError(f"{what}: {locate(i)} (series {ids.iloc[i]!r}) has date "
                           f"{frame[date_col].iloc[i]!r}, which is not a date; correct it")
    dup = pd.DataFrame({"id": ids.astype(str), "date": dates}).duplicated(keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise RelulabError(f"{what}: series {ids.iloc[i]!r} has two rows for "
                           f"{frame[date_col].iloc[i]} (the second at {locate(i)}); keep one "
                           "row per series and date")
    out: dict[str, Series] = {}
    positions = pd.Series(np.arange(len(frame)))
    for key in pd.unique(ids.astype(str)):
        rows = positions[(ids.astype(str) == key).to_numpy()].to_numpy()
        rows = rows[np.argsort(dates.iloc[rows].to_numpy(), kind="stable")]
        sub = frame.iloc[rows]

        def here(j: int, rows: np.ndarray = rows) -> str:
            return locate(int(rows[j]))

        label = f"series {key!r} of {what}"
        values = _numeric_values(sub[column].reset_index(drop=True), label, here, whole=False)
        stamps = _iso_dates(dates.iloc[rows].reset_index(drop=True), label, date_col, here)
        out[key] = Series(values, key, stamps, what)
    return out


def _from_wide(frame: pd.DataFrame, date_column: Any, columns: Any, what: str,
               locate: Any) -> dict[str, Series]:
    date_col = _date_column(frame, date_column, what)
    if columns is None or columns == "all":
        chosen = [c for c in frame.columns if c != date_col and _numeric_like(frame[c])]
        if not chosen:
            raise RelulabError(f"{what} has no numeric series column (columns: "
                               f"{_columns_list(frame)}); a wide panel has one column per "
                               "series")
    else:
        chosen = [c for c in columns]
        missing = [c for c in chosen if c not in frame.columns]
        if missing:
            raise RelulabError(f"{what} has no column {missing[0]!r}; available columns: "
                               f"{_columns_list(frame)}; check --columns")
    dates = frame[date_col].reset_index(drop=True)
    out: dict[str, Series] = {}
    for c in chosen:
        raw = frame[c].reset_index(drop=True)
        blank = raw.isna() | raw.map(lambda v: isinstance(v, str) and not v.strip())
        present = np.flatnonzero(~blank.to_numpy())
        if present.size == 0:
            raise RelulabError(f"{what}: column {c!r} holds no value; drop it or leave it out "
                               "of --columns")
        first, last = int(present[0]), int(present[-1])

        def here(j: int, first: int = first) -> str:
            return locate(first + j)

        label = f"series {str(c)!r} of {what}"
        values = _numeric_values(raw.iloc[first:last + 1], label, here, whole=False)
        stamps = _iso_dates(dates.iloc[first:last + 1].reset_index(drop=True), label,
                            date_col, here)
        out[str(c)] = Series(values, str(c), stamps, what)
    return out


def load_panel(source: Any, *, layout: str = "auto", id_column: Any = None,
               date_column: Any = None, column: Any = None, columns: Any = None,
               series: int | None = None, series_ids: Sequence[str] | None = None) -> Panel:
    """A :class:`Panel` from a CSV path or a DataFrame, long or wide (module docstring).

    ``layout="auto"`` reads a table as long when ``id_column`` is given or one column is
    named like an id (``unique_id``, ``series_id``, ``id``, ``series``), else as wide.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        frame = read_csv(path)
        what, origin = f"panel {path.name}", str(path)

        def locate(i: int) -> str:
            return f"row {i + 1} (line {i + 2} of {path.name})"
    elif isinstance(source, pd.DataFrame):
        frame, what, origin = source.reset_index(drop=True), "the panel DataFrame", "DataFrame"

        def locate(i: int) -> str:
            return f"row {i}"
    else:
        raise RelulabError("a panel comes from a CSV path or a pandas DataFrame, got "
                           f"{type(source).__name__}")
    if layout not in ("auto", "long", "wide"):
        raise RelulabError(f"unknown panel layout {layout!r}; choose long, wide or auto")
    if frame.empty:
        raise RelulabError(f"{what} holds no rows; pass a table with a header and data")
    long = layout == "long" or (layout == "auto" and (
        id_column is not None or any(str(c).lower() in _ID_NAMES for c in frame.columns)))
    if long:
        if columns is not None:
            raise RelulabError("--columns picks the series of a wide table; a long table "
                               "names them in its id column: use --series-ids")
        found = _from_long(frame, id_column, date_column, column, what, locate)
    else:
        if column is not None:
            raise RelulabError("--column picks the value column of a long table; a wide "
                               "table has one column per series: use --columns")
        found = _from_wide(frame, date_column, columns, what, locate)
    return Panel(_subset(found, series, series_ids, what), origin)


def fit_panel(panel: Panel, config: StudyConfig) -> tuple[Panel, list[str]]:
    """``panel`` less the series too short (or scaled beyond float32) for ``config``, and
    one warning per series left out, naming it and why. Refuses when none is left."""
    from relulab.data.series import check_series

    kept: dict[str, Series] = {}
    skipped: list[tuple[str, str]] = []
    for key, s in panel.series.items():
        try:
            check_series(s, config)
        except RelulabError as err:
            skipped.append((key, str(err)))
            continue
        kept[key] = s
    if not kept:
        why = skipped[0][1] if skipped else "the panel is empty"
        raise RelulabError(f"no series of the panel suits the study ({len(skipped)} left out; "
                           f"the first: {why})")
    warnings = [f"series {key!r} left out: {why}" for key, why in skipped]
    return Panel(kept, panel.source, (*panel.skipped, *skipped)), warnings
