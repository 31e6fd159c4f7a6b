"""Bad input ends as one error line (exit 2) or a study that runs (exit 0), never a traceback.

Malformed and extreme-but-finite CSVs are generated (hypothesis) and fed to the loader and
to ``relulab study`` in-process; the config refuses optimiser settings that would train
silently wrong.
"""

from __future__ import annotations

import datetime
import math
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relulab.cli import main
from relulab.config import StudyConfig
from relulab.data import load_panel, load_series
from relulab.errors import RelulabError

# ------------------------------------------------------------------ config


@pytest.mark.parametrize("field, value, fix", [
    ("learning_rate", -1.0, "--learning-rate"),
    ("learning_rate", 0.0, "--learning-rate"),
    ("learning_rate", math.nan, "--learning-rate"),
    ("learning_rate", math.inf, "--learning-rate"),
    ("beta1", 1.0, "[0, 1)"),
    ("beta2", -0.1, "[0, 1)"),
    ("beta2", math.nan, "[0, 1)"),
    ("eps", 0.0, "positive"),
    ("eps", -1e-7, "positive"),
    ("confidence", 1.0, "(0, 1)"),
    ("season", 0, "--season"),
])
def test_config_refuses_optimiser_and_evaluation_settings_that_cannot_work(field, value, fix):
    with pytest.raises(RelulabError) as err:
        StudyConfig(**{field: value})
    message = str(err.value)
    assert message.startswith(f"{field} must") and fix in message and "\n" not in message


def test_config_accepts_the_edges_that_work():
    StudyConfig(learning_rate=1e-12, beta1=0.0, beta2=0.0, eps=1e-30, confidence=0.5, season=1)


@pytest.mark.parametrize("rate", ["-1", "0"])
def test_cli_refuses_a_non_positive_learning_rate(rate, capsys):
    code = main(["study", "--bundled", "nile", "--learning-rate", rate, "--seeds", "1",
                 "--epochs", "1", "--no-db", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("relulab: error: learning_rate must be a positive number")
    assert "--learning-rate" in err and err.count("\n") == 1


@pytest.mark.parametrize("scale, fix", [(1e300, "divide it by 1e"), (1e-300, "multiply it by 1e")])
def test_cli_refuses_a_scale_float32_cannot_carry(scale, fix, tmp_path, capsys):
    # Once the ARIMA baseline's KPSS step died with "cannot convert float NaN to integer".
    values = 100 + 10 * np.random.default_rng(0).normal(size=40).cumsum()
    path = tmp_path / "huge.csv"
    path.write_text("v\n" + "\n".join(repr(float(v * scale)) for v in values) + "\n")
    code = main(["study", "--data", str(path), "--seeds", "1", "--epochs", "1", "--no-db",
                 "--quiet", "--activations", "tanh"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("relulab: error: ") and "float32" in err and fix in err


# ------------------------------------------------------------- generated CSVs

# Cells: ordinary numbers, extreme but finite ones, and what spreadsheets and people write.
_NUMBER = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(-1e4, 1e4, allow_nan=False).map(repr),
    st.sampled_from(["1e300", "-1.7e308", "1e-300", "5e-324", "1e31", "3.4e38"]),
)
_ODD = st.sampled_from(["", " ", "abc", "nan", "NaN", "NA", "inf", "-inf", "1,5", "1.2.3",
                        "TRUE", '"7"', '"1,5"', "#N/A", "null", "2020-01-01", "05/01/2020",
                        "1 000", "０"])
# How the date column is written: ISO, day-first, month-first, or switching part way.
_DATE_STYLES = {"iso": "%Y-%m-%d", "dmy": "%d/%m/%Y", "mdy": "%m/%d/%Y", "dmy.": "%d.%m.%Y"}
_CELL = st.one_of(_NUMBER, _NUMBER, _NUMBER, _ODD)
_NAME = st.sampled_from(["v", "value", "date", "ds", "y", "id", "a", "a", "", '"x,y"', "Wert"])


@st.composite
def _csv_text(draw) -> bytes:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    columns = draw(st.integers(1, 3))
    header = [draw(_NAME) for _ in range(columns)]
    # 30 rows fit the seed preset (24 points needed) with one shape, so one compilation.
    n = draw(st.sampled_from([30, 30, 12, 3, 0]))
    kind = draw(st.sampled_from(["clean", "clean", "clean", "cells", "scaled", "constant"]))
    rows = []
    base = draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n))
    scale = draw(st.sampled_from([1.0, 1e300, 1e-300, 1e36, 1e9]))
    ragged = draw(st.integers(0, n - 1)) if n and draw(st.integers(0, 4)) == 0 else -1
    style = draw(st.sampled_from(["iso", "iso", "dmy", "mdy", "dmy.", "mixed"]))
    switch = draw(st.integers(1, max(n - 1, 1)))
    for i in range(n):
        row = []
        for c in range(columns):
            if c == 0 and columns > 1 and kind != "cells":  # dates first
                day = datetime.date(2020, 1 + i // 28, 1 + i % 28)
                written = "dmy" if style == "mixed" and i >= switch else \
                    "iso" if style == "mixed" else style
                row.append(day.strftime(_DATE_STYLES[written]))
            elif c == 2:
                row.append(draw(st.sampled_from(["a", "b", ""])))  # a label column
            elif kind == "cells":
                row.append(draw(_CELL))
            elif kind == "constant":
                row.append("5")
            elif kind == "scaled":
                row.append(repr(float(base[i] * scale + (1e9 if scale == 1e9 else 0))))
            else:
                row.append(str(base[i]))
        if i == ragged:
            row = [*row, draw(_CELL)] if draw(st.booleans()) else row[:-1]
        rows.append(sep.join(row))
    text = "\n".join([sep.join(header), *rows]) + draw(st.sampled_from(["\n", "", "\n\n"]))
    bom = b"\xef\xbb\xbf" if draw(st.integers(0, 4)) == 0 else b""
    return bom + text.encode()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(content=_csv_text())
def test_any_csv_loads_or_fails_in_one_line_and_the_study_exits_0_or_2(content, tmp_path,
                                                                         capsys):
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(content)
    try:
        series = load_series(path)
    except RelulabError as err:
        assert "\n" not in str(err)
    else:
        assert series.values.dtype == np.float64 and np.all(np.isfinite(series.values))

    capsys.readouterr()
    code = main(["study", "--data", str(path), "--seeds", "1", "--epochs", "1", "--no-db",
                 "--quiet", "--activations", "tanh"])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("relulab: error:")]
    assert len(errors) == (1 if code == 2 else 0)
    # Anything else on stderr is a warning line, never a stray message or stack frame.
    assert all(line.startswith(("relulab: error:", "relulab: warning:"))
               for line in err.splitlines())


# ------------------------------------------------------------ generated long panels

_ID = st.sampled_from(["a", "b", "NA", "NaN", "null", "None", "", " ", "7", "Zürich 🏨"])


@st.composite
def _long_panel_text(draw) -> tuple[str, dict[str, list[int] | None]]:
    """A long CSV and, per id, its values in date order (None where an odd cell was
    written in, which may load or be refused)."""
    ids = draw(st.lists(_ID, min_size=1, max_size=3, unique=True))
    n = draw(st.integers(1, 20))
    style = draw(st.sampled_from(["iso", "dmy", "mdy", "dmy.", "mixed"]))
    start = datetime.date(2020, 1, 1) + datetime.timedelta(days=draw(st.integers(0, 60)))
    step = draw(st.sampled_from([1, 7, 30]))
    rows = []
    truth: dict[str, list[int] | None] = {}
    for k, sid in enumerate(ids):
        truth[sid] = [100 * k + i for i in range(n)]
        for i in range(n):
            day = start + datetime.timedelta(days=step * i)
            written = ("dmy" if i >= n // 2 else "iso") if style == "mixed" else style
            value = str(100 * k + i)
            if draw(st.integers(0, 9)) == 0:
                value, truth[sid] = draw(_ODD), None  # loaded or refused: not compared
            rows.append((sid, day.strftime(_DATE_STYLES[written]), value))
    if draw(st.booleans()):
        rows = draw(st.permutations(rows))
    text = "id,date,y\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)
    return text, truth


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_long_panel_text())
def test_any_long_panel_loads_in_date_order_or_fails_in_one_line(case, tmp_path):
    """Ids are text ("NA" and "NaN" are ids; only a blank one is missing), and a series
    that loads holds its values in their true date order: never an order from dates read
    in a guessed format."""
    text, truth = case
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_text(text)
    try:
        panel = load_panel(path)
    except RelulabError as err:
        assert "\n" not in str(err)
        assert not ("no id" in str(err) and all(i.strip() for i in truth))
        return
    assert all(i.strip() for i in truth)
    assert panel.ids == [i for i in dict.fromkeys(
        line.split(",")[0] for line in text.splitlines()[1:])]
    for sid, values in truth.items():
        if values is not None:
            assert panel[sid].values.tolist() == values
