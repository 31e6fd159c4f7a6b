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
of the file: the study's plan (:func:`relulab.study.make_plan`) leaves it out with a warning
naming it (and refuses only when no series is left), so one short store of a chain does
not stop a study of the others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relulab.data.dates import frequency, off_step, parse_dates, swapped, to_text
from relulab.data.series import Series
from relulab.data.user import (
    _KEY_NAME,
    EXACT_FLOATS,
    _columns_list,
    _detect_date_column,
    _numeric_like,
    _numeric_values,
    checked_dates,
    checked_values,
    csv_errors,
    csv_format,
    not_a_number,
    parse_numbers,
    read_csv,
    switched_order,
)
from relulab.errors import RelulabError

__all__ = ["Panel", "load_panel", "mixed_frequencies"]

_ID_NAMES = ("unique_id", "series_id", "id", "series")
# What pandas reads as missing by default (read_csv's documented list): in a long table
# only the value column reads them so; ids and dates keep them as text ("NA" is an id).
_NA_TEXT = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
            "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
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


class _LongRows:
    """A long table's rows, read chunk by chunk, kept only for the series asked for.

    Ids and date texts are coded once per distinct value (a 200 MB panel holds millions of
    rows but some thousands of ids and hundreds of dates), so the rows kept are four small
    numbers each: file position, id code, date code, value. Codes are given in order of
    first appearance, so ``series=N`` keeps ids coded below N, the file's first N series.
    """

    def __init__(self, what: str, locate: Callable[[int], str], id_column: Any,
                 value_column: Any, series: int | None, series_ids: Sequence[str] | None
                 ) -> None:
        self.what, self.locate = what, locate
        self.id_column, self.value_column = id_column, value_column
        self.first_n = None if series is None else int(series)
        self.named = None if series_ids is None else [str(i) for i in series_ids]
        self.ids: dict[str, int] = {}
        self.wanted = np.zeros(0, dtype=bool)  # per id code
        self.dates: dict[str, int] = {}
        self.date_rows: list[int] = []  # the first row holding each date text
        self.parts: list[tuple[np.ndarray, ...]] = []

    @staticmethod
    def _code(column: pd.Series, table: dict[str, int]) -> tuple[np.ndarray, list[str], int]:
        """Each row's code in ``table`` (-1 for a missing cell), new texts coded in order
        of first appearance; the chunk's distinct texts; how many codes ``table`` held
        before."""
        codes, uniques = pd.factorize(column.to_numpy(dtype=object))
        texts = [str(u) for u in uniques]  # text: 7 and "7" are one id
        known = len(table)
        coded = np.fromiter((table.setdefault(u, len(table)) for u in texts),
                            dtype=np.int32, count=len(texts))
        return np.append(coded, np.int32(-1))[codes], texts, known

    def add(self, ids: pd.Series, dates: pd.Series, values: pd.Series, offset: int) -> None:
        """One chunk: ``ids`` and ``dates`` as text (missing as NaN or blank), ``values`` as
        read; ``offset`` is the chunk's first row in the table."""
        ids_global, texts, known = self._code(ids, self.ids)
        blank = [self.ids[u] for u in texts if not u.strip()]
        missing = (ids_global < 0) | np.isin(ids_global, blank)
        if missing.any():
            i = offset + int(np.flatnonzero(missing)[0])
            raise RelulabError(f"{self.what}: {self.locate(i)} has no id in column "
                               f"{self.id_column!r}; fill it or drop the row")
        if len(self.ids) > known:
            new = list(self.ids)[known:]
            if self.named is not None:
                keep = np.array([i in self.named for i in new], dtype=bool)
            elif self.first_n is not None:
                keep = np.arange(known, len(self.ids)) < self.first_n
            else:
                keep = np.ones(len(new), dtype=bool)
            self.wanted = np.concatenate([self.wanted, keep])
        rows = np.flatnonzero(self.wanted[ids_global])
        # Every row's date text is coded, so the column's format is read from all of it;
        # each new text's first row names it in messages (codes ascend in order of adding).
        dates_global, _, known = self._code(dates, self.dates)
        fresh = np.flatnonzero(dates_global >= known)
        _, first = np.unique(dates_global[fresh], return_index=True)
        self.date_rows += list(offset + fresh[first])
        if not rows.size:
            return
        kept_values = values.iloc[rows]
        numbers, bad = parse_numbers(kept_values)
        if bad is not None:
            i = int(rows[bad])
            raise not_a_number(kept_values.iloc[bad], self._label(ids_global[i]),
                               self.locate(offset + i))
        self.parts.append(((offset + rows).astype(np.int64), ids_global[rows],
                           dates_global[rows], numbers))

    def _take_parts(self) -> list[np.ndarray]:
        """The kept rows' positions, id codes, date codes and values, each one array (the
        chunks' pieces freed as each is joined)."""
        out = []
        for k, empty in enumerate((np.int64, np.int32, np.int32, np.float64)):
            pieces = [p[k] for p in self.parts]
            out.append(np.concatenate(pieces) if pieces else np.zeros(0, dtype=empty))
            self.parts = [(*p[:k], None, *p[k + 1:]) for p in self.parts]
        self.parts = []
        return out

    def _refuse_reordering(self, rows: np.ndarray, ids: np.ndarray, when: np.ndarray,
                           dcodes: np.ndarray, texts: list[str], date_col: Any,
                           parsed: Any) -> None:
        """Dates whose day/month order one value decided are not trusted to reorder rows
        (:class:`relulab.data.dates.ParsedDates`): each series' rows must already run in
        date order in the file."""
        by_id = np.argsort(ids, kind="stable")  # each series' rows, in the file's order
        same = ids[by_id][1:] == ids[by_id][:-1]
        back = np.flatnonzero(same & (when[by_id][1:] < when[by_id][:-1])) + 1
        if not back.size:
            return
        k = int(back[np.argmin(rows[by_id][back])])
        i, before = int(by_id[k]), int(by_id[k - 1])
        raise RelulabError(
            f"{self._label(int(ids[i]))}: rows are not in date order as the dates read "
            f"({parsed.format}, the order {parsed.settled_by} shows): "
            f"{self.locate(int(rows[i]))} ({texts[dcodes[i]]}) comes after "
            f"{texts[dcodes[before]]}; if the column switches between day-first and "
            f"month-first, write every date one way; else pass --date-format "
            f"{parsed.format} to have the rows sorted by it")

    def _label(self, code: int) -> str:
        return f"series {list(self.ids)[code]!r} of {self.what}"

    def series(self, date_col: Any, date_format: str | None) -> dict[str, Series]:
        """The series asked for, each in date order, in the file's order (or as named)."""
        names = list(self.ids)
        if self.named is not None:
            absent = [i for i in self.named if i not in self.ids]
            if absent:
                shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
                raise RelulabError(f"{self.what} has no series {absent[0]!r} ({len(names)} "
                                   f"series: {shown}); check --series-ids")
        texts = list(self.dates)
        first_rows = np.asarray(self.date_rows, dtype=np.int64)
        parsed = parse_dates(pd.Series(texts, dtype=object), date_format=date_format,
                             what=self.what, column=date_col,
                             locate=lambda k: self.locate(int(first_rows[k])), strict=False)
        stamps = pd.DatetimeIndex(parsed.dates)
        rows, ids, dcodes, values = self._take_parts()
        bad = np.flatnonzero((dcodes < 0) | np.isin(dcodes, np.flatnonzero(stamps.isna())))
        if bad.size:
            i = int(bad[0])
            label = self._label(int(ids[i]))
            if dcodes[i] < 0 or not texts[dcodes[i]].strip():
                raise RelulabError(f"{label}: {self.locate(int(rows[i]))} has no date in "
                                   f"column {date_col!r}; fill it or drop the row")
            raise RelulabError(f"{label}: {self.locate(int(rows[i]))} has date "
                               f"{texts[dcodes[i]]!r}, which is not a date "
                               f"({_format_words(parsed.format)}); correct it")
        # Each series in date order: rank the distinct dates once, sort rows by (id, rank);
        # the sort is stable, so two rows of one series and date keep the file's order.
        # Texts of one date ("2015-01-05", "2015-1-5") share a rank.
        rank = np.unique(stamps.as_unit("s").asi8, return_inverse=True)[1].astype(np.int32)
        if parsed.settled_by is not None:
            self._refuse_reordering(rows, ids, rank[dcodes], dcodes, texts, date_col, parsed)
        when = rank[dcodes] if dcodes.size else dcodes
        order = np.lexsort((when, ids))
        del when
        rows = rows[order]
        ids = ids[order]
        dcodes = dcodes[order]
        values = values[order]
        del order
        when = rank[dcodes] if dcodes.size else dcodes
        same = np.flatnonzero((ids[1:] == ids[:-1]) & (when[1:] == when[:-1])) + 1
        if same.size:
            i = int(same[np.argmin(rows[same])])
            raise RelulabError(f"{self.what}: series {names[ids[i]]!r} has two rows for "
                               f"{texts[dcodes[i]]} (the second at "
                               f"{self.locate(int(rows[i]))}); keep one row per series and "
                               "date")
        if parsed.settled_by is not None and dcodes.size:
            others = pd.DatetimeIndex(swapped(texts, parsed.format))
            found_off = off_step(stamps[dcodes], others[dcodes], ids)
            if found_off is not None:
                i, step = found_off
                raise RelulabError(switched_order(
                    self._label(int(ids[i])),
                    f"{self.locate(int(rows[i]))} holds {texts[dcodes[i]]!r}", date_col,
                    parsed, step))
        problem = np.flatnonzero(~np.isfinite(values))
        if problem.size:
            i = int(problem[np.argmin(rows[problem])])
            mine = np.flatnonzero(ids == ids[i])
            checked_values(values[mine], self._label(int(ids[i])),
                           lambda j: self.locate(int(rows[mine][j])), whole=False)
        text = to_text(stamps) if len(stamps) else np.zeros(0, dtype=object)
        bounds = np.flatnonzero(np.diff(ids)) + 1
        starts = np.concatenate([[0], bounds]) if ids.size else np.zeros(0, dtype=np.int64)
        ends = np.concatenate([bounds, [ids.size]]) if ids.size else starts
        found = {names[int(ids[a])]: (a, b) for a, b in zip(starts, ends, strict=True)}
        wanted = self.named if self.named is not None else list(found)
        return {key: Series(values[found[key][0]:found[key][1]], key,
                            tuple(text[dcodes[found[key][0]:found[key][1]]]), self.what)
                for key in dict.fromkeys(wanted)}


def _format_words(fmt: str) -> str:
    return f"the column is read as {fmt}" if "%" in fmt else f"the column holds {fmt} dates"


def _long_columns(head: pd.DataFrame, id_column: Any, date_column: Any, column: Any,
                  what: str) -> tuple[Any, Any, Any]:
    """The id, date and value columns of a long table, from its first rows."""
    if id_column is None:
        found = [c for c in head.columns if str(c).lower() in _ID_NAMES]
        if len(found) != 1:
            raise RelulabError(f"{what} has no id column (columns: {_columns_list(head)}); "
                               "name the column that says which series a row belongs to "
                               "with --id-column")
        id_column = found[0]
    elif id_column not in head.columns:
        raise RelulabError(f"{what} has no id column {id_column!r}; available columns: "
                           f"{_columns_list(head)}; pass one of them with --id-column")
    date_col = _date_column(head.drop(columns=[id_column]), date_column, what)
    if column is None:
        numeric = [c for c in head.columns if c not in (id_column, date_col)
                   and _numeric_like(head[c])]
        values = [c for c in numeric if not _KEY_NAME.fullmatch(str(c))] or numeric
        if len(values) != 1:
            raise RelulabError(f"{what} has {len(values)} value columns "
                               f"({', '.join(map(str, values)) or 'none'}); choose one with "
                               "--column NAME")
        column = values[0]
    elif column not in head.columns:
        raise RelulabError(f"{what} has no column {column!r}; available columns: "
                           f"{_columns_list(head)}; pass one of them with --column")
    return id_column, date_col, column


def _from_wide(frame: pd.DataFrame, date_column: Any, columns: Any, what: str,
               locate: Any, date_format: str | None) -> tuple[dict[str, Series], list]:
    date_col = _date_column(frame, date_column, what)
    left_out: list[tuple[str, str]] = []
    if columns is None or columns == "all":
        chosen = [c for c in frame.columns if c != date_col and _numeric_like(frame[c])]
        for c in frame.columns:
            if c == date_col or c in chosen:
                continue
            present = frame[c].dropna()
            present = present[present.astype(str).str.strip() != ""]
            if present.empty:
                why = "holds no value"
            else:
                numbers, _ = parse_numbers(present)
                why = (f"holds text, not numbers, in {int(np.isnan(numbers).sum())} of its "
                       f"{len(present)} cells (e.g. {present.iloc[0]!r} at "
                       f"{locate(int(present.index[0]))})")
            left_out.append((str(c), f"column {str(c)!r} left out: it {why}, so it is no "
                                     "series (name it in --columns to have each cell "
                                     "checked)"))
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
    raw_dates = frame[date_col].reset_index(drop=True)
    how = parse_dates(raw_dates, date_format=date_format, what=what, column=date_col,
                      locate=locate, strict=False)
    dates = how.dates
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
        stamps = checked_dates(dates.iloc[first:last + 1].reset_index(drop=True),
                               raw_dates.iloc[first:last + 1].reset_index(drop=True), label,
                               date_col, here, how)
        out[str(c)] = Series(values, str(c), stamps, what)
    return out, left_out


# Rows a long CSV is read in: big enough that pandas' per-chunk cost is small, small enough
# that a chunk's text columns stay some tens of MB.
_CHUNK_ROWS = 1 << 18
_HEAD_ROWS = 10_000  # what decides the layout and the columns


def _read_long_csv(path: Path, fmt: Any, rows: _LongRows, columns: tuple[Any, Any, Any],
                   progress: Callable[[int, int], None] | None) -> None:
    id_col, date_col, value_col = columns
    total = path.stat().st_size
    with open(path, "rb") as handle, csv_errors(path, fmt):
        # Ids and dates stay text: "NA" is an id, not a missing one, and only the value
        # column has missing cells.
        reader = pd.read_csv(handle, sep=fmt.sep, decimal=fmt.decimal,
                             usecols=[id_col, date_col, value_col],
                             dtype={id_col: object, date_col: object},
                             keep_default_na=False, na_values={value_col: _NA_TEXT},
                             chunksize=_CHUNK_ROWS, encoding="utf-8-sig", **EXACT_FLOATS)
        offset = 0
        with reader:
            for chunk in reader:
                rows.add(chunk[id_col], chunk[date_col], chunk[value_col], offset)
                offset += len(chunk)
                if progress is not None:
                    progress(min(handle.tell(), total), total)
    if offset == 0:
        raise RelulabError(f"data file {path} has a header but no data rows; add the data")


def load_panel(source: Any, *, layout: str = "auto", id_column: Any = None,
               date_column: Any = None, column: Any = None, columns: Any = None,
               series: int | None = None, series_ids: Sequence[str] | None = None,
               date_format: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> Panel:
    """A :class:`Panel` from a CSV path or a DataFrame, long or wide (module docstring).

    ``layout="auto"`` reads a table as long when ``id_column`` is given or one column is
    named like an id (``unique_id``, ``series_id``, ``id``, ``series``), else as wide.
    Dates are read in ``date_format`` or in the one format the date column shows
    (:mod:`relulab.data.dates`). A long CSV is read in chunks, keeping only the rows of the
    series asked for; ``progress(bytes_read, file_size)`` is called after each chunk.
    """
    if layout not in ("auto", "long", "wide"):
        raise RelulabError(f"unknown panel layout {layout!r}; choose long, wide or auto")
    if series is not None and int(series) < 1:
        raise RelulabError(f"--series must be at least 1, got {series}")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what, origin = f"panel {path.name}", str(path)

        def locate(i: int) -> str:
            return f"row {i + 1} (line {i + 2} of {path.name})"
        fmt = csv_format(path)
        frame = read_csv(path, nrows=_HEAD_ROWS)
    elif isinstance(source, pd.DataFrame):
        path = fmt = None
        frame, what, origin = source.reset_index(drop=True), "the panel DataFrame", "DataFrame"

        def locate(i: int) -> str:
            return f"row {i}"
    else:
        raise RelulabError("a panel comes from a CSV path or a pandas DataFrame, got "
                           f"{type(source).__name__}")
    if frame.empty:
        raise RelulabError(f"{what} holds no rows; pass a table with a header and data")
    long = layout == "long" or (layout == "auto" and (
        id_column is not None or any(str(c).lower() in _ID_NAMES for c in frame.columns)))
    left_out: list[tuple[str, str]] = []
    if long:
        if columns is not None:
            raise RelulabError("--columns picks the series of a wide table; a long table "
                               "names them in its id column: use --series-ids")
        chosen = _long_columns(frame, id_column, date_column, column, what)
        rows = _LongRows(what, locate, chosen[0], chosen[2], series, series_ids)
        if path is not None:
            _read_long_csv(path, fmt, rows, chosen, progress)
        else:
            rows.add(frame[chosen[0]], frame[chosen[1]], frame[chosen[2]], 0)
        found = rows.series(chosen[1], date_format)
    else:
        if column is not None:
            raise RelulabError("--column picks the value column of a long table; a wide "
                               "table has one column per series: use --columns")
        if path is not None and len(frame) == _HEAD_ROWS:
            frame = read_csv(path)
        found, left_out = _from_wide(frame, date_column, columns, what, locate, date_format)
        found = _subset(found, series, series_ids, what)
    return Panel(found, origin, tuple(left_out))


def mixed_frequencies(panel: Panel) -> str | None:
    """A warning when the panel's series are spaced differently (monthly beside quarterly,
    ...), naming how many of each; None when they share one spacing (or have no dates)."""
    counts: dict[str, int] = {}
    for s in panel.series.values():
        name = frequency(s.dates)
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    if len(counts) < 2:
        return None
    listed = ", ".join(f"{n} {name}" for name, n in sorted(counts.items(),
                                                             key=lambda kv: -kv[1]))
    return (f"the panel mixes frequencies ({listed} series): the pooled ranks compare "
            "activations across unlike series, and one --season serves them all; to pool "
            "like with like, study each frequency on its own (--series-ids)")
