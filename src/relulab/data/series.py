"""The series every study runs on: float64 values, optional ISO dates, and their origin."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from relulab.errors import RelulabError
from relulab.windows import check_length as _check_length_n
from relulab.windows import check_series as _check_series_values

if TYPE_CHECKING:
    from relulab.config import StudyConfig

# The smallest series any configuration can split: lookback 1, two training windows, one
# validation point and one test point. A config usually needs more; see `check_length`.
MIN_POINTS = 5


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


def check_series(series: Series, config: StudyConfig) -> None:
    """Raise when ``series`` cannot be studied under ``config``: too few points for its
    windows (:func:`check_length`), or a scale float32 training cannot carry
    (:func:`relulab.windows.check_scale`: values beyond 1e30, a range below 1e-31, or a
    small variation around a large level). Each message names the series and the fix."""
    _check_series_values(series.values, config, what=f"series {series.name!r}")
