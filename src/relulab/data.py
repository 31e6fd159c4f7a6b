"""Series in: a user's CSV, a pandas or NumPy object, the hotel data set, or a bundled series.

Every problem a user's data can have (a missing file or column, a non-numeric cell, NaN/inf,
a constant or too short series, no network for the download) raises one
:class:`~relulab.errors.RelulabError` that names the input, the problem and the fix.

Hotel cancellations (Antonio, de Almeida & Nunes, "Hotel booking demand datasets", Data in
Brief 22 (2019) 41-49, CC BY 4.0) come as bookings, one row each, in two schemas: the data
paper's ``H1.csv`` / ``H2.csv`` (CamelCase, one file per hotel) and the combined
``hotel_bookings.csv`` (snake_case, with a ``hotel`` column). Both aggregate to cancellations
per arrival week, with weeks counted as the data set counts them: ``year_week = year * 100 +
week``, where the data set's ``ArrivalDateWeekNumber`` is ``strftime("%U") + 1`` (weeks start
on Sunday; the days before a year's first Sunday are week 1).
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relulab.errors import RelulabError
from relulab.windows import check_length as _check_length_n

if TYPE_CHECKING:
    from relulab.config import StudyConfig

# The smallest series any configuration can split: lookback 1, two training windows, one
# validation point and one test point. A config usually needs more; see `check_length`.
MIN_POINTS = 5

# The combined hotel_bookings.csv (as TidyTuesday 2020-02-11 republished it; same rows and
# columns as the Kaggle "hotel-booking-demand" copy).
DEFAULT_URL = (
    "https://raw.githubusercontent.com/rfordatascience/tidytuesday/main/"
    "data/2020/2020-02-11/hotels.csv"
)
DATA_HOME = (
    "https://www.sciencedirect.com/science/article/pii/S2352340918315191 (the paper's H1.csv "
    "and H2.csv) or https://www.kaggle.com/datasets/jessemostipak/hotel-booking-demand "
    "(hotel_bookings.csv)"
)
CACHE_FILE = "hotel_bookings.csv"
DOWNLOAD_TIMEOUT_S = 60.0

HOTELS = {"hotel-h1": "Resort Hotel", "hotel-h2": "City Hotel"}
_HOTEL_ALIASES = {
    **HOTELS,
    "h1": "Resort Hotel", "resort hotel": "Resort Hotel", "resort": "Resort Hotel",
    "h2": "City Hotel", "city hotel": "City Hotel", "city": "City Hotel",
}

# name -> (statsmodels.datasets module, value column, year column, description)
_BUNDLED = {
    "sunspots": ("sunspots", "SUNACTIVITY", "YEAR",
                 "yearly sunspot numbers 1700-2008 (309 points), shipped with statsmodels"),
    "nile": ("nile", "volume", "year",
             "yearly Nile flow at Aswan 1871-1970 (100 points), shipped with statsmodels"),
}

DATASETS: dict[str, str] = {
    "hotel-h1": "weekly cancellations at the resort hotel H1 (Antonio et al. 2019), July 2015 "
                "to August 2017; read from --data FILE or downloaded once into the cache",
    "hotel-h2": "weekly cancellations at the city hotel H2 (Antonio et al. 2019), July 2015 "
                "to August 2017; read from --data FILE or downloaded once into the cache",
    **{name: spec[3] for name, spec in _BUNDLED.items()},
}


@dataclass(frozen=True, eq=False)
class Series:
    """A univariate series: float64 values, optional ISO dates, and where it came from."""

    values: np.ndarray
    name: str
    dates: tuple[str, ...] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        v = np.array(self.values, dtype=np.float64)  # a copy: nobody else can mutate it
        if v.ndim != 1:
            raise RelulabError(f"series {self.name!r} must be 1-D, got shape {v.shape}")
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        if self.dates is not None:
            dates = tuple(str(d) for d in self.dates)
            if len(dates) != v.shape[0]:
                raise RelulabError(
                    f"series {self.name!r} has {v.shape[0]} values but {len(dates)} dates"
                )
            object.__setattr__(self, "dates", dates)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def content_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the values (little-endian float64) and dates."""
        h = hashlib.sha256(np.ascontiguousarray(self.values, dtype="<f8").tobytes())
        if self.dates is None:
            h.update(b"\0no dates")
        else:
            h.update(b"\0dates\0" + "\n".join(self.dates).encode())
        return h.hexdigest()[:16]


# ---------------------------------------------------------------------------- user series


def load_series(
    source: Any,
    *,
    column: str | None = None,
    date_column: str | None = None,
    name: str | None = None,
) -> Series:
    """A :class:`Series` from a CSV path, a pandas Series/DataFrame, or an array/list.

    For tables, ``column`` picks the values; without it the one numeric column that is not
    a date or an index-like key (``year_week``, ``year``, ``id``, ...) is used. A date column
    is taken from ``date_column`` or detected when one column holds only ISO dates (or is
    named ``date``/``ds``/``week_start``/... and parses as dates); dates must increase.
    """
    if isinstance(source, Series):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        frame = read_csv(path)
        return _from_frame(frame, column, date_column, name, f"data file {path}", str(path),
                           _csv_locator(path), default_name=path.stem)
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, column, date_column, name, "the DataFrame",
                           "pandas.DataFrame", _label_locator(source.index))
    if isinstance(source, pd.Series):
        if column is not None or date_column is not None:
            raise RelulabError("column/date_column apply to tables; pass a DataFrame instead")
        what = f"series {source.name!r}" if source.name is not None else "the pandas Series"
        values = _numeric_values(source, what, _label_locator(source.index))
        dates = (_iso_dates(pd.Series(source.index), what, "index", _position_locator)
                 if isinstance(source.index, pd.DatetimeIndex) else None)
        label = name or (str(source.name) if source.name is not None else "series")
        return Series(values, label, dates, "pandas.Series")
    if column is not None or date_column is not None:
        raise RelulabError("column/date_column apply to tables; pass a CSV path or DataFrame")
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


def check_length(series_or_n: Series | int, config: StudyConfig) -> None:
    """Raise when a series holds fewer points than ``config``'s windows and regions need.

    The train region must hold ``lookback`` points plus enough training windows for Keras'
    validation split to leave both parts non-empty (at least 2), the validation region one
    point and the test region ``test_size``. The message says which options to lower.
    """
    if isinstance(series_or_n, Series):
        _check_length_n(len(series_or_n), config, what=f"series {series_or_n.name!r}")
    else:
        _check_length_n(int(series_or_n), config)


def read_csv(path: Path, usecols: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """``pandas.read_csv`` with each way a file can be unreadable turned into one clear error."""
    if not path.exists():
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise RelulabError(f"data file {path} not found{where}; check the path")
    if path.is_dir():
        raise RelulabError(f"data path {path} is a directory; pass the CSV file inside it")
    try:
        frame = pd.read_csv(path, usecols=usecols)
    except pd.errors.EmptyDataError:
        raise RelulabError(f"data file {path} is empty; pass a CSV with a header row and "
                           "one row per time step") from None
    except pd.errors.ParserError as e:
        detail = str(e).strip().splitlines()[-1] if str(e).strip() else "parse error"
        raise RelulabError(f"data file {path} is not a well-formed CSV ({detail}); check that "
                           "every row has as many comma-separated fields as the header") from None
    except UnicodeDecodeError:
        raise RelulabError(f"data file {path} is not UTF-8 text; save it as a UTF-8 CSV"
                           ) from None
    except OSError as e:
        raise RelulabError(f"data file {path} cannot be read ({e.strerror or e}); check its "
                           "permissions") from None
    # No columns at all means `usecols` matched none: the caller says what was expected.
    if frame.shape[0] == 0 and frame.shape[1] > 0:
        raise RelulabError(f"data file {path} has a header but no data rows; add the data")
    return frame


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
_DATE_NAME = re.compile(r"(date|ds|time|timestamp|datetime|week_start|day|period_start)",
                        re.IGNORECASE)


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


def _parse_dates(col: pd.Series) -> pd.Series:
    text = col.astype(str).str.strip()
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    return parsed.where(col.notna())


def _detect_date_column(frame: pd.DataFrame) -> Any:
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            return c
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        text = col.dropna().astype(str).str.strip()
        if text.empty:
            continue
        iso = pd.to_datetime(text, errors="coerce", format="ISO8601")
        if iso.notna().all():
            return c
        if _DATE_NAME.fullmatch(str(c)) and _parse_dates(text).notna().all():
            return c
    return None


def _columns_list(frame: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in frame.columns)


def _from_frame(
    frame: pd.DataFrame,
    column: Any,
    date_column: Any,
    name: str | None,
    what: str,
    source: str,
    locate: Callable[[int], str],
    default_name: str | None = None,
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
                       f"({', '.join(str(c) for c in values_like)})")
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
        dates = _iso_dates(frame[date_col].reset_index(drop=True), what, date_col, locate)
    if name is None:
        name = f"{default_name}:{column}" if default_name else str(column)
    return Series(values, name, dates, source)


def _numeric_values(raw: pd.Series, what: str, locate: Callable[[int], str]) -> np.ndarray:
    """Float64 values of ``raw``, or an error naming the first bad cell and the fix."""
    raw = raw.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype(np.float64)
    if pd.api.types.is_numeric_dtype(raw):
        numeric = raw.astype(np.float64)
    else:
        text = raw.map(lambda x: x.strip() if isinstance(x, str) else x)
        numeric = pd.to_numeric(text, errors="coerce").astype(np.float64)
        blank = text.map(lambda x: isinstance(x, str) and x == "")
        bad = (text.notna() & ~blank & numeric.isna()).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise RelulabError(f"{what}: {locate(i)} holds {raw.iloc[i]!r}, which is not a "
                               "number; correct that cell or drop the row")
    v = numeric.to_numpy(dtype=np.float64)
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


def _iso_dates(raw: pd.Series, what: str, col: Any, locate: Callable[[int], str]
               ) -> tuple[str, ...]:
    parsed = raw if pd.api.types.is_datetime64_any_dtype(raw) else _parse_dates(raw)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RelulabError(f"{what}: date column {col!r} at {locate(i)} holds {raw.iloc[i]!r}, "
                           "which is not a date; correct it (YYYY-MM-DD) or pick the date "
                           "column with --date-column")
    stamps = pd.DatetimeIndex(parsed)
    steps = np.diff(stamps.asi8)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise RelulabError(f"{what}: dates in column {col!r} do not increase ({locate(i)} is "
                           f"{raw.iloc[i]}, after {raw.iloc[i - 1]}); sort the rows by date "
                           "and remove duplicate dates")
    midnight = bool((stamps == stamps.normalize()).all())
    return tuple(stamps.strftime("%Y-%m-%d")) if midnight else tuple(
        t.isoformat() for t in stamps)


# ----------------------------------------------------------------------- hotel bookings


def _snake(name: str) -> str:
    """``ArrivalDateWeekNumber`` -> ``arrival_date_week_number``; snake_case is unchanged."""
    name = str(name).strip()
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


_BOOKING_COLUMNS = ("is_canceled", "arrival_date_year", "arrival_date_month",
                    "arrival_date_day_of_month")
_OPTIONAL_BOOKING_COLUMNS = ("hotel", "arrival_date_week_number")
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}


def data_set_week(dates: pd.Series) -> pd.Series:
    """The hotel data set's week number of each date: ``strftime("%U") + 1``."""
    return dates.dt.strftime("%U").astype(np.int64) + 1


def _resolve_hotel(hotel: str) -> str:
    key = str(hotel).strip().lower()
    if key not in _HOTEL_ALIASES:
        raise RelulabError(f"unknown hotel {hotel!r}; choose H1 (Resort Hotel) or H2 "
                           "(City Hotel)")
    return _HOTEL_ALIASES[key]


def _weekly(dates: pd.Series, counts: pd.Series, week: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({
        "year_week": dates.dt.year.astype(np.int64).to_numpy() * 100
        + week.astype(np.int64).to_numpy(),
        "date": dates.to_numpy(),
        "cancellations": counts.astype(np.int64).to_numpy(),
    })
    out = frame.groupby("year_week", sort=True).agg(
        week_start=("date", "min"), cancellations=("cancellations", "sum"))
    out["week_start"] = out["week_start"].dt.strftime("%Y-%m-%d")
    return out.reset_index()


def hotel_weekly(bookings: pd.DataFrame, hotel: str) -> pd.DataFrame:
    """Cancelled bookings per arrival week of one hotel.

    ``bookings`` is either schema (see the module docstring). Returns columns ``year_week``
    (``arrival_date_year * 100 + arrival_date_week_number``), ``week_start`` (the first arrival
    date seen in that week, ISO) and ``cancellations`` (``sum(is_canceled)``), sorted by week.
    A file without a ``hotel`` column (H1.csv, H2.csv) is taken to be that hotel's file.
    Without a week-number column, weeks are computed as the data set computes them.
    """
    hotel_name = _resolve_hotel(hotel)
    # Row numbers in messages count the rows of `bookings` from 1, before any filtering.
    frame = bookings.rename(columns=_snake).reset_index(drop=True)
    missing = [c for c in _BOOKING_COLUMNS if c not in frame.columns]
    if missing:
        raise RelulabError(
            f"hotel bookings lack column(s) {', '.join(missing)}; expected the data paper's "
            "H1.csv/H2.csv (IsCanceled, ArrivalDateYear, ArrivalDateMonth, "
            "ArrivalDateDayOfMonth, ...) or hotel_bookings.csv (hotel, is_canceled, "
            "arrival_date_year, ...)"
        )
    if "hotel" in frame.columns:
        names = frame["hotel"].astype(str).str.strip()
        frame = frame[names == hotel_name]
        if frame.empty:
            raise RelulabError(f"hotel bookings hold no rows for {hotel_name!r} (hotels present: "
                               f"{', '.join(sorted(names.unique()))}); choose one of those")

    def first_bad(bad: pd.Series) -> int:
        return int(frame.index[np.flatnonzero(bad.to_numpy())[0]]) + 1

    months = frame["arrival_date_month"].map(
        lambda m: _MONTHS.get(m.strip().lower()) if isinstance(m, str) else m)
    numbers = {c: pd.to_numeric(frame[c], errors="coerce") for c in
               ("is_canceled", "arrival_date_year", "arrival_date_day_of_month")}
    numbers["month"] = pd.to_numeric(months, errors="coerce")
    for c, col in numbers.items():
        if col.isna().any():
            row = first_bad(col.isna())
            source = "arrival_date_month" if c == "month" else c
            raise RelulabError(f"hotel bookings: row {row} has {source} = "
                               f"{frame[source].loc[row - 1]!r}; expected a number (or a month "
                               "name); correct or drop that row")
    dates = pd.to_datetime(pd.DataFrame({"year": numbers["arrival_date_year"],
                                         "month": numbers["month"],
                                         "day": numbers["arrival_date_day_of_month"]}),
                           errors="coerce")
    if dates.isna().any():
        raise RelulabError(f"hotel bookings: row {first_bad(dates.isna())} has no valid "
                           "arrival date; correct or drop that row")
    if "arrival_date_week_number" in frame.columns:
        week = pd.to_numeric(frame["arrival_date_week_number"], errors="coerce")
        if week.isna().any():
            row = first_bad(week.isna())
            raise RelulabError(f"hotel bookings: row {row} has arrival week number "
                               f"{frame['arrival_date_week_number'].loc[row - 1]!r}; correct "
                               "or drop that row")
    else:
        week = data_set_week(dates)
    return _weekly(dates, numbers["is_canceled"], week)


def daily_to_weekly(daily: pd.DataFrame) -> pd.DataFrame:
    """Sum daily cancellations (columns ``date``, ``cancellations``) per data-set week."""
    missing = [c for c in ("date", "cancellations") if c not in daily.columns]
    if missing:
        raise RelulabError(f"daily cancellations lack column(s) {', '.join(missing)} (columns: "
                           f"{_columns_list(daily)}); expected date, cancellations")
    daily = daily.reset_index(drop=True)
    dates = _parse_dates(daily["date"])
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise RelulabError(f"daily cancellations: row {i + 1} has date "
                           f"{daily['date'].iloc[i]!r}; expected YYYY-MM-DD")
    counts = pd.to_numeric(daily["cancellations"], errors="coerce")
    if counts.isna().any():
        i = int(np.flatnonzero(counts.isna().to_numpy())[0])
        raise RelulabError(f"daily cancellations: row {i + 1} has cancellations "
                           f"{daily['cancellations'].iloc[i]!r}; expected a count")
    return _weekly(dates, counts, data_set_week(dates))


# ------------------------------------------------------------------ named data sets


def default_cache_dir() -> Path:
    """``$RELULAB_CACHE``, else ``~/.cache/relulab``."""
    return Path(os.environ.get("RELULAB_CACHE") or Path.home() / ".cache" / "relulab")


_WANTED = set(_BOOKING_COLUMNS) | set(_OPTIONAL_BOOKING_COLUMNS) | {
    "date", "cancellations", "year_week", "week_start"}


def _weekly_from_file(path: Path, hotel: str) -> pd.DataFrame:
    frame = read_csv(path, usecols=lambda c: _snake(c) in _WANTED)
    cols = {_snake(c) for c in frame.columns}
    if set(_BOOKING_COLUMNS) <= cols:
        # The paper's per-hotel files carry no hotel column; their names say which hotel.
        stem = path.stem.upper()
        wanted = "H1" if hotel == HOTELS["hotel-h1"] else "H2"
        if "hotel" not in cols and stem in ("H1", "H2") and stem != wanted:
            raise RelulabError(f"data file {path} holds hotel {stem}, not {wanted}; pass "
                               f"{wanted}.csv or --dataset hotel-{stem.lower()}")
        return hotel_weekly(frame, hotel)
    if {"year_week", "week_start", "cancellations"} <= cols:
        return frame.rename(columns=_snake)[["year_week", "week_start", "cancellations"]]
    if {"date", "cancellations"} <= cols:
        return daily_to_weekly(frame.rename(columns=_snake))
    raise RelulabError(f"data file {path} is not a hotel bookings file (it lacks is_canceled / "
                       "IsCanceled and the arrival date columns); pass H1.csv, H2.csv or "
                       "hotel_bookings.csv")


def _download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch ``url`` into ``dest`` atomically: a temporary file beside it, then a rename."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    except OSError as e:
        raise RelulabError(f"cannot write the data cache {dest.parent} ({e.strerror or e}); "
                           "set RELULAB_CACHE to a writable folder, or keep --dataset and add "
                           "--data FILE") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out)
            except (urllib.error.URLError, http.client.HTTPException, ValueError,
                    OSError) as e:  # OSError covers timeouts and dropped connections
                reason = getattr(e, "reason", None) or e
                raise RelulabError(
                    f"could not download the hotel bookings data from {url} ({reason}); "
                    f"offline? keep --dataset and add --data FILE with a local H1.csv, H2.csv or "
                    f"hotel_bookings.csv, from {DATA_HOME}"
                ) from None
        with open(tmp, encoding="utf-8", errors="replace") as f:
            header = _snake(f.readline()).replace("_", "")
        if "iscanceled" not in header:
            raise RelulabError(f"the file downloaded from {url} is not the hotel bookings CSV "
                               f"(no is_canceled column); keep --dataset and add --data FILE "
                               f"with a copy from {DATA_HOME}")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load_dataset(
    name: str,
    *,
    data: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str = DEFAULT_URL,
    download: bool = True,
) -> Series:
    """A named data set (see :data:`DATASETS`) as a :class:`Series`.

    Hotel series come from ``data`` when given (H1.csv / H2.csv, hotel_bookings.csv, or an
    already daily or weekly aggregate), else from ``cache_dir/hotel_bookings.csv``
    (``cache_dir`` defaults to :func:`default_cache_dir`), else ``url`` is downloaded there
    once. Bundled names (``sunspots``, ``nile``) need no file.
    """
    key = str(name).strip().lower()
    if key in _BUNDLED:
        return bundled(key)
    if key not in HOTELS:
        raise RelulabError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if data is not None:
        path = Path(data)
    else:
        path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / CACHE_FILE
        if not path.exists():
            if not download:
                raise RelulabError(f"dataset {key} is not in the cache ({path}) and downloads "
                                   f"are off; keep --dataset and add --data FILE with a copy "
                                   f"from {DATA_HOME}")
            _download(url, path)
    weekly = _weekly_from_file(path, HOTELS[key])
    return Series(
        values=weekly["cancellations"].to_numpy(dtype=np.float64),
        name=key,
        dates=tuple(weekly["week_start"].astype(str)),
        source=str(path),
    )


# ------------------------------------------------------------------ bundled series


def bundled_names() -> tuple[str, ...]:
    return tuple(_BUNDLED)


def bundled(name: str = "sunspots") -> Series:
    """A real series shipped inside statsmodels (no download); dates are January 1st."""
    key = str(name).strip().lower()
    if key not in _BUNDLED:
        raise RelulabError(f"unknown bundled series {name!r}; choose one of: "
                           f"{', '.join(_BUNDLED)}")
    module_name, value_col, year_col, _ = _BUNDLED[key]
    import importlib

    module = importlib.import_module(f"statsmodels.datasets.{module_name}")
    frame = module.load_pandas().data
    years: Sequence[float] = frame[year_col].tolist()
    return Series(
        values=frame[value_col].to_numpy(dtype=np.float64),
        name=key,
        dates=tuple(f"{int(y):04d}-01-01" for y in years),
        source=f"statsmodels.datasets.{module_name}",
    )


def load_source(source: str, *, column: str | None = None,
                date_column: str | None = None) -> Series:
    """A series from a source string, as :class:`relulab.config.StudyConfig.data` holds it.

    ``"bundled:NAME"`` (:func:`bundled`), ``"dataset:NAME"`` or ``"dataset:NAME:LOCAL_FILE"``
    (:func:`load_dataset`), anything else a CSV path (:func:`load_series`).
    """
    kind, _, rest = str(source).partition(":")
    if kind == "bundled" and rest:
        return bundled(rest)
    if kind == "dataset" and rest:
        name, _, local = rest.partition(":")
        return load_dataset(name, data=local or None)
    return load_series(source, column=column, date_column=date_column)
