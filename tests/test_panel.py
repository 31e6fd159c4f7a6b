"""Panels: many series from a long or a wide table, ragged, with every bad input named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relulab.config import preset
from relulab.data.panel import load_panel
from relulab.errors import RelulabError
from relulab.study import make_plan


def _long(path: Path, rows: list[tuple[str, str, object]], header="unique_id,ds,y") -> Path:
    path.write_text(header + "\n" + "\n".join(f"{a},{b},{c}" for a, b, c in rows) + "\n")
    return path


def test_long_table_in_any_order_becomes_series_sorted_by_date(tmp_path) -> None:
    rows = [("b", "2020-01-03", 7), ("a", "2020-01-02", 2), ("b", "2020-01-01", 5),
            ("a", "2020-01-01", 1), ("b", "2020-01-02", 6), ("a", "2020-01-03", 3)]
    panel = load_panel(_long(tmp_path / "p.csv", rows))
    assert panel.ids == ["b", "a"]  # the file's order of first appearance
    assert panel["a"].values.tolist() == [1, 2, 3]
    assert panel["b"].values.tolist() == [5, 6, 7]
    assert panel["b"].dates == ("2020-01-01", "2020-01-02", "2020-01-03")


def test_wide_table_is_ragged_where_series_start_late_or_end_early(tmp_path) -> None:
    path = tmp_path / "w.csv"
    path.write_text("quarter,A,B,C\n2000-Q1,1,,5\n2000-Q2,2,3,6\n2000-Q3,4,5,\n")
    panel = load_panel(path)
    assert panel.lengths() == {"A": 3, "B": 2, "C": 2}
    assert panel["B"].dates == ("2000-04-01", "2000-07-01")
    assert load_panel(path, columns=["C", "A"]).ids == ["C", "A"]
    path.write_text("quarter,A,B\n2000-Q1,1,1\n2000-Q2,,2\n2000-Q3,4,3\n")
    with pytest.raises(RelulabError, match=r"series 'A'.*NaN.*row 2 \(line 3 of w.csv\)"):
        load_panel(path)


def test_a_subset_by_count_or_by_id(tmp_path) -> None:
    rows = [(k, f"2020-01-0{d}", d) for k in ("x", "y", "z") for d in (1, 2)]
    path = _long(tmp_path / "p.csv", rows)
    assert load_panel(path, series=2).ids == ["x", "y"]
    assert load_panel(path, series_ids=["z", "x"]).ids == ["z", "x"]
    with pytest.raises(RelulabError, match=r"no series 'q'.*--series-ids"):
        load_panel(path, series_ids=["q"])


@pytest.mark.parametrize("rows, header, pattern", [
    ([("a", "2020-01-01", 1), ("a", "2020-01-01", 2)], "unique_id,ds,y",
     r"series 'a' has two rows for 2020-01-01 \(the second at row 2 \(line 3"),
    ([("a", "2020-01-01", 1), ("b", "2020-01-01", "abc")], "unique_id,ds,y",
     r"series 'b'.*row 2 \(line 3 of p.csv\) holds 'abc'"),
    ([("a", "2020-01-01", 1)], "store,ds,y", r"no id column .*--id-column"),
    ([("a", "2020-01-01", 1), ("a", "someday", 2)], "unique_id,ds,y",
     r"series 'a'.*row 2 \(line 3 of p.csv\) has date 'someday', which is not a date"),
])
def test_bad_long_input_is_one_line_naming_series_and_row(tmp_path, rows, header,
                                                          pattern) -> None:
    with pytest.raises(RelulabError, match=pattern):
        load_panel(_long(tmp_path / "p.csv", rows, header), layout="long")


def test_too_short_series_are_left_out_with_a_warning_naming_them() -> None:
    t = np.arange(60)
    frame = pd.DataFrame({
        "unique_id": ["long"] * 60 + ["short"] * 8,
        "ds": [str(d.date()) for d in pd.date_range("2000-01-01", periods=60)]
        + [str(d.date()) for d in pd.date_range("2000-01-01", periods=8)],
        "y": np.concatenate([np.sin(t / 3), np.arange(8.0)]),
    })
    panel = load_panel(frame)
    plan = make_plan(preset("seed", test_size=10), panel)
    assert list(plan.series) == ["long"]
    assert len(plan.warnings) == 1 and plan.warnings[0].startswith("series 'short' left out")
    with pytest.raises(RelulabError, match="no series of the panel suits the study"):
        make_plan(preset("seed", test_size=10), load_panel(frame, series_ids=["short"]))


def test_the_real_panels(shared_data) -> None:
    employment = load_panel(shared_data / "us_employment_long.csv")
    lengths = employment.lengths()
    assert len(employment) == 148 and min(lengths.values()) == 225
    assert max(lengths.values()) == 969
    assert employment["CEU0500000001"].dates[:2] == ("1939-01-01", "1939-02-01")
    regions = load_panel(shared_data / "visnights_wide.csv")
    assert len(regions) == 20 and set(regions.lengths().values()) == {76}
    assert regions["NSWMetro"].dates[:2] == ("1998-01-01", "1998-04-01")


def test_ids_are_text_and_only_a_blank_id_is_missing(tmp_path) -> None:
    rows = [(k, f"2020-01-0{d}", d) for k in ("NA", "NaN", "null", "7") for d in (1, 2)]
    panel = load_panel(_long(tmp_path / "p.csv", rows, "id,ds,y"))
    assert panel.ids == ["NA", "NaN", "null", "7"]
    assert panel["NaN"].values.tolist() == [1, 2]
    frame = pd.DataFrame({"id": ["NA", "NA", None], "ds": ["2020-01-01", "2020-01-02",
                                                            "2020-01-03"], "y": [1, 2, 3]})
    with pytest.raises(RelulabError, match=r"row 2 has no id in column 'id'"):
        load_panel(frame)
    rows.append(("", "2020-01-03", 3))
    with pytest.raises(RelulabError, match=r"row 9 \(line 10 of p.csv\) has no id"):
        load_panel(_long(tmp_path / "p.csv", rows, "id,ds,y"))


def test_a_long_file_is_read_for_the_series_asked_only(tmp_path) -> None:
    # A bad value in a series not asked for does not stop the others; asked for, it does.
    rows = [(k, f"2020-01-{d:02d}", d) for k in ("a", "b", "c") for d in range(1, 11)]
    rows[25] = ("c", rows[25][1], "oops")
    path = _long(tmp_path / "p.csv", rows)
    assert load_panel(path, series=2).lengths() == {"a": 10, "b": 10}
    assert load_panel(path, series_ids=["b"]).ids == ["b"]
    with pytest.raises(RelulabError, match=r"series 'c'.*row 26 \(line 27 .*'oops'"):
        load_panel(path)
    seen: list[tuple[int, int]] = []
    load_panel(path, series=1, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (path.stat().st_size,) * 2


def test_a_long_file_in_chunks_reads_as_a_whole(tmp_path, monkeypatch) -> None:
    import relulab.data.panel as panel_module

    rng = np.random.default_rng(1)
    rows = [(f"s{k}", str(d.date()), float(rng.normal()))
            for d in pd.date_range("2020-01-01", periods=40) for k in range(7)]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    path = _long(tmp_path / "p.csv", rows)
    whole = load_panel(path)
    monkeypatch.setattr(panel_module, "_CHUNK_ROWS", 13)
    chunked = load_panel(path)
    assert chunked.ids == whole.ids == list(dict.fromkeys(r[0] for r in rows))
    for sid in whole:
        assert np.array_equal(chunked[sid].values, whole[sid].values)
        assert chunked[sid].dates == whole[sid].dates
        truth = sorted((d, v) for k, d, v in rows if k == sid)
        assert whole[sid].values.tolist() == [v for _, v in truth]


def test_a_wide_column_without_numbers_is_left_out_with_a_warning(tmp_path) -> None:
    path = tmp_path / "w.csv"
    t = pd.date_range("2000-01-01", periods=40, freq="MS").strftime("%Y-%m-%d")
    pd.DataFrame({"month": t, "A": np.sin(np.arange(40)), "notes": ["x"] * 40}).to_csv(
        path, index=False)
    panel = load_panel(path)
    assert panel.ids == ["A"] and panel.skipped[0][0] == "notes"
    warnings = make_plan(preset("seed", test_size=5), panel).warnings
    assert warnings == (panel.skipped[0][1],)
    assert "column 'notes' left out: it holds text, not numbers, in 40 of its 40 cells" \
        in warnings[0]


def test_a_panel_mixing_frequencies_is_pooled_with_a_warning() -> None:
    def block(sid: str, freq: str) -> pd.DataFrame:
        return pd.DataFrame({"id": sid, "ds": pd.date_range("2000-01-01", periods=40,
                                                          freq=freq).strftime("%Y-%m-%d"),
                             "y": np.sin(np.arange(40.0))})

    frame = pd.concat([block("m1", "MS"), block("m2", "MS"), block("q", "QS"),
                       block("d", "D")])
    warnings = make_plan(preset("seed", test_size=5), load_panel(frame)).warnings
    assert list(warnings) == ["the panel mixes frequencies (2 monthly, 1 quarterly, 1 daily "
                        "series): the pooled ranks compare activations across unlike series, "
                        "and one --season serves them all; to pool like with like, study each "
                        "frequency on its own (--series-ids)"]
    alike = make_plan(preset("seed", test_size=5), load_panel(frame[frame.id.str.startswith("m")]))
    assert alike.warnings == ()
