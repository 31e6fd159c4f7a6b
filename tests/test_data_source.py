"""DataSource: flags and stored configs to one source, back to the same strings, and loading."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from relulab.config import StudyConfig
from relulab.data import DataSource, bundled
from relulab.errors import RelulabError


@pytest.fixture
def offline(monkeypatch):
    def fail(url, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", fail)


def _csv(path, values):
    pd.DataFrame({"date": pd.date_range("2020-01-05", periods=len(values), freq="W")
                  .strftime("%Y-%m-%d"), "v": values, "w": np.arange(len(values))[::-1] * 2.5}
                 ).to_csv(path, index=False)
    return path


# The strings every stored study holds, written out by hand: they must not change.
def _fields(data, column=None, date_column=None, date_format=None):
    return {"data": data, "column": column, "date_column": date_column,
            "date_format": date_format}


@pytest.mark.parametrize("flags, fields", [
    (dict(data="s.csv"), _fields("s.csv")),
    (dict(data="s.csv", column="v", date_column="d"), _fields("s.csv", "v", "d")),
    (dict(data="s.csv", date_format="%d/%m/%Y"), _fields("s.csv", date_format="%d/%m/%Y")),
    (dict(bundled="sunspots"), _fields("bundled:sunspots")),
    (dict(dataset="hotel-h1"), _fields("dataset:hotel-h1")),
    (dict(dataset="hotel-h1", data_file="H1.csv"), _fields("dataset:hotel-h1:H1.csv")),
    (dict(dataset="hotel-h2", data="b.csv"), _fields("dataset:hotel-h2:b.csv")),
    (dict(dataset="hotel-h2", data="b.csv", data_file="b.csv"),
     _fields("dataset:hotel-h2:b.csv")),
])
def test_flags_to_config_strings_and_back(flags, fields):
    source = DataSource.from_flags(**flags)
    assert source.config_fields() == fields
    config = StudyConfig().replace(**source.config_fields())
    assert source == DataSource.from_config(config)


@pytest.mark.parametrize("flags, message", [
    (dict(), "no series given; pass --data FILE, --dataset NAME or --bundled NAME"),
    (dict(data_file="H1.csv"), "--data-file is the local copy of a --dataset"),
    (dict(data="a.csv", bundled="sunspots"), "--data and --bundled both name a series"),
    (dict(dataset="hotel-h1", bundled="sunspots"), "--dataset and --bundled both name"),
    (dict(dataset="hotel-h1", data="a.csv", data_file="b.csv"),
     "--data a.csv and --data-file b.csv both name the local copy of hotel-h1"),
    (dict(dataset="hotel-h1", column="v"),
     "--column, --date-column and --date-format describe a --data CSV"),
    (dict(bundled="nile", date_column="year"), "--bundled nile has its own; drop them"),
])
def test_flag_combinations_refused_in_one_line(flags, message):
    with pytest.raises(RelulabError) as err:
        DataSource.from_flags(**flags)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_stored_strings_parse_as_before():
    assert DataSource.from_string("bundled:nile") == DataSource("bundled", name="nile")
    assert DataSource.from_string("dataset:hotel-h2:/x/H2.csv") == DataSource(
        "dataset", path="/x/H2.csv", name="hotel-h2")
    # A named series ignores a stored column.
    assert DataSource.from_string("dataset:hotel-h1", column="c").column is None
    # Anything else is a path, colons and all (a "bundled:" with no name too).
    assert DataSource.from_string("bundled:", column="c") == DataSource(
        "csv", path="bundled:", column="c")
    assert DataSource.from_config(StudyConfig()) is None


def test_loads_a_csv_with_its_columns(tmp_path):
    path = _csv(tmp_path / "two.csv", [3.0, 1.0, 4.0, 1.0, 5.0, 9.0])
    with pytest.raises(RelulabError, match="2 numeric columns"):
        DataSource("csv", path=str(path)).load()
    s = DataSource("csv", path=str(path), column="w").load()
    np.testing.assert_array_equal(s.values, [12.5, 10.0, 7.5, 5.0, 2.5, 0.0])
    assert s.dates[0] == "2020-01-05"
    config = StudyConfig(data=str(path), column="v")
    np.testing.assert_array_equal(DataSource.from_config(config).load().values, [3, 1, 4, 1, 5, 9])
    from_string = DataSource.from_string(str(path), column="v")
    np.testing.assert_array_equal(from_string.load().values, [3, 1, 4, 1, 5, 9])


def test_loads_bundled_and_a_local_data_set(tmp_path, offline, monkeypatch):
    np.testing.assert_array_equal(DataSource("bundled", name="nile").load().values,
                                  bundled("nile").values)
    daily = pd.DataFrame({"date": ["2017-01-01", "2017-01-02", "2017-01-08"],
                          "cancellations": [2, 3, 7]})
    path = tmp_path / "daily.csv"
    daily.to_csv(path, index=False)
    s = DataSource.from_flags(dataset="hotel-h1", data=str(path)).load()
    # 2017-01-01 is a Sunday: Jan 1 and 2 are one data-set week, Jan 8 the next
    np.testing.assert_array_equal(s.values, [5.0, 7.0])
    monkeypatch.setenv("RELULAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(RelulabError, match="offline"):
        DataSource("dataset", name="hotel-h1").load()


def test_descriptions():
    assert str(DataSource("csv", path="s.csv")) == "CSV file s.csv"
    assert str(DataSource("csv", path="s.csv", column="v", date_column="d")) == \
        "CSV file s.csv (column 'v', date column 'd')"
    assert str(DataSource("bundled", name="sunspots")) == "bundled series sunspots"
    assert str(DataSource("dataset", name="hotel-h1")) == \
        "data set hotel-h1 (from the cache or downloaded)"
    assert str(DataSource("dataset", name="hotel-h1", path="H1.csv")) == \
        "data set hotel-h1 (local copy H1.csv)"


def test_invalid_sources():
    with pytest.raises(RelulabError, match="unknown data source kind 'url'"):
        DataSource("url", path="x")
    with pytest.raises(RelulabError, match="needs a file"):
        DataSource("csv")
    with pytest.raises(RelulabError, match="needs a name"):
        DataSource("dataset")


def test_a_panel_source_round_trips_and_loads_only_as_a_panel(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"id": ["a"] * 30 + ["b"] * 30,
                  "ds": [str(d.date()) for d in pd.date_range("2020-01-01", periods=30)] * 2,
                  "y": np.arange(60.0)}).to_csv(path, index=False)
    source = DataSource("panel", path=str(path))
    config = StudyConfig().replace(**source.config_fields())
    assert config.data == f"panel:{path}" and DataSource.from_config(config) == source
    assert source.load_panel(series=1).ids == ["a"]
    with pytest.raises(RelulabError, match=r"holds many series; read it with "
                                           r"DataSource\.load_panel"):
        source.load()
    with pytest.raises(RelulabError, match="is one series, not a panel"):
        DataSource("csv", path=str(path)).load_panel()
