"""Dates in a column: one format per column, read from all its values, never guessed.

A date such as ``05/01/2015`` is 5 January in most of the world and 1 May in the United
States. pandas' own inference decides such a value on its own, per value, month first, so a
column of day-first dates comes back partly swapped, and rows sorted by those dates are
scrambled without a word. Here a column is read in *one* format, decided from every value
in it:

- a ``date_format`` given by the user (``--date-format %d/%m/%Y``, strftime's codes) is
  used as it is; a value that does not match it is an error naming the row;
- else each distinct value is classed: ISO 8601 (``2015-01-05``, ``2015-01-05 10:00``,
  ``2015/01/05``: year first, never ambiguous), quarters (``1998-Q1``, ``1998 Q1``),
  numbers with the year last (``05/01/2015``, ``5.1.15``), or a month written as a word
  (``Jan 2015``, ``5 Jan 2015``);
- a column of numbers with the year last is day-first when some first field exceeds 12,
  month-first when some second field does; when neither does (every day is at most 12)
  nothing in the column can tell, and it is refused with one line naming both formats
  for ``--date-format``; a column where both do mixes the two and is refused too;
- a column mixing classes (ISO dates that switch to ``01/02/2017``) is refused, naming a
  row of each.

The result is the same whatever the order of the rows, so a loader may sort rows by it.
Where one value settled the day/month order, every other value fits either order, so a
column that switches order part way reads without an error; :func:`swapped` and
:func:`off_step` let a loader refuse the date that breaks its series' regular step where
its other reading would keep it (``02/03/2014`` after ``02/02/2014`` in a daily series).
:func:`frequency` names a series' spacing from its dates (daily, weekly, monthly, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from relulab.errors import RelulabError

__all__ = ["ParsedDates", "frequency", "looks_like_dates", "off_step", "parse_dates",
           "step_words", "swapped", "to_text"]

# Quarters as written in tables ("1998-Q1", "1998 Q1", "1998Q1"), read as the quarter's
# first day; pandas' own parsing of them is deprecated.
_QUARTER = re.compile(r"(\d{4})\s*-?\s*[Qq]([1-4])")
# Numbers with the year last: day and month in either order, one separator, an optional
# time. Year-first numbers are ISO 8601 (pandas reads 2015/01/05 and 2015.01.05 as such).
_YEAR_LAST = re.compile(
    r"(?P<a>\d{1,2})(?P<sep>[./\- ])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"
    r"(?:(?P<tsep>[ T])(?P<hm>\d{1,2}:\d{2})(?P<s>:\d{2})?)?")
_MONTH_WORD = re.compile(r"(?<![a-z])(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
                         re.IGNORECASE)
_DIGITS = re.compile(r"\d")

# What each class is called in a message, with an example of how it is written.
_CLASSES = {"iso": "year first (YYYY-MM-DD)", "quarter": "quarters (YYYY-Qn)",
            "year_last": "day and month before the year", "month_word": "a month name"}
_FLAG = "--date-format"


class ParsedDates(NamedTuple):
    """A column's dates (``datetime64``; NaT where a cell is missing) and the format they
    were read in, in words (``"%d/%m/%Y"``, ``"ISO 8601"``, ...).

    ``settled_by`` is set when the column's day/month order was read from one of its values
    (``"row 6 ('01/13/2014')"``): every other value fits either order, so a column that
    switches order part way cannot be told from a consistent one. Such dates are used as
    they stand, but rows are not reordered by them (a loader refuses rows out of date order
    instead, and names this row and ``--date-format``)."""

    dates: pd.Series
    format: str
    settled_by: str | None = None


def parse_dates(raw: pd.Series, *, date_format: str | None = None, what: str = "the table",
                column: Any = "date", locate: Callable[[int], str] | None = None,
                strict: bool = True) -> ParsedDates:
    """Every cell of ``raw`` as a date, in one format for the column (module docstring).

    Missing cells (NaN, None, blank text) come back NaT and are left to the caller, which
    knows whether they belong to a series. A cell that is not a date in the column's format
    is an error naming ``locate(row)`` (0-based position in ``raw``), or NaT when not
    ``strict`` (a panel read for some of its series judges only their rows); a column whose
    format cannot be told (mixed, or day and month that no value settles) is an error.
    """
    raw = raw.reset_index(drop=True)
    locate = locate or (lambda i: f"row {i + 1}")
    if pd.api.types.is_datetime64_any_dtype(raw):
        return ParsedDates(raw, "datetime")
    text = _text(raw)
    codes, uniques = pd.factorize(text)
    values = [str(u) for u in uniques]
    if not values:
        return ParsedDates(pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]"),
                           date_format or "none")
    first = _first_rows(codes, len(values))
    where = f"{what}: date column {str(column)!r}"

    def at(k: int) -> str:
        return f"{locate(int(first[k]))} ({values[k]!r})"

    if date_format is not None:
        parsed, described = _with_format(values, date_format, where), date_format
        settled_by = None
        bad = np.flatnonzero(pd.isna(parsed))
        if bad.size and strict:
            k = int(bad[np.argmin(first[bad])])
            raise RelulabError(f"{where}: {locate(int(first[k]))} holds {values[k]!r}, which "
                               f"does not match {_FLAG} {date_format!r}; correct that cell, or "
                               "pass the format the column is written in")
    else:
        parsed, described, settled_by = _inferred(values, where, at)
        bad = np.flatnonzero(pd.isna(parsed))
        if bad.size and strict:
            k = int(bad[np.argmin(first[bad])])
            raise RelulabError(f"{where}: {locate(int(first[k]))} holds {values[k]!r}, which "
                               f"is not a date; correct it (YYYY-MM-DD), name its format with "
                               f"{_FLAG}, or pick the date column with --date-column")
    try:
        index = pd.DatetimeIndex(parsed)
    except (ValueError, TypeError):
        raise RelulabError(f"{where} mixes time zones (or zoned and unzoned times); write "
                           "every date in one zone") from None
    taken = index.take(codes, allow_fill=True, fill_value=pd.NaT)
    return ParsedDates(pd.Series(taken, index=raw.index), described,
                       None if date_format is not None else settled_by)


def looks_like_dates(raw: pd.Series) -> bool:
    """Whether every present cell of ``raw`` is written as a date of some class (the column
    may still be refused by :func:`parse_dates` for mixing classes or for ambiguity)."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        return True
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        return False
    values = [str(u) for u in pd.unique(_text(raw).dropna())]
    return bool(values) and all(c is not None for c in _classes(values))


def to_text(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """ISO text of each date (``YYYY-MM-DD``, or with the time where any is not midnight),
    as an object array in which equal dates share one string (a panel's series share their
    dates' text instead of holding a copy each)."""
    index = pd.DatetimeIndex(dates)
    codes, uniques = pd.factorize(index)
    uniques = pd.DatetimeIndex(uniques)
    midnight = bool((uniques == uniques.normalize()).all())
    text = (uniques.strftime("%Y-%m-%d") if midnight
            else pd.Index([t.isoformat() for t in uniques]))
    return np.asarray(text, dtype=object)[codes]


def frequency(dates: Any) -> str | None:
    """The spacing of a series' dates in words: ``"daily"``, ``"weekly"``, ``"monthly"``,
    ``"quarterly"``, ``"yearly"``, ``"hourly"``, or ``"every N days"``; None without dates
    or with fewer than two. Read from the median step, so a gap or two do not change it."""
    if dates is None or len(dates) < 2:
        return None
    stamps = pd.DatetimeIndex(pd.to_datetime(pd.Index(list(dates)), format="ISO8601"))
    step = float(np.median(np.diff(stamps.as_unit("s").asi8))) / 86_400
    for name, days, slack in (("hourly", 1 / 24, 0.01), ("daily", 1, 0.01),
                              ("weekly", 7, 0.01), ("monthly", 30.44, 3.1),
                              ("quarterly", 91.31, 3.1), ("yearly", 365.25, 1.1)):
        if abs(step - days) <= slack:
            return name
    return f"every {step:g} days"


# ----------------------------------------------------------------------------- inside


def _text(raw: pd.Series) -> pd.Series:
    """Each cell as stripped text; missing cells (and blank text) as None."""
    def cell(x: Any) -> Any:
        if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NaT:
            return None
        s = str(x).strip()
        return s or None

    return raw.map(cell).astype(object)


def _first_rows(codes: np.ndarray, n: int) -> np.ndarray:
    """The first row holding each distinct value."""
    present = codes >= 0
    rows = np.flatnonzero(present)
    first = np.full(n, -1, dtype=np.int64)
    # Reversed assignment leaves the earliest row of each code.
    first[codes[rows][::-1]] = rows[::-1]
    return first


def _classes(values: list[str]) -> list[str | None]:
    """Each value's class (``_CLASSES``), or None when it is no date of any class."""
    out: list[str | None] = [None] * len(values)
    iso = _iso(values)
    for k, v in enumerate(values):
        if _QUARTER.fullmatch(v):
            out[k] = "quarter"
        elif _YEAR_LAST.fullmatch(v):
            out[k] = "year_last"
        elif not pd.isna(iso[k]) and _DIGITS.search(v):
            out[k] = "iso"
        elif _MONTH_WORD.search(v) and not pd.isna(_word_date(v)):
            out[k] = "month_word"
    return out


def _iso(values: list[str]) -> list[Any]:
    """ISO 8601 reading of each value (NaT where it is none). Zoned and unzoned times
    cannot share one array, so a column mixing them is read value by value."""
    try:
        return list(pd.to_datetime(pd.Index(values), format="ISO8601", errors="coerce"))
    except (ValueError, TypeError):
        out = []
        for v in values:
            try:
                out.append(pd.to_datetime(v, format="ISO8601"))
            except (ValueError, TypeError, OverflowError):
                out.append(pd.NaT)
        return out


def _word_date(value: str) -> Any:
    try:
        return pd.to_datetime(value, format="mixed")
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def _inferred(values: list[str], where: str, at: Callable[[int], str]
              ) -> tuple[Any, str, str | None]:
    classes = _classes(values)
    found = {c for c in classes if c is not None}
    if not found:
        return [pd.NaT] * len(values), "none", None
    if len(found) > 1:
        a, b = sorted(found, key=lambda c: classes.index(c))[:2]
        ka, kb = classes.index(a), classes.index(b)
        raise RelulabError(f"{where} mixes date formats: {at(ka)} is written {_CLASSES[a]}, "
                           f"{at(kb)} {_CLASSES[b]}; write every date one way, or name the "
                           f"format with {_FLAG} (e.g. %d/%m/%Y)")
    kind = found.pop()
    if kind == "quarter":
        out = [pd.NaT] * len(values)
        for k, v in enumerate(values):
            if (m := _QUARTER.fullmatch(v)) is not None:
                out[k] = pd.Timestamp(int(m[1]), 3 * int(m[2]) - 2, 1)
        return out, "quarters", None
    if kind == "iso":
        iso = _iso(values)
        return [t if classes[k] else pd.NaT for k, t in enumerate(iso)], "ISO 8601", None
    if kind == "month_word":
        return ([_word_date(v) if classes[k] else pd.NaT for k, v in enumerate(values)],
                "month names", None)
    return _year_last(values, where, at)


def _year_last(values: list[str], where: str, at: Callable[[int], str]
               ) -> tuple[Any, str, str]:
    """Numbers with the year last: day-first or month-first, decided by the whole column."""
    matches = [_YEAR_LAST.fullmatch(v) for v in values]
    day_first = [k for k, m in enumerate(matches) if m and int(m["a"]) > 12]
    month_first = [k for k, m in enumerate(matches) if m and int(m["b"]) > 12]
    if day_first and month_first:
        raise RelulabError(f"{where} mixes day-first and month-first dates: {at(day_first[0])}"
                           f" has its day first, {at(month_first[0])} its month first; write "
                           f"every date one way, or name the format with {_FLAG}")
    if not day_first and not month_first:
        m = next(m for m in matches if m)
        sep, y = m["sep"], "%Y" if len(m["year"]) == 4 else "%y"
        example = next(k for k, m in enumerate(matches) if m)
        raise RelulabError(
            f"{where}: dates such as {at(example)} read as day/month or month/day alike (no "
            f"day above 12 settles it); pass {_FLAG} %d{sep}%m{sep}{y} (day first) or "
            f"{_FLAG} %m{sep}%d{sep}{y} (month first)")
    order = ("%d", "%m") if day_first else ("%m", "%d")
    settled_by = at(day_first[0] if day_first else month_first[0])
    out = [pd.NaT] * len(values)
    shown = ""
    for k, m in enumerate(matches):
        if m is None:
            continue
        sep = m["sep"]
        fmt = f"{order[0]}{sep}{order[1]}{sep}{'%Y' if len(m['year']) == 4 else '%y'}"
        shown = shown or fmt
        if m["hm"]:
            fmt += f"{m['tsep']}%H:%M" + (":%S" if m["s"] else "")
        out[k] = pd.to_datetime(values[k], format=fmt, errors="coerce")
    return out, shown, settled_by


def _with_format(values: list[str], date_format: str, where: str) -> list[Any]:
    if "%" not in date_format and date_format not in ("ISO8601", "mixed"):
        raise RelulabError(f"{_FLAG} {date_format!r} has no strftime codes; write it as the "
                           "column is written, e.g. %d/%m/%Y or %Y-%m-%d")
    try:
        return list(pd.to_datetime(pd.Index(values), format=date_format, errors="coerce"))
    except (ValueError, TypeError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RelulabError(f"{where}: {_FLAG} {date_format!r} cannot be used ({detail}); "
                           "write it with strftime's codes, e.g. %d/%m/%Y") from None


def swapped(values: list[str], date_format: str) -> list[Any]:
    """Each value read with its day and month the other way round from ``date_format``
    (``%d...`` day-first or ``%m...`` month-first): a date where the value has its year
    last and both fields could be either (at most 12, and different), else NaT."""
    day_first = date_format.startswith("%d")
    out: list[Any] = []
    for value in values:
        m = _YEAR_LAST.fullmatch(str(value).strip())
        a, b = (int(m["a"]), int(m["b"])) if m else (0, 0)
        if not m or a > 12 or b > 12 or a == b:
            out.append(pd.NaT)
            continue
        year = int(m["year"]) if len(m["year"]) == 4 else 2000 + int(m["year"])
        if len(m["year"]) == 2 and year > 2068:  # strptime's %y: 69-99 are the 1900s
            year -= 100
        month, day = (a, b) if day_first else (b, a)  # the other reading's
        out.append(pd.Timestamp(year, month, day) if m["hm"] is None else pd.NaT)
    return out


# A step fits a series' usual step within this share of it (months are 28 to 31 days).
_STEP_SLACK = 0.1


def off_step(stamps: np.ndarray, others: np.ndarray, groups: np.ndarray | None = None
             ) -> tuple[int, int] | None:
    """The first date, in the given order (each group's rows in date order), that breaks
    its series' usual step (the median of its gaps) next to a neighbour where its other
    reading (``others``, NaT where none) would keep it; as ``(position, step)``, the step
    in nanoseconds. None when there is none, or a series has fewer than 4 dates."""
    t = pd.Series(pd.DatetimeIndex(stamps).as_unit("ns").asi8, dtype="float64")
    other = pd.DatetimeIndex(others).as_unit("ns")
    o = pd.Series(other.asi8, dtype="float64")
    o[other.isna()] = np.nan
    g = pd.Series(np.zeros(len(t), np.int64) if groups is None else np.asarray(groups))
    prev = t.groupby(g).shift(1)
    nxt = t.groupby(g).shift(-1)
    step = (t - prev).groupby(g).transform("median")
    size = g.groupby(g).transform("size")

    def fits(gap: pd.Series) -> pd.Series:
        return (gap - step).abs() <= _STEP_SLACK * step

    before = prev.notna() & ~fits(t - prev) & fits(o - prev)
    after = nxt.notna() & ~fits(nxt - t) & fits(nxt - o)
    usable = o.notna() & (size >= 4) & (step > 0)
    for side in (before, after):  # the date that breaks the step first, then its neighbour
        bad = np.flatnonzero((side & usable).to_numpy())
        if bad.size:
            i = int(bad[0])
            return i, int(step.iloc[i])
    return None


def step_words(ns: int) -> str:
    """A step in words: ``1 day``, ``7 days``, ``6 hours``."""
    days = ns / 86_400e9
    if days >= 1:
        return f"{days:.3g} day" + ("" if round(days, 3) == 1 else "s")
    hours = ns / 3_600e9
    return f"{hours:.3g} hour" + ("" if round(hours, 3) == 1 else "s")

