"""A user's series: a CSV file, a pandas Series or DataFrame, or an array.

Every problem a user's data can have (a missing file or column, a non-numeric cell, NaN/inf,
a constant or too short series) raises one :class:`~relulab.errors.RelulabError` that names
the input, the problem and the fix.

CSV files may be separated by ``,`` ``;`` tab or ``|`` (:func:`sniff_format` decides from the
first rows). A file separated by something other than commas may write decimals with a comma
(``1,5``), as spreadsheets in many locales save it: it is read that way when its numbers have
decimal commas and none has a decimal point; a file mixing both is refused, naming the cell.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from relulab.data.dates import (
    ParsedDates,
    looks_like_dates,
    off_step,
    parse_dates,
    step_words,
    swapped,
    to_text,
)
from relulab.data.series import MIN_POINTS, Series
from relulab.errors import RelulabError


def load_series(
    source: Any,
    *,
    column: str | None = None,
    date_column: str | None = None,
    name: str | None = None,
    date_format: str | None = None,
) -> Series:
    """A :class:`Series` from a CSV path, a pandas Series/DataFrame, or an array/list.

    For tables, ``column`` picks the values; without it the one numeric column that is not
    a date or an index-like key (``year_week``, ``year``, ``id``, ...) is used. A date column
    is taken from ``date_column`` or detected when one column holds only dates. Its dates
    are read in ``date_format`` (strftime's codes, e.g. ``"%d/%m/%Y"``) or in the one format
    its values show (:mod:`relulab.data.dates`: a column whose day and month no value tells
    apart is refused, never guessed); they must increase, and rows are never reordered.
    """
    if isinstance(source, Series):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        frame = read_csv(path)
        return _from_frame(frame, column, date_column, name, f"data file {path}", str(path),
                           _csv_locator(path), default_name=path.stem,
                           date_format=date_format)
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, column, date_column, name, "the DataFrame",
                           "pandas.DataFrame", _label_locator(source.index),
                           date_format=date_format)
    if isinstance(source, pd.Series):
        if column is not None or date_column is not None or date_format is not None:
            raise RelulabError("column/date_column/date_format apply to tables; pass a "
                               "DataFrame instead")
        what = f"series {source.name!r}" if source.name is not None else "the pandas Series"
        values = _numeric_values(source, what, _label_locator(source.index))
        dates = (_dates(pd.Series(source.index), what, "index", _position_locator)
                 if isinstance(source.index, pd.DatetimeIndex) else None)
        label = name or (str(source.name) if source.name is not None else "series")
        return Series(values, label, dates, "pandas.Series")
    if column is not None or date_column is not None or date_format is not None:
        raise RelulabError("column/date_column/date_format apply to tables; pass a CSV path "
                           "or DataFrame")
    arr = np.asarray(source)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise RelulabError(
            f"the array has shape {arr.shape}; pass a 1-D array (one value per time step)"
        )
    values = _numeric_values(pd.Series(arr, dtype=object if arr.dtype.kind in "OUS" else None),
                             "the array", _position_locator)
    return Series(values, name or "series", None, "array")


SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_BYTES = 1 << 16  # the first 64 KiB decide the format; rows beyond it follow it
_SNIFF_ROWS = 50
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_DECIMAL_POINT = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")


class CsvFormat(NamedTuple):
    """How a CSV file is written: its field separator and decimal mark, or why it is unclear
    (``problem``, the rest of an error sentence that begins with the file's name)."""

    sep: str = ","
    decimal: str = "."
    problem: str | None = None


def sniff_format(text: str) -> CsvFormat:
    """The separator and decimal mark of CSV ``text`` (its first rows suffice).

    A separator is *consistent* when it splits the header and every sample row into the
    same number (> 1) of fields, quotes respected. Comma wins when it is consistent; else
    the one consistent separator; else, when the header splits on no comma but on another
    separator, that one (the rows are ragged and pandas will say where). Two layouts that
    pandas would misread without a word are reported as a ``problem``: rows with one comma
    field more than the header (pandas takes the first as an index; here it is decimal
    commas in a comma-separated file), and a header split both by commas and by another
    separator. Decimal commas: see the module docstring.

    >>> sniff_format("date;value\n2020-01-01;1,5\n2020-01-02;2,25\n")
    CsvFormat(sep=';', decimal=',', problem=None)
    """
    lines = [line for line in text.splitlines() if line.strip()][: _SNIFF_ROWS + 1]
    if not lines:
        return CsvFormat()
    rows = {s: list(csv.reader(lines, delimiter=s)) for s in SEPARATORS}
    counts = {s: [len(row) for row in r] for s, r in rows.items()}
    consistent = [s for s, c in counts.items() if c[0] > 1 and all(k == c[0] for k in c)]
    if "," in consistent:
        return CsvFormat()
    if len(consistent) == 1:
        sep = consistent[0]
    else:
        commas = counts[","]
        body = set(commas[1:])
        if len(body) == 1 and body.pop() == commas[0] + 1:
            return CsvFormat(problem=(
                f"has {commas[0] + 1} comma-separated fields in every row but {commas[0]} in "
                f"its header: decimal commas (1,5)? write decimals with a point (1.5), or "
                f"separate the fields with ; and keep the decimal commas"))
        others = [s for s in SEPARATORS if s != "," and counts[s][0] > 1]
        if len(others) != 1:
            return CsvFormat()
        if commas[0] > 1:
            return CsvFormat(problem=(
                f"looks {SEPARATORS[others[0]]}-separated, but its header also splits at "
                f"commas and no separator splits every row like the header; save it with one "
                f"separator, every row with the header's number of fields"))
        sep = others[0]
    cells = [c.strip() for row in rows[sep][1:] for c in row]
    decimal = ("," if any(_DECIMAL_COMMA.fullmatch(c) for c in cells)
               and not any(_DECIMAL_POINT.fullmatch(c) for c in cells) else ".")
    return CsvFormat(sep, decimal)


def _sniff_file(path: Path) -> CsvFormat:
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return CsvFormat()  # pandas raises the same error with its own words below
    text = head.decode("utf-8-sig", errors="replace")
    if len(head) == _SNIFF_BYTES:
        text = text.rsplit("\n", 1)[0]  # the last line may be cut short
    return sniff_format(text)


# pandas' default float parser may miss the nearest double by an ulp (pandas 2.x): a value
# written with repr must read back as the same float, or a study of a file differs from the
# study of the numbers in it.
EXACT_FLOATS: dict[str, Any] = {"float_precision": "round_trip"}


def read_csv(path: Path, usecols: Callable[[str], bool] | None = None,
             **options: Any) -> pd.DataFrame:
    """``pandas.read_csv`` with each way a file can be unreadable turned into one clear error.

    The separator and decimal mark are detected (:func:`sniff_format`); ``options`` go to
    pandas (``nrows``, ``dtype``, ...). Numbers are read exactly (:data:`EXACT_FLOATS`).
    """
    fmt = csv_format(path)
    with csv_errors(path, fmt):
        frame = pd.read_csv(path, usecols=usecols, sep=fmt.sep, decimal=fmt.decimal,
                            **EXACT_FLOATS, **options)
    # No columns at all means `usecols` matched none: the caller says what was expected.
    if frame.shape[0] == 0 and frame.shape[1] > 0:
        raise RelulabError(f"data file {path} has a header but no data rows; add the data")
    return frame


def csv_format(path: Path) -> CsvFormat:
    """How the CSV at ``path`` is written, or an error when it is missing, a directory, or
    laid out so that pandas would misread it."""
    if not path.exists():
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise RelulabError(f"data file {path} not found{where}; check the path")
    if path.is_dir():
        raise RelulabError(f"data path {path} is a directory; pass the CSV file inside it")
    fmt = _sniff_file(path)
    if fmt.problem:
        raise RelulabError(f"data file {path} {fmt.problem}")
    return fmt


@contextlib.contextmanager
def csv_errors(path: Path, fmt: CsvFormat) -> Iterator[None]:
    """Turn pandas' and the file system's errors while reading ``path`` into one line each
    (around a whole read, or around a chunked reader's loop)."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise RelulabError(f"data file {path} is empty; pass a CSV with a header row and "
                           "one row per time step") from None
    except pd.errors.ParserError as e:
        detail = str(e).strip().splitlines()[-1] if str(e).strip() else "parse error"
        raise RelulabError(f"data file {path} is not a well-formed CSV ({detail}); check that "
                           f"every row has as many {SEPARATORS[fmt.sep]}-separated fields as "
                           "the header") from None
    except UnicodeDecodeError:
        raise RelulabError(f"data file {path} is not UTF-8 text; save it as a UTF-8 CSV"
                           ) from None
    except OSError as e:
        raise RelulabError(f"data file {path} cannot be read ({e.strerror or e}); check its "
                           "permissions") from None


# Locators turn a 0-based row position into words a user can find the row by.
def _csv_locator(path: Path) -> Callable[[int], str]:
    return lambda i: f"row {i + 1} (line {i + 2} of {path.name})"


def _label_locator(index: pd.Index) -> Callable[[int], str]:
    return lambda i: f"index {index[i]!r}"


def _position_locator(i: int) -> str:
    return f"position {i}"


_KEY_NAME = re.compile(
    r"(year|week|month|day|quarter|year_?week|year_?month|period|index|idx|id|unnamed: ?\d+)",
    re.IGNORECASE,
)


def _numeric_like(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    present = col.dropna()
    if present.empty:
        return False
    parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    return bool(parsed.notna().mean() >= 0.5)  # mostly numbers: a value column with typos


def _detect_date_column(frame: pd.DataFrame) -> Any:
    """The first column whose every cell is written as a date (:mod:`relulab.data.dates`:
    a column that mixes formats is found too, and refused with its reason when read)."""
    for c in frame.columns:
        if looks_like_dates(frame[c]):
            return c
    return None


def _show(column: Any) -> str:
    """A column name as a message shows it: as written, or quoted with escapes when it holds
    a line break or another control character, so an error stays one line."""
    text = str(column)
    return text if text.isprintable() else repr(text)


def _columns_list(frame: pd.DataFrame) -> str:
    return ", ".join(_show(c) for c in frame.columns)


def _from_frame(
    frame: pd.DataFrame,
    column: Any,
    date_column: Any,
    name: str | None,
    what: str,
    source: str,
    locate: Callable[[int], str],
    default_name: str | None = None,
    date_format: str | None = None,
) -> Series:
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise RelulabError(f"{what} holds no data; pass a table with a value column and rows")
    if date_column is not None and date_column not in frame.columns:
        raise RelulabError(f"{what} has no column {date_column!r}; available columns: "
                           f"{_columns_list(frame)}; pass one of them with --date-column")
    date_col = date_column if date_column is not None else _detect_date_column(frame)
    if column is None:
        numeric = [c for c in frame.columns if c != date_col and _numeric_like(frame[c])]
        values_like = [c for c in numeric if not _KEY_NAME.fullmatch(str(c))] or numeric
        if len(values_like) != 1:
            problem = ("no numeric column" if not values_like else
                       f"{len(values_like)} numeric columns "
                       f"({', '.join(_show(c) for c in values_like)})")
            listed = "" if len(values_like) == frame.shape[1] else \
                f" (columns: {_columns_list(frame)})"
            raise RelulabError(f"{what} has {problem}{listed}; choose the values with "
                               "--column NAME")
        column = values_like[0]
    elif column not in frame.columns:
        raise RelulabError(f"{what} has no column {column!r}; available columns: "
                           f"{_columns_list(frame)}; pass one of them with --column")
    if column == date_col:
        raise RelulabError(f"{what}: column {column!r} holds dates, not values; pass the value "
                           "column with --column")
    label = f"column {column!r} of {what}"
    values = _numeric_values(frame[column].reset_index(drop=True), label, locate)
    dates = None
    if date_col is not None:
        dates = _dates(frame[date_col].reset_index(drop=True), what, date_col, locate,
                       date_format)
    elif date_format is not None:
        raise RelulabError(f"{what} has no date column for --date-format "
                           f"{date_format!r}; name it with --date-column")
    if name is None:
        name = f"{default_name}:{column}" if default_name else str(column)
    return Series(values, name, dates, source)


def parse_numbers(raw: pd.Series) -> tuple[np.ndarray, int | None]:
    """Float64 values of ``raw`` (blank and missing cells NaN) and the position of the first
    cell that is no number (None when every cell is one or blank)."""
    raw = raw.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype(np.float64)
    if pd.api.types.is_numeric_dtype(raw):
        return raw.to_numpy(dtype=np.float64), None
    text = raw.map(lambda x: x.strip() if isinstance(x, str) else x)
    numeric = pd.to_numeric(text, errors="coerce").astype(np.float64)
    blank = text.map(lambda x: isinstance(x, str) and x == "")
    bad = np.flatnonzero((text.notna() & ~blank & numeric.isna()).to_numpy())
    return numeric.to_numpy(dtype=np.float64), (int(bad[0]) if bad.size else None)


def not_a_number(cell: Any, what: str, where: str) -> RelulabError:
    """The error for a cell of a value column that is no number, at ``where``."""
    if isinstance(cell, str) and _DECIMAL_COMMA.fullmatch(cell.strip()):
        return RelulabError(f"{what}: {where} holds {cell!r}, a decimal comma among numbers "
                            "written with decimal points; write every number one way (e.g. "
                            "1.5)")
    return RelulabError(f"{what}: {where} holds {cell!r}, which is not a number; correct "
                        "that cell or drop the row")


def _numeric_values(raw: pd.Series, what: str, locate: Callable[[int], str], *,
                    whole: bool = True) -> np.ndarray:
    """Float64 values of ``raw``, or an error naming the first bad cell and the fix."""
    v, bad = parse_numbers(raw)
    if bad is not None:
        raise not_a_number(raw.iloc[bad], what, locate(bad))
    return checked_values(v, what, locate, whole=whole)


def checked_values(v: np.ndarray, what: str, locate: Callable[[int], str], *,
                   whole: bool = True) -> np.ndarray:
    """``v`` when every value is finite (and, for a ``whole`` series, there are enough of
    them and they vary), else an error naming the first bad one."""
    nan = np.isnan(v)
    if nan.any():
        i = int(np.flatnonzero(nan)[0])
        raise RelulabError(f"{what} has {int(nan.sum())} missing (NaN) value(s), the first at "
                           f"{locate(i)}; fill them (e.g. 0 or interpolation) or drop those rows")
    inf = np.isinf(v)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise RelulabError(f"{what} has {int(inf.sum())} infinite value(s), the first at "
                           f"{locate(i)} ({v[i]}); replace or drop them")
    if not whole:  # one series of a panel: its length and spread are judged per study
        return v
    if v.shape[0] < MIN_POINTS:
        raise RelulabError(f"{what} has {v.shape[0]} points, too few to split into training, "
                           f"validation and test windows (at least {MIN_POINTS}, and "
                           f"{_default_min_length()} with the default settings); use a longer "
                           "series")
    if v.min() == v.max():
        raise RelulabError(f"{what} is constant (every value is {v[0]:g}), so min-max scaling "
                           "to [0, 1] is impossible; choose a column that varies")
    return v


def _default_min_length() -> int:
    from relulab.config import StudyConfig
    from relulab.windows import min_length

    return min_length(StudyConfig())


def _dates(raw: pd.Series, what: str, col: Any, locate: Callable[[int], str],
           date_format: str | None = None) -> tuple[str, ...]:
    """One series' dates as ISO text, read in one format for the column
    (:func:`relulab.data.dates.parse_dates`); every row must have one, in increasing order."""
    parsed = parse_dates(raw, date_format=date_format, what=what, column=col, locate=locate)
    return checked_dates(parsed.dates, raw, what, col, locate, parsed)


def checked_dates(parsed: pd.Series, raw: pd.Series, what: str, col: Any,
                  locate: Callable[[int], str], how: ParsedDates | None = None
                  ) -> tuple[str, ...]:
    """``parsed`` (one series' dates, in its rows' order) as ISO text, or an error naming
    the first row without a date, or whose date does not come after the row before it
    (``how``: how the column was read, for the advice when its order was inferred)."""
    missing = parsed.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        cell = raw.iloc[i]
        if isinstance(cell, str) and cell.strip():
            raise RelulabError(f"{what}: {locate(i)} holds {cell!r} in column {col!r}, which "
                               "is not a date in the column's format; correct it")
        raise RelulabError(f"{what}: {locate(i)} has no date in column {col!r}; fill it or "
                           "drop the row")
    stamps = pd.DatetimeIndex(parsed)
    steps = np.diff(stamps.asi8)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        if how is not None and how.settled_by is not None:
            raise RelulabError(
                f"{what}: dates in column {col!r}, read as {how.format} (the order "
                f"{how.settled_by} shows), do not increase ({locate(i)} is {raw.iloc[i]}, "
                f"after {raw.iloc[i - 1]}); if the column switches between day-first and "
                "month-first, write every date one way; else pass --date-format, and sort "
                "the rows by date")
        raise RelulabError(f"{what}: dates in column {col!r} do not increase ({locate(i)} is "
                           f"{raw.iloc[i]}, after {raw.iloc[i - 1]}); sort the rows by date "
                           "and remove duplicate dates")
    if how is not None and how.settled_by is not None:
        found = off_step(stamps, swapped([str(v) for v in raw], how.format))
        if found is not None:
            i, step = found
            raise RelulabError(switched_order(what, f"{locate(i)} holds {raw.iloc[i]!r}", col,
                                              how, step))
    return tuple(to_text(stamps))


def switched_order(what: str, cell: str, col: Any, how: ParsedDates, step: int) -> str:
    """The line for a date whose day/month order seems to switch: it breaks the series'
    usual step, which read the other way round it would keep."""
    return (f"{what}: {cell} in column {col!r}, which read as {how.format} (the order "
            f"{how.settled_by} shows) breaks the series' step of {step_words(step)} and read "
            "the other way round would keep it; if the column switches between day-first and "
            f"month-first, write every date one way; else pass --date-format {how.format}")
