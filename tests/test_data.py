"""Loading series, hotel aggregation, named and bundled data sets; never touches the network."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relulab import data
from relulab.data import (
    DATASETS,
    Series,
    bundled,
    bundled_names,
    daily_to_weekly,
    hotel_weekly,
    load_dataset,
    load_series,
)
from relulab.data.user import sniff_format
from relulab.errors import RelulabError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ----------------------------------------------------------------------- Series


def test_content_hash_depends_on_values_and_dates_only():
    a = Series(np.array([1.0, 2.0, 3.0]), "a", ("2020-01-01", "2020-01-02", "2020-01-03"), "x")
    same = Series([1, 2, 3], "other name", ("2020-01-01", "2020-01-02", "2020-01-03"), "y")
    assert a.content_hash() == same.content_hash()
    assert len(a.content_hash()) == 16
    assert a.content_hash() != Series([1, 2, 4], "a", a.dates).content_hash()
    assert a.content_hash() != Series([1, 2, 3], "a", None).content_hash()


def test_series_is_immutable_and_checks_its_dates():
    s = Series([1, 2, 3], "s")
    assert s.values.dtype == np.float64 and not s.values.flags.writeable
    with pytest.raises(RelulabError, match="3 values but 2 dates"):
        Series([1, 2, 3], "s", ("2020-01-01", "2020-01-02"))


# ----------------------------------------------------------------- load_series: CSV


def test_csv_with_a_date_and_a_value_column(tmp_path):
    path = write(tmp_path / "sales.csv",
                 "date,units\n2021-01-03,5\n2021-01-10,7\n2021-01-17,6\n2021-01-24,9\n"
                 "2021-01-31,4\n")
    s = load_series(path)
    np.testing.assert_array_equal(s.values, [5, 7, 6, 9, 4])
    assert s.dates == ("2021-01-03", "2021-01-10", "2021-01-17", "2021-01-24", "2021-01-31")
    assert (s.name, s.source) == ("sales:units", str(path))
    assert load_series(str(path), name="mine").name == "mine"


def test_csv_index_like_columns_are_not_values(tmp_path):
    # The shape of hotel_h1_weekly.csv: year_week is numeric but a key, not the series.
    path = write(tmp_path / "w.csv",
                 "year_week,week_start,cancellations\n201527,2015-07-01,41\n201528,2015-07-05,48\n"
                 "201529,2015-07-12,87\n201530,2015-07-19,74\n201531,2015-07-26,60\n")
    s = load_series(path)
    np.testing.assert_array_equal(s.values, [41, 48, 87, 74, 60])
    assert s.dates[0] == "2015-07-01"


def test_csv_value_and_date_columns_can_be_named(tmp_path):
    path = write(tmp_path / "two.csv",
                 "when,a,b\n2020-01-01,1,10\n2020-01-02,2,30\n2020-01-03,3,20\n"
                 "2020-01-04,4,40\n2020-01-05,5,50\n")
    with pytest.raises(RelulabError, match=r"2 numeric columns \(a, b\).*--column"):
        load_series(path)
    s = load_series(path, column="b", date_column="when")
    np.testing.assert_array_equal(s.values, [10, 30, 20, 40, 50])
    assert s.dates[-1] == "2020-01-05"


def test_the_real_weekly_file_loads(shared_data):
    s = load_series(shared_data / "hotel_h1_weekly.csv")
    assert len(s) == 115
    assert (s.values[0], s.values[-1], s.dates[0]) == (41.0, 100.0, "2015-07-01")


CSV_ERRORS = [
    ("missing.csv", None, dict(column="x"), "not found"),
    ("empty.csv", "", {}, "is empty"),
    ("header.csv", "date,value\n", {}, "no data rows"),
    ("ragged.csv", "a,b\n1,2\n3,4,5,6\n", {}, "not a well-formed CSV"),
    ("cols.csv", "t,v\n1,2\n2,3\n", dict(column="cancellations"),
     r"no column 'cancellations'; available columns: t, v"),
    ("text.csv", "v\n1\n2\n3a\n4\n5\n6\n", {}, r"row 3 \(line 4 of text.csv\) holds '3a'"),
    ("gap.csv", "year,v\n2001,1\n2002,2\n2003,\n2004,4\n2005,5\n2006,6\n", {},
     r"1 missing \(NaN\) value.*row 3.*fill"),
    ("nan.csv", "v\n1\n2\n3\nNaN\n5\n6\n", {}, r"missing \(NaN\).*row 4"),
    ("inf.csv", "v\n1\n2\ninf\n4\n5\n6\n", {}, r"1 infinite value.*row 3"),
    ("flat.csv", "v\n7\n7\n7\n7\n7\n7\n", {}, "constant.*min-max"),
    ("short.csv", "v\n1\n2\n3\n", {}, "3 points, too few"),
    ("words.csv", "name,kind\na,b\nc,d\n", {}, "no numeric column.*--column"),
    ("order.csv", "date,v\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n2020-01-04,4\n"
     "2020-01-05,5\n", {}, r"do not increase \(row 3 .*sort"),
    ("baddate.csv", "d,v\n2020-01-01,1\nsoon,2\n2020-01-03,3\n2020-01-04,4\n2020-01-05,5\n",
     dict(date_column="d"), r"row 2 .* holds 'soon', which is not a date"),
]


@pytest.mark.parametrize(("file", "text", "kwargs", "match"), CSV_ERRORS,
                         ids=[c[0] for c in CSV_ERRORS])
def test_csv_problems_give_one_clear_error(tmp_path, file, text, kwargs, match):
    path = tmp_path / file
    if text is not None:
        path.write_text(text)
    with pytest.raises(RelulabError, match=match):
        load_series(path, **kwargs)


# ---------------------------------------------------------- load_series: in memory


def test_pandas_series_with_a_datetime_index():
    idx = pd.date_range("2020-01-05", periods=5, freq="W")
    s = load_series(pd.Series([3, 1, 4, 1, 5], index=idx, name="demand"))
    assert (s.name, s.source) == ("demand", "pandas.Series")
    assert s.dates == ("2020-01-05", "2020-01-12", "2020-01-19", "2020-01-26", "2020-02-02")


def test_dataframe_and_arrays():
    frame = pd.DataFrame({"ds": ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04",
                                 "2020-01-05"], "y": [1.5, 2.5, 2.0, 3.0, 1.0]})
    s = load_series(frame)
    assert s.name == "y" and s.dates[1] == "2020-01-02"
    np.testing.assert_array_equal(load_series([1, 2, 3, 2, 1]).values, [1, 2, 3, 2, 1])
    np.testing.assert_array_equal(load_series(np.arange(6.0).reshape(6, 1)).values,
                                  np.arange(6.0))
    assert load_series(np.arange(6)).dates is None
    series = Series([1, 2, 3, 4, 5], "s")
    assert load_series(series) is series


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ([1, 2, "x", 4, 5, 6], "position 2 holds 'x'"),
        ([1.0, 2.0, np.nan, 4.0, 5.0], "NaN.*position 2"),
        (pd.Series([1.0, 2.0, np.inf, 4.0, 5.0], index=list("abcde")), "infinite.*index 'c'"),
        (np.ones((3, 3)), r"shape \(3, 3\)"),
        (np.zeros(8), "constant"),
    ],
)
def test_in_memory_problems(source, match):
    with pytest.raises(RelulabError, match=match):
        load_series(source)


# ------------------------------------------------------------------ hotel bookings

# Arrivals around New Year 2016. Data-set weeks (%U + 1): Sat 2015-12-26 is week 52,
# Sun 12-27 to Thu 12-31 week 53, Fri 2016-01-01 week 1, Sun 01-03 week 2.
BOOKINGS = [  # hotel, is_canceled, year, month, week, day
    ("Resort Hotel", 1, 2015, "December", 53, 31),
    ("Resort Hotel", 0, 2015, "December", 53, 27),
    ("City Hotel", 1, 2015, "December", 53, 27),
    ("Resort Hotel", 1, 2015, "December", 52, 26),
    ("Resort Hotel", 1, 2015, "December", 53, 28),
    ("Resort Hotel", 0, 2016, "January", 2, 3),
    ("City Hotel", 0, 2016, "January", 1, 2),
    ("Resort Hotel", 1, 2016, "January", 1, 1),
]
H1_WEEKS = pd.DataFrame({
    "year_week": [201552, 201553, 201601, 201602],
    "week_start": ["2015-12-26", "2015-12-27", "2016-01-01", "2016-01-03"],
    "cancellations": [1, 2, 1, 0],
})
H2_WEEKS = pd.DataFrame({"year_week": [201553, 201601], "week_start": ["2015-12-27", "2016-01-02"],
                         "cancellations": [1, 0]})
SNAKE = ["hotel", "is_canceled", "arrival_date_year", "arrival_date_month",
         "arrival_date_week_number", "arrival_date_day_of_month"]
CAMEL = ["IsCanceled", "ArrivalDateYear", "ArrivalDateMonth", "ArrivalDateWeekNumber",
         "ArrivalDateDayOfMonth"]


def combined() -> pd.DataFrame:
    """The snake_case hotel_bookings.csv schema, with an unrelated column as real files have."""
    frame = pd.DataFrame(BOOKINGS, columns=SNAKE)
    frame.insert(2, "lead_time", range(len(frame)))
    return frame


def camel(hotel: str) -> pd.DataFrame:
    """The data paper's H1.csv/H2.csv schema: one hotel per file, no hotel column."""
    rows = [b[1:] for b in BOOKINGS if b[0] == hotel]
    frame = pd.DataFrame(rows, columns=CAMEL)
    frame["ArrivalDateMonth"] = frame["ArrivalDateMonth"] + "  "  # the paper pads some text
    frame["ADR"] = 100.0
    return frame


def assert_weeks(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual.reset_index(drop=True), expected, check_dtype=False)


def test_combined_schema_aggregates_each_hotel():
    assert_weeks(hotel_weekly(combined(), "H1"), H1_WEEKS)
    assert_weeks(hotel_weekly(combined(), "City Hotel"), H2_WEEKS)


def test_paper_schema_aggregates_the_same():
    assert_weeks(hotel_weekly(camel("Resort Hotel"), "hotel-h1"), H1_WEEKS)
    assert_weeks(hotel_weekly(camel("City Hotel"), "h2"), H2_WEEKS)


def test_missing_week_numbers_are_counted_as_the_data_set_counts_them():
    assert_weeks(hotel_weekly(combined().drop(columns="arrival_date_week_number"), "H1"),
                 H1_WEEKS)


def test_hotel_problems():
    with pytest.raises(RelulabError, match="unknown hotel"):
        hotel_weekly(combined(), "H3")
    with pytest.raises(RelulabError, match=r"lack column.*is_canceled"):
        hotel_weekly(combined().drop(columns="is_canceled"), "H1")
    with pytest.raises(RelulabError, match=r"no rows for 'City Hotel'.*Resort Hotel"):
        hotel_weekly(combined().query("hotel == 'Resort Hotel'"), "H2")
    bad = combined()
    bad.loc[1, "arrival_date_month"] = "Smarch"
    with pytest.raises(RelulabError, match="row 2 has arrival_date_month = 'Smarch'"):
        hotel_weekly(bad, "H1")


def test_daily_to_weekly_by_hand():
    daily = pd.DataFrame({"date": ["2015-12-26", "2015-12-27", "2015-12-31", "2016-01-01",
                                   "2016-01-02", "2016-01-03"],
                          "cancellations": [4, 1, 2, 3, 5, 6]})
    expected = pd.DataFrame({"year_week": [201552, 201553, 201601, 201602],
                             "week_start": ["2015-12-26", "2015-12-27", "2016-01-01",
                                            "2016-01-03"],
                             "cancellations": [4, 3, 8, 6]})
    assert_weeks(daily_to_weekly(daily), expected)


def test_daily_file_sums_to_the_weekly_file_exactly(shared_data):
    daily = pd.read_csv(shared_data / "hotel_h1_daily.csv")
    weekly = pd.read_csv(shared_data / "hotel_h1_weekly.csv")
    pd.testing.assert_frame_equal(daily_to_weekly(daily), weekly)


# --------------------------------------------------------------------- load_dataset


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails as it would offline; returns the list of URLs tried."""
    tried = []

    def offline(url, *args, **kwargs):
        tried.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tried


def test_dataset_from_a_local_file_in_either_schema(tmp_path, no_network):
    snake = tmp_path / "hotel_bookings.csv"
    combined().to_csv(snake, index=False)
    paper = tmp_path / "H1.csv"
    camel("Resort Hotel").to_csv(paper, index=False)
    for path in (snake, paper):
        s = load_dataset("hotel-h1", data=path)
        np.testing.assert_array_equal(s.values, [1, 2, 1, 0])
        assert s.dates == tuple(H1_WEEKS["week_start"])
        assert (s.name, s.source) == ("hotel-h1", str(path))
    np.testing.assert_array_equal(load_dataset("hotel-h2", data=snake).values, [1, 0])
    assert no_network == []


def test_dataset_from_the_shared_daily_file(shared_data, no_network):
    s = load_dataset("hotel-h1", data=shared_data / "hotel_h1_daily.csv")
    weekly = pd.read_csv(shared_data / "hotel_h1_weekly.csv")
    np.testing.assert_array_equal(s.values, weekly["cancellations"])


def test_dataset_uses_the_cache_without_downloading(tmp_path, no_network):
    combined().to_csv(tmp_path / "hotel_bookings.csv", index=False)
    s = load_dataset("hotel-h1", cache_dir=tmp_path)
    np.testing.assert_array_equal(s.values, [1, 2, 1, 0])
    assert no_network == []


def test_dataset_downloads_once_into_the_cache(tmp_path):
    remote = tmp_path / "remote.csv"
    combined().to_csv(remote, index=False)
    cache = tmp_path / "cache"
    s = load_dataset("hotel-h2", cache_dir=cache, url=remote.as_uri())
    np.testing.assert_array_equal(s.values, [1, 0])
    assert sorted(p.name for p in cache.iterdir()) == ["hotel_bookings.csv"]  # no .part left
    remote.unlink()  # a second load must not need the source any more
    assert load_dataset("hotel-h1", cache_dir=cache, url=remote.as_uri()).values.tolist() == [
        1, 2, 1, 0]


def test_offline_says_to_pass_data(tmp_path, no_network):
    with pytest.raises(RelulabError, match=r"could not download.*--data FILE.*H1\.csv"):
        load_dataset("hotel-h1", cache_dir=tmp_path, url="https://example.invalid/h.csv")
    assert no_network == ["https://example.invalid/h.csv"]
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left in the cache


@pytest.mark.parametrize("error", [TimeoutError("timed out"), ConnectionResetError(104, "reset")])
def test_timeouts_and_dropped_connections_are_offline_too(tmp_path, monkeypatch, error):
    def fail(url, *args, **kwargs):
        raise error

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    with pytest.raises(RelulabError, match="could not download"):
        load_dataset("hotel-h1", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_invalid_url_is_a_clear_error(tmp_path):
    with pytest.raises(RelulabError, match=r"could not download.*--data"):
        load_dataset("hotel-h1", cache_dir=tmp_path, url="not a url")


def test_a_download_that_is_not_the_bookings_file_is_not_cached(tmp_path):
    page = write(tmp_path / "page.csv", "<html>\nmoved\n")
    cache = tmp_path / "cache"
    with pytest.raises(RelulabError, match="not the hotel bookings CSV"):
        load_dataset("hotel-h1", cache_dir=cache, url=page.as_uri())
    assert list(cache.iterdir()) == []


def test_no_download_and_no_cache(tmp_path, no_network):
    with pytest.raises(RelulabError, match=r"not in the cache.*--data"):
        load_dataset("hotel-h1", cache_dir=tmp_path, download=False)


def test_cache_dir_comes_from_the_environment(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("RELULAB_CACHE", str(tmp_path))
    assert data.default_cache_dir() == tmp_path
    combined().to_csv(tmp_path / "hotel_bookings.csv", index=False)
    assert len(load_dataset("hotel-h1")) == 4


def test_dataset_problems(tmp_path):
    with pytest.raises(RelulabError, match=r"unknown dataset 'hotel-h9'.*hotel-h1"):
        load_dataset("hotel-h9")
    with pytest.raises(RelulabError, match="not found"):
        load_dataset("hotel-h1", data=tmp_path / "H1.csv")
    paper = tmp_path / "H1.csv"
    camel("Resort Hotel").to_csv(paper, index=False)
    with pytest.raises(RelulabError, match=r"holds hotel H1, not H2; pass H2\.csv"):
        load_dataset("hotel-h2", data=paper)
    other = write(tmp_path / "other.csv", "a,b\n1,2\n")
    with pytest.raises(RelulabError, match="not a hotel bookings file"):
        load_dataset("hotel-h1", data=other)


# ------------------------------------------------------------------ bundled series


def test_bundled_sunspots():
    s = bundled()
    assert s.name == "sunspots" and "sunspots" in bundled_names()
    # Wolfer's yearly sunspot numbers: 1700-2008, starting 5, 11, 16, 23.
    assert len(s) == 309 and (s.dates[0], s.dates[-1]) == ("1700-01-01", "2008-01-01")
    np.testing.assert_array_equal(s.values[:4], [5, 11, 16, 23])
    assert s.values.min() >= 0
    assert load_dataset("sunspots").content_hash() == s.content_hash()


def test_bundled_unknown_and_dataset_descriptions():
    with pytest.raises(RelulabError, match=r"unknown bundled series 'x'.*sunspots"):
        bundled("x")
    assert {"hotel-h1", "hotel-h2", "sunspots"} <= set(DATASETS)
    assert all(isinstance(v, str) and v for v in DATASETS.values())


# ------------------------------------------------------------------ CSV separators


@pytest.mark.parametrize("text, sep, decimal", [
    ("d,v\n2020-01-01,1.5\n2020-01-02,2\n", ",", "."),
    ("d;v\n2020-01-01;1.5\n2020-01-02;2\n", ";", "."),
    ("d;v\n2020-01-01;1,5\n2020-01-02;2\n", ";", ","),
    ("d\tv\n2020-01-01\t1,5\n2020-01-02\t-0,25e3\n", "\t", ","),
    ("d|v\n2020-01-01|1\n2020-01-02|2\n", "|", "."),
    ('d;v\n"2020-01-01";"1,5"\n"2020-01-02";"2"\n', ";", ","),
    # commas inside quotes do not split; a comma-separated file keeps its decimal points
    ('name,v\n"a;b",1.5\n"c;d",2\n', ",", "."),
    ("v\n1\n2\n", ",", "."),  # one column: nothing to separate
    ("", ",", "."),
    # ragged rows: the header decides, and pandas names the ragged line
    ("d;v\n1;2\n2;3;4\n", ";", "."),
])
def test_sniff_format(text, sep, decimal):
    assert sniff_format(text)[:2] == (sep, decimal)
    assert sniff_format(text).problem is None


@pytest.mark.parametrize("text, problem", [
    ("d,v\n2020-01-01,1,5\n2020-01-02,2,0\n", "decimal commas (1,5)?"),
    ("date;value,eur\n1;2\n2;3;4\n", "looks semicolon-separated, but its header also splits"),
])
def test_sniff_format_names_what_pandas_would_misread(text, problem):
    assert problem in sniff_format(text).problem


def test_semicolon_files_with_decimal_commas_load(tmp_path):
    path = write(tmp_path / "eu.csv",
                 "Datum;Wert\n2020-01-01;1,5\n2020-01-02;2,5\n2020-01-03;3\n"
                 "2020-01-04;1,25\n2020-01-05;7\n")
    s = load_series(path)
    np.testing.assert_array_equal(s.values, [1.5, 2.5, 3.0, 1.25, 7.0])
    assert s.dates[0] == "2020-01-01" and s.name == "eu:Wert"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfd\tv\n" + b"".join(
        f"2020-01-0{i}\t{i * i}\n".encode() for i in range(1, 7)))
    np.testing.assert_array_equal(load_series(bom).values, [1, 4, 9, 16, 25, 36])


@pytest.mark.parametrize("text, message", [
    ("d;v\n2020-01-01;1.5\n2020-01-02;2,5\n2020-01-03;3\n2020-01-04;1\n2020-01-05;7\n",
     "row 2 (line 3 of f.csv) holds '2,5', a decimal comma among numbers written with "
     "decimal points; write every number one way"),
    ("d;v\n1;2\n2;3;4\n3;5\n4;1\n5;0\n",
     "Expected 2 fields in line 3, saw 3); check that every row has as many "
     "semicolon-separated fields as the header"),
    ("d,v\n2020-01-01,1,5\n2020-01-02,2,5\n2020-01-03,3,0\n2020-01-04,1,25\n2020-01-05,7,0\n",
     "has 3 comma-separated fields in every row but 2 in its header: decimal commas"),
])
def test_separator_problems_in_one_line(tmp_path, text, message):
    with pytest.raises(RelulabError) as err:
        load_series(write(tmp_path / "f.csv", text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_column_name_with_a_line_break_keeps_the_message_on_one_line(tmp_path):
    path = write(tmp_path / "f.csv", '"a\nb";v\n1;2\n2;3\n3;4\n4;5\n5;0\n')
    with pytest.raises(RelulabError) as err:
        load_series(path)
    assert "2 numeric columns ('a\\nb', v)" in str(err.value) and "\n" not in str(err.value)
