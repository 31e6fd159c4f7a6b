"""Hotel cancellations per arrival week, from the bookings of the hotel booking demand data.

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
import re
from pathlib import Path

import numpy as np
import pandas as pd

from relulab.data.dates import parse_dates
from relulab.data.user import _columns_list, read_csv
from relulab.errors import RelulabError

DATA_HOME = (
    "https://www.sciencedirect.com/science/article/pii/S2352340918315191 (the paper's H1.csv "
    "and H2.csv) or https://www.kaggle.com/datasets/jessemostipak/hotel-booking-demand "
    "(hotel_bookings.csv)"
)

HOTELS = {"hotel-h1": "Resort Hotel", "hotel-h2": "City Hotel"}
_HOTEL_ALIASES = {
    **HOTELS,
    "h1": "Resort Hotel", "resort hotel": "Resort Hotel", "resort": "Resort Hotel",
    "h2": "City Hotel", "city hotel": "City Hotel", "city": "City Hotel",
}


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
    dates = parse_dates(daily["date"], what="daily cancellations", column="date").dates
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise RelulabError(f"daily cancellations: row {i + 1} has no date; expected "
                           "YYYY-MM-DD")
    counts = pd.to_numeric(daily["cancellations"], errors="coerce")
    if counts.isna().any():
        i = int(np.flatnonzero(counts.isna().to_numpy())[0])
        raise RelulabError(f"daily cancellations: row {i + 1} has cancellations "
                           f"{daily['cancellations'].iloc[i]!r}; expected a count")
    return _weekly(dates, counts, data_set_week(dates))


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

