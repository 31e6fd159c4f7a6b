"""A user's table as a supervised task: a CSV file or a pandas DataFrame, one target column,
split and encoded into a :class:`relulab.tasks.TaskData` (``relulab study --table``).

    data = load_table("patients.csv", target="diagnosis", task="classification")
    data.description  # patients.csv: 569 rows, 30 features (0 one-hot), target 'diagnosis',
                      # 2 classes

The split (``seed`` decides it, and only it):

- classification: stratified. Each class's rows are shuffled (``numpy.random.default_rng(
  seed)``, the classes in the order of their sorted names) and ``round(test_fraction *
  n_k)`` of them go to the test part, at least one and at most ``n_k - 1``, so every class
  is in both parts. The validation part takes ``round(validation_split * m_k)`` of each
  class's ``m_k`` remaining rows the same way (none when ``validation_split`` is 0; at
  most ``m_k - 1``). ``round`` takes halves up (``2.5 -> 3``).
- regression: the rows shuffled once, the same shares taken in turn.

Within each part the rows keep the table's order.

Features, learnt from the training rows alone (so no test row leaks into them):

- a numeric column is standardised with the training rows' mean and standard deviation
  (``ddof=0``); a column constant on the training rows carries nothing to learn from and
  is left out, named in the description and in a ``UserWarning``;
- a text, boolean or category column is one-hot encoded over the categories its training
  rows hold (sorted; a category seen only in validation or test rows encodes as all
  zeros); one whose training rows hold a single category is left out as constant. A text
  column of numbers (every filled cell a number) is numeric.

Classification labels are encoded ``0 .. classes - 1`` in the order of ``class_names``
(numbers sorted as numbers, text as text). Every problem a table can have is one
:class:`~relulab.errors.RelulabError` naming the table, the problem and the fix.

Pure apart from reading the CSV it is given (:func:`relulab.data.user.read_csv`, which
detects the separator and decimal mark and words every unreadable file).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relulab.data.user import not_a_number, parse_numbers, read_csv
from relulab.errors import RelulabError
from relulab.tasks import TASK_NAMES, TaskData

__all__ = ["MAX_LEVELS", "load_table"]

# A text column with more distinct values than this, and distinct in more than half of its
# rows, is an identifier or free text: one-hot encoding it would add a feature per row.
MAX_LEVELS = 100
# A numeric target asked to be classified with more distinct values than this, some of them
# fractional, is a quantity: it is refused with the advice to regress it.
_MAX_FLOAT_CLASSES = 20


def load_table(source: Any, target: str, task: str, *, test_fraction: float = 0.2,
               validation_split: float = 0.2, seed: int = 0,
               name: str | None = None) -> TaskData:
    """A :class:`~relulab.tasks.TaskData` from a CSV path or a DataFrame ``source``,
    predicting column ``target`` (``task``: ``"classification"`` or ``"regression"``).

    ``test_fraction`` of the rows are held out for the test, and ``validation_split`` of
    the rest for validation (0: no validation part); ``seed`` decides the split (module
    docstring). ``name`` names the task (default: the file's stem and the target,
    ``"patients:diagnosis"``).
    """
    if task not in TASK_NAMES:
        raise RelulabError(f"unknown task {task!r}; pass --task classification or "
                           "--task regression")
    if not 0.0 < test_fraction < 1.0:
        raise RelulabError(f"test_fraction must lie in (0, 1), got {test_fraction}; pass "
                           "e.g. --test-fraction 0.2")
    if not 0.0 <= validation_split < 1.0:
        raise RelulabError(f"validation_split must lie in [0, 1), got {validation_split}; "
                           "pass e.g. --validation-split 0.2, or 0 for none")
    frame, what, label, locate = _read(source)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise RelulabError(f"{what} holds no data; pass a table with a header row, a target "
                           "column and one row per example")
    if target not in frame.columns:
        raise RelulabError(f"{what} has no column {target!r}; available columns: "
                           f"{', '.join(_show(c) for c in frame.columns)}; pass one of them "
                           "with --target")
    frame = frame.reset_index(drop=True)
    y_raw = frame[target]
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise RelulabError(f"{what} has no column besides the target {target!r}; add the "
                           "columns to learn it from")
    tgt = f"target column {target!r} of {what}"
    if task == "classification":
        y, class_names = _labels(y_raw, tgt, locate)
    else:
        y, class_names = _quantities(y_raw, tgt, locate), ()
    kinds = _kinds(features, what, locate)
    _check_levels(features, kinds, what)
    _check_missing(features, kinds, what)
    train, val, test = _split(y if task == "classification" else None, len(y), test_fraction,
                              validation_split, seed, what)
    encoded = _encode(features, kinds, train)
    if not encoded.names:
        raise RelulabError(f"{what} has no feature column that varies on the training rows "
                           f"(left out as constant: {', '.join(encoded.dropped)}); add "
                           "columns to learn the target from")
    if encoded.dropped:
        warnings.warn(f"{what}: left out, constant on the training rows: "
                      f"{', '.join(encoded.dropped)}", UserWarning, stacklevel=2)
    x = encoded.x
    classes = len(class_names)
    described = (f"{label}: {len(y)} rows, {x.shape[1]} features ({encoded.one_hot} "
                 f"one-hot), target {target!r}, "
                 + (f"{classes} classes" if task == "classification" else "regression")
                 + (f"; constant on the training rows, left out: "
                    f"{', '.join(encoded.dropped)}" if encoded.dropped else ""))
    default = f"{Path(label).stem}:{target}" if label != "DataFrame" else str(target)
    return TaskData(
        name=name or default, task=task,
        x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
        x_val=x[val] if val.size else None, y_val=y[val] if val.size else None,
        classes=classes, class_names=class_names, feature_names=encoded.names,
        description=described)


# --- reading -----------------------------------------------------------------------------


def _read(source: Any) -> tuple[pd.DataFrame, str, str, Callable[[int], str]]:
    """The table, how messages name it, how the description names it, and a locator
    that turns a 0-based row into words the user can find it by."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        frame = read_csv(path)
        return (frame, f"data file {path}", path.name,
                lambda i: f"row {i + 1} (line {i + 2} of {path.name})")
    if isinstance(source, pd.DataFrame):
        index = source.index
        return source, "the DataFrame", "DataFrame", lambda i: f"index {index[i]!r}"
    raise RelulabError(f"a table is a CSV path or a pandas DataFrame, got "
                       f"{type(source).__name__}; pass one of them")


def _show(column: Any) -> str:
    text = str(column)
    return text if text.isprintable() else repr(text)


def _blank(col: pd.Series) -> np.ndarray:
    """Missing cells: NaN/None, or text that is empty or spaces."""
    text = np.array([isinstance(v, str) and not v.strip() for v in col.to_numpy(dtype=object)],
                    dtype=bool)
    return col.isna().to_numpy() | text


def _text(col: pd.Series) -> np.ndarray:
    """A label or category column as text (object array): strings stripped, anything else
    as ``str`` writes it (``True``, ``3``)."""
    return np.array([v.strip() if isinstance(v, str) else str(v)
                     for v in col.to_numpy(dtype=object)], dtype=object)


# --- the target --------------------------------------------------------------------------


def _check_filled(y: pd.Series, what: str, locate: Callable[[int], str]) -> None:
    blank = _blank(y)
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise RelulabError(f"{what} has {int(blank.sum())} empty cell(s), the first at "
                           f"{locate(i)}; fill them or drop those rows")


def _labels(y: pd.Series, what: str, locate: Callable[[int], str]
            ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes ``0 .. C-1`` and the sorted class names of a classification target."""
    _check_filled(y, what, locate)
    numbers, bad = (parse_numbers(y) if not pd.api.types.is_bool_dtype(y)
                    else (None, 0))
    if bad is None:  # every cell a number: classes sorted as numbers
        distinct = np.unique(numbers)
        fractional = bool(np.any(distinct != np.round(distinct)))
        if fractional and len(distinct) > _MAX_FLOAT_CLASSES:
            raise RelulabError(f"{what} holds {len(distinct)} distinct numbers, some "
                               "fractional: a quantity, not classes; pass --task regression")
        names = tuple(_number_text(v) for v in distinct)
        codes = np.searchsorted(distinct, numbers)
    else:
        text = _text(y)
        names = tuple(sorted(set(text)))
        index = {level: k for k, level in enumerate(names)}
        codes = np.array([index[t] for t in text], dtype=np.int64)
    counts = np.bincount(codes, minlength=len(names))
    if len(names) < 2:
        raise RelulabError(f"{what} holds one class ({names[0]!r}); a classification needs "
                           "two or more: choose another target column")
    rare = [f"{names[k]!r} ({counts[k]} row)" for k in np.flatnonzero(counts < 2)]
    if rare:
        quantity = (", or pass --task regression if the target is a quantity"
                    if bad is None else "")
        raise RelulabError(f"{what} has {len(rare)} class(es) with a single row, too rare to "
                           f"be both trained on and tested: {', '.join(rare[:5])}"
                           f"{', ...' if len(rare) > 5 else ''}; drop those rows or merge "
                           f"them into another class{quantity}")
    return codes.astype(np.int64), names


def _number_text(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(float(v))


def _quantities(y: pd.Series, what: str, locate: Callable[[int], str]) -> np.ndarray:
    """The float64 values of a regression target."""
    _check_filled(y, what, locate)
    if pd.api.types.is_bool_dtype(y):
        raise RelulabError(f"{what} is true/false, not a quantity; pass --task "
                           "classification")
    values, bad = parse_numbers(y)
    if bad is not None:
        cell = y.iloc[bad]
        if pd.to_numeric(y.astype(str).str.strip(), errors="coerce").notna().mean() >= 0.5:
            raise not_a_number(cell, what, locate(bad))
        raise RelulabError(f"{what} is not numeric ({locate(bad)} holds {cell!r}); a "
                           "regression needs numbers: pass --task classification for labels")
    inf = np.isinf(values)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise RelulabError(f"{what} has {int(inf.sum())} infinite value(s), the first at "
                           f"{locate(i)}; replace or drop those rows")
    if values.min() == values.max():
        raise RelulabError(f"{what} is constant (every value is {values[0]:g}); there is "
                           "nothing to learn: choose a target column that varies")
    return values


# --- the features ------------------------------------------------------------------------


def _kinds(features: pd.DataFrame, what: str, locate: Callable[[int], str]) -> dict[Any, str]:
    """``"numeric"`` or ``"category"`` per feature column. A text column whose every filled
    cell is a number is numeric; one mostly of numbers with a few words is refused, naming
    the first word (a typo in a number column, which one-hot encoding would hide)."""
    kinds = {}
    for c in features.columns:
        col = features[c]
        if pd.api.types.is_bool_dtype(col) or not (
                pd.api.types.is_numeric_dtype(col) or pd.api.types.is_object_dtype(col)
                or pd.api.types.is_string_dtype(col)):
            kinds[c] = "category"
            continue
        if pd.api.types.is_numeric_dtype(col):
            kinds[c] = "numeric"
            continue
        filled = col[~_blank(col)]
        if filled.empty:
            kinds[c] = "category"  # every cell empty: the missing-cell check names it
            continue
        numbers, bad = parse_numbers(filled)
        if bad is None:
            kinds[c] = "numeric"
        elif np.mean(~np.isnan(numbers)) >= 0.5:
            position = int(np.flatnonzero(~_blank(col))[bad])
            raise not_a_number(col.iloc[position], f"column {c!r} of {what}",
                               locate(position))
        else:
            kinds[c] = "category"
    return kinds


def _check_levels(features: pd.DataFrame, kinds: dict[Any, str], what: str) -> None:
    n = len(features)
    for c, kind in kinds.items():
        if kind != "category":
            continue
        levels = features[c].nunique(dropna=True)
        if levels > MAX_LEVELS and levels > n / 2:
            raise RelulabError(f"column {c!r} of {what} holds {levels} distinct values in "
                               f"{n} rows: an identifier or free text, not a category; drop "
                               "the column")


def _check_missing(features: pd.DataFrame, kinds: dict[Any, str], what: str) -> None:
    missing = {}
    for c, kind in kinds.items():
        col = features[c]
        empty = _blank(col)
        if kind == "numeric":
            values = parse_numbers(col)[0] if not pd.api.types.is_numeric_dtype(col) \
                else col.to_numpy(dtype=np.float64)
            empty = empty | np.isnan(values)
            inf = np.isinf(values)
            if inf.any():
                raise RelulabError(f"column {c!r} of {what} has {int(inf.sum())} infinite "
                                   "value(s); replace them or drop those rows")
        if empty.any():
            missing[c] = int(empty.sum())
    if missing:
        listed = ", ".join(f"{_show(c)} ({k})" for c, k in missing.items())
        raise RelulabError(f"{what} has empty cells in {len(missing)} feature column(s): "
                           f"{listed}; fill them (e.g. the column's median or a category "
                           "'missing') or drop those rows or columns")


@dataclass(frozen=True)
class _Encoded:
    x: np.ndarray  # (rows, features) float32
    names: tuple[str, ...]
    one_hot: int  # how many of the features are one-hot indicators
    dropped: tuple[str, ...]  # columns constant on the training rows


def _encode(features: pd.DataFrame, kinds: dict[Any, str], train: np.ndarray) -> _Encoded:
    """Every row encoded with what the training rows show (module docstring)."""
    blocks, names, dropped, one_hot = [], [], [], 0
    for c, kind in kinds.items():
        col = features[c]
        if kind == "numeric":
            values = (col.to_numpy(dtype=np.float64) if pd.api.types.is_numeric_dtype(col)
                      else parse_numbers(col)[0])
            mean, sd = values[train].mean(), values[train].std()
            if not sd > 0:
                dropped.append(_show(c))
                continue
            blocks.append(((values - mean) / sd)[:, None])
            names.append(str(c))
        else:
            text = _text(col)
            levels = sorted(set(text[train]))
            if len(levels) < 2:
                dropped.append(_show(c))
                continue
            blocks.append(np.stack([text == level for level in levels], axis=1))
            names += [f"{c}={level}" for level in levels]
            one_hot += len(levels)
    x = (np.concatenate(blocks, axis=1) if blocks
         else np.zeros((len(features), 0))).astype(np.float32)
    return _Encoded(x, tuple(names), one_hot, tuple(dropped))


# --- the split ---------------------------------------------------------------------------


def _nearest(x: float) -> int:
    return math.floor(x + 0.5)


def _take(rows: np.ndarray, share: float, at_least: int) -> int:
    """How many of ``rows`` (already shuffled) a part of ``share`` takes: the nearest whole
    number, at least ``at_least`` and at most all but one (where there are two or more)."""
    n = len(rows)
    if n < 2 or share == 0:
        return 0
    return min(max(_nearest(share * n), at_least), n - 1)


def _split(labels: np.ndarray | None, n: int, test_fraction: float, validation_split: float,
           seed: int, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices ``(train, validation, test)``, each in the table's order: stratified by
    ``labels`` (classification), else one shuffle of every row."""
    rng = np.random.default_rng(seed)
    groups = ([np.flatnonzero(labels == k) for k in range(int(labels.max()) + 1)]
              if labels is not None else [np.arange(n)])
    parts: tuple[list, list, list] = ([], [], [])
    for rows in groups:
        rows = rng.permutation(rows)
        n_test = _take(rows, test_fraction, 1)
        rest = rows[n_test:]
        n_val = _take(rest, validation_split, 1)
        for part, taken in zip(parts, (rest[n_val:], rest[:n_val], rows[:n_test]),
                               strict=True):
            part.append(taken)
    train, val, test = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    if not test.size or not train.size or (validation_split > 0 and not val.size):
        shares = (f"a test share of {test_fraction:g}"
                  + (f" and a validation share of {validation_split:g}"
                     if validation_split > 0 else ""))
        raise RelulabError(f"{what} has {n} rows, too few for {shares} (training, "
                           + ("validation " if validation_split > 0 else "")
                           + "and test each need a row); use more rows"
                           + (" or pass --validation-split 0" if validation_split > 0
                              else ""))
    return train, val, test
