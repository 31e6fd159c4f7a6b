"""Dates are read in one format per column, decided by all its values, never guessed.

The case that once scrambled a panel silently: weekly rows written day-first
(``A,05/01/2015,0``, ``A,12/01/2015,1``, ...) with each value equal to its row number. Read
month-first where a date is ambiguous and sorted by those dates, the study trained on the
values in the order ``[21, 2, 3, 4, 8, 43, ...]``. Every loader must either give the values
in their true date order (0, 1, 2, ...) with the true dates, or refuse in one line.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relulab.cli import main
from relulab.data import load_panel, load_series
from relulab.data.dates import frequency, looks_like_dates, parse_dates
from relulab.errors import RelulabError

WEEKS = [dt.date(2015, 1, 5) + dt.timedelta(weeks=i) for i in range(60)]


def _write(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def _iso(days):
    return tuple(d.isoformat() for d in days)


def test_the_day_first_long_panel_keeps_its_order(tmp_path):
    path = _write(tmp_path / "p.csv", "id,date,value",
                  [("A", d.strftime("%d/%m/%Y"), i) for i, d in enumerate(WEEKS)])
    series = load_panel(path)["A"]
    assert series.values.tolist() == list(range(len(WEEKS)))
    assert series.dates == _iso(WEEKS)


@pytest.mark.parametrize("layout", ["single", "wide"])
def test_day_first_single_and_wide_files_load_in_order(tmp_path, layout):
    path = _write(tmp_path / "s.csv", "date,value",
                  [(d.strftime("%d/%m/%Y"), i) for i, d in enumerate(WEEKS)])
    series = load_series(path) if layout == "single" else load_panel(path)["value"]
    assert series.values.tolist() == list(range(len(WEEKS)))
    assert series.dates == _iso(WEEKS)


def test_month_first_dates_are_read_month_first(tmp_path):
    path = _write(tmp_path / "us.csv", "date,value",
                  [(d.strftime("%m/%d/%Y"), i) for i, d in enumerate(WEEKS)])
    assert load_series(path).dates == _iso(WEEKS)


def test_a_long_panel_in_any_row_order_is_sorted_by_dates_read_without_a_guess(tmp_path):
    rows = [(s, d, 100 * k + i) for k, s in enumerate("AB") for i, d in enumerate(WEEKS)]
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]

    def written(fmt):
        return _write(tmp_path / "p.csv", "series,ds,y",
                      [(s, d.strftime(fmt), v) for s, d, v in shuffled])

    # ISO dates, and day-first ones once the user names the format, are sorted by.
    for fmt, named in (("%Y-%m-%d", None), ("%d.%m.%Y", "%d.%m.%Y")):
        panel = load_panel(written(fmt), date_format=named)
        assert panel.ids == list(dict.fromkeys(r[0] for r in shuffled))
        assert panel["A"].values.tolist() == list(range(60))
        assert panel["B"].values.tolist() == list(range(100, 160))
        assert panel["B"].dates == _iso(WEEKS)
    # A day/month order read from one value (every other value fits either) does not
    # reorder rows: out of order, they are refused with the format to confirm.
    with pytest.raises(RelulabError, match=r"not in date order .*--date-format %d\.%m\.%Y"):
        load_panel(written("%d.%m.%Y"))


def test_a_switch_of_order_that_one_value_hides_is_not_sorted_silently(tmp_path):
    # 08/01/2014 is day-first, the rest month-first; only 01/13/2014 tells an order.
    text = ["08/01/2014", "01/09/2014", "01/10/2014", "01/11/2014", "01/12/2014", "01/13/2014"]
    long = _write(tmp_path / "l.csv", "id,date,y", [("A", t, i) for i, t in enumerate(text)])
    with pytest.raises(RelulabError, match=r"row 2 .* comes after 08/01/2014; if the column "
                                           r"switches between day-first and month-first"):
        load_panel(long)
    single = _write(tmp_path / "s.csv", "date,y", [(t, i) for i, t in enumerate(text)])
    with pytest.raises(RelulabError, match=r"read as %m/%d/%Y \(the order row 6 .*'01/13/2014'"
                                           r"\) shows\), do not increase"):
        load_series(single)


def test_a_switch_of_order_that_keeps_the_dates_increasing_is_refused_by_their_step(tmp_path):
    # Daily, day-first; the last date is written month-first: 02/03/2014 is 3 February,
    # but read day-first (as 29/01/2014 settles) it is 2 March, 28 days on, and in order.
    days = [dt.date(2014, 1, 29) + dt.timedelta(days=i) for i in range(6)]
    text = [d.strftime("%d/%m/%Y") for d in days[:5]] + ["02/03/2014"]
    single = _write(tmp_path / "s.csv", "date,value", [(t, i) for i, t in enumerate(text)])
    long = _write(tmp_path / "l.csv", "id,date,y", [("A", t, i) for i, t in enumerate(text)])
    for load in (lambda: load_series(single), lambda: load_panel(single),
                 lambda: load_panel(long)):
        with pytest.raises(RelulabError, match=r"row 6 .* holds '02/03/2014' in column "
                                               r"'date', which read as %d/%m/%Y .* breaks the "
                                               r"series' step of 1 day and read the other way "
                                               r"round would keep it"):
            load()
    # the same dates written one way load, with the format named or not
    fixed = _write(tmp_path / "f.csv", "date,value",
                   [(d.strftime("%d/%m/%Y"), i) for i, d in enumerate(days)])
    assert load_series(fixed).dates == _iso(days)
    # a gap in a consistent column is not a switch: 20/02 is not 02/03 read either way
    gappy = [*days[:5], dt.date(2014, 2, 20)]
    gap = _write(tmp_path / "g.csv", "date,value",
                 [(d.strftime("%d/%m/%Y"), i) for i, d in enumerate(gappy)])
    assert load_series(gap).dates == _iso(gappy)


def test_swapped_readings_and_the_off_step_date():
    from relulab.data.dates import off_step, swapped

    got = swapped(["02/03/2014", "29/01/2014", "05/05/2014", "2014-01-02", "3.4.15"],
                  "%d/%m/%Y")
    assert got[0] == pd.Timestamp(2014, 2, 3) and got[4] == pd.Timestamp(2015, 3, 4)
    assert pd.isna(got[1]) and pd.isna(got[2]) and pd.isna(got[3])
    assert swapped(["08/12/2014"], "%m/%d/%Y") == [pd.Timestamp(2014, 12, 8)]
    weekly = pd.date_range("2015-01-05", periods=8, freq="7D")
    assert off_step(weekly, [pd.NaT] * 8) is None
    moved = weekly.insert(8, pd.Timestamp("2015-04-02"))  # 2 April; 4 February fits neither
    others = [pd.NaT] * 8 + [pd.Timestamp("2015-02-04")]
    assert off_step(moved, others) is None
    moved = weekly[:7].append(pd.DatetimeIndex([pd.Timestamp("2015-06-02")]))
    others = [pd.NaT] * 7 + [pd.Timestamp("2015-02-23")]  # 23 February: one week on
    assert off_step(moved, others) == (7, 7 * 86_400 * 10**9)
    # two series: only the second has the off-step date; positions count from the start
    both = weekly.append(moved)
    assert off_step(both, [pd.NaT] * 8 + others, np.repeat([0, 1], 8)) == (15, 7 * 86_400
                                                                            * 10**9)


def test_ambiguous_dates_are_refused_naming_both_formats(tmp_path, capsys):
    months = [dt.date(2015 + i // 12, 1 + i % 12, 1) for i in range(40)]
    path = _write(tmp_path / "m.csv", "date,value",
                  [(d.strftime("%d/%m/%Y"), i) for i, d in enumerate(months)])
    for load in (load_series, load_panel):
        with pytest.raises(RelulabError) as err:
            load(path)
        message = str(err.value)
        assert "--date-format %d/%m/%Y" in message and "--date-format %m/%d/%Y" in message
    assert load_series(path, date_format="%d/%m/%Y").dates == _iso(months)
    assert load_panel(path, date_format="%d/%m/%Y")["value"].dates == _iso(months)
    code = main(["study", "--data", str(path), "--seeds", "1", "--epochs", "1", "--no-db",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--date-format" in err


def test_a_column_switching_from_iso_to_day_first_is_refused(tmp_path):
    months = [dt.date(2015 + i // 12, 1 + i % 12, 1) for i in range(40)]
    text = [d.isoformat() if i < 30 else d.strftime("01/%m/%Y") for i, d in enumerate(months)]
    for header, rows in (("date,value", [(t, i) for i, t in enumerate(text)]),
                         ("id,date,value", [("A", t, i) for i, t in enumerate(text)])):
        path = _write(tmp_path / "mixed.csv", header, rows)
        load = load_series if header.startswith("date") else load_panel
        with pytest.raises(RelulabError, match=r"mixes date formats.*row 1 .*row 31 .*"
                                               r"--date-format"):
            load(path)


def test_day_first_and_month_first_in_one_column_are_refused():
    with pytest.raises(RelulabError, match="mixes day-first and month-first"):
        parse_dates(pd.Series(["13/01/2015", "01/14/2015"]))


def test_a_given_format_is_used_and_a_cell_that_misses_it_is_named(tmp_path):
    path = _write(tmp_path / "s.csv", "date,value",
                  [(d.strftime("%d/%m/%Y"), i) for i, d in enumerate(WEEKS)] + [("2099-01-01", 60)])
    with pytest.raises(RelulabError, match=r"row 61 .* holds '2099-01-01', which does not "
                                           r"match --date-format '%d/%m/%Y'"):
        load_series(path, date_format="%d/%m/%Y")
    with pytest.raises(RelulabError, match="no strftime codes"):
        parse_dates(pd.Series(["x"]), date_format="dd/mm/yyyy")


@pytest.mark.parametrize("texts, expected", [
    (["1998-Q1", "1998 Q2", "1998Q3"], ["1998-01-01", "1998-04-01", "1998-07-01"]),
    (["Sep 2019", "Oct 2019"], ["2019-09-01", "2019-10-01"]),
    (["2019/09/01", "2019/10/01"], ["2019-09-01", "2019-10-01"]),
    (["5.1.15", "13.1.15"], ["2015-01-05", "2015-01-13"]),
    (["05/01/2015 10:00", "13/01/2015 11:30:05"], ["2015-01-05 10:00:00",
                                                    "2015-01-13 11:30:05"]),
])
def test_unambiguous_formats(texts, expected):
    parsed = parse_dates(pd.Series(texts)).dates
    assert [str(t) for t in parsed] == [e if " " in e else e + " 00:00:00" for e in expected]


def test_date_columns_are_found_in_any_format_but_text_is_not():
    assert looks_like_dates(pd.Series(["05/01/2015", "2015-01-01"]))  # found, then refused
    assert not looks_like_dates(pd.Series(["a", "b"]))
    assert not looks_like_dates(pd.Series([1.0, 2.0]))


@pytest.mark.parametrize("start, step, name", [
    ("2015-01-01", "D", "daily"), ("2015-01-05", "W-MON", "weekly"),
    ("2015-01-01", "MS", "monthly"), ("1998-01-01", "QS", "quarterly"),
    ("2000-01-01", "YS", "yearly"),
])
def test_frequency_from_dates(start, step, name):
    dates = pd.date_range(start, periods=30, freq=step).strftime("%Y-%m-%d")
    assert frequency(list(dates)) == name
    assert frequency(list(dates[:1])) is None


# -------------------------------------------------- no loader reorders by a guessed date

_STYLES = {"iso": "%Y-%m-%d", "dmy": "%d/%m/%Y", "mdy": "%m/%d/%Y", "dmy.": "%d.%m.%Y",
           "dmy2": "%d-%m-%y"}


@st.composite
def _dated_file(draw):
    step = draw(st.sampled_from([1, 7, 14, 30]))
    n = draw(st.integers(6, 40))
    start = dt.date(2014, 1, 1) + dt.timedelta(days=draw(st.integers(0, 400)))
    days = [start + dt.timedelta(days=step * i) for i in range(n)]
    style = draw(st.sampled_from(sorted(_STYLES)))
    text = [d.strftime(_STYLES[style]) for d in days]
    if draw(st.integers(0, 5)) == 0:  # a column that switches format part way
        cut = draw(st.integers(1, n - 1))
        other = draw(st.sampled_from(sorted(_STYLES)))
        text = text[:cut] + [d.strftime(_STYLES[other]) for d in days[cut:]]
    layout = draw(st.sampled_from(["single", "wide", "long", "long-shuffled", "frame"]))
    return days, text, layout, draw(st.randoms(use_true_random=False))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(case=_dated_file())
def test_no_loader_puts_values_out_of_date_order(case, tmp_path):
    """Whatever the format, a loader gives each value at its true date, in date order,
    or refuses in one line: never values reordered by dates read in a guessed format."""
    days, text, layout, rnd = case
    rows = [("NA", t, i) for i, t in enumerate(text)]  # "NA" is an id, not a missing one
    if layout == "long-shuffled":
        rnd.shuffle(rows)
    path = tmp_path / f"{layout}.csv"
    try:
        if layout == "single":
            series = load_series(_write(path, "date,value", [r[1:] for r in rows]))
        elif layout == "wide":
            series = load_panel(_write(path, "date,value", [r[1:] for r in rows]))["value"]
        elif layout == "frame":
            series = load_panel(pd.DataFrame(rows, columns=["id", "date", "y"]))["NA"]
        else:
            series = load_panel(_write(path, "id,date,y", rows))["NA"]
    except RelulabError as err:
        assert "\n" not in str(err)
        return
    assert series.values.tolist() == list(range(len(days)))
    assert series.dates == _iso(days)
