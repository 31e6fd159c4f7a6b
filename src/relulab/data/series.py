"""The series every study runs on: float64 values, optional ISO dates, and their origin."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from relulab.errors import RelulabError

# The smallest series any configuration can split: lookback 1, two training windows, one
# validation point and one test point. A config usually needs more: whether a series suits
# one is relulab.windows.check_series.
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

