"""Real series that ship inside statsmodels: studies and demos that need no download."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np

from relulab.data.series import Series
from relulab.errors import RelulabError

# name -> (statsmodels.datasets module, value column, year column, description)
_BUNDLED = {
    "sunspots": ("sunspots", "SUNACTIVITY", "YEAR",
                 "yearly sunspot numbers 1700-2008 (309 points), shipped with statsmodels"),
    "nile": ("nile", "volume", "year",
             "yearly Nile flow at Aswan 1871-1970 (100 points), shipped with statsmodels"),
}

def bundled_names() -> tuple[str, ...]:
    return tuple(_BUNDLED)


def bundled(name: str = "sunspots") -> Series:
    """A real series shipped inside statsmodels (no download); dates are January 1st."""
    key = str(name).strip().lower()
    if key not in _BUNDLED:
        raise RelulabError(f"unknown bundled series {name!r}; choose one of: "
                           f"{', '.join(_BUNDLED)}")
    module_name, value_col, year_col, _ = _BUNDLED[key]


    module = importlib.import_module(f"statsmodels.datasets.{module_name}")
    frame = module.load_pandas().data
    years: Sequence[float] = frame[year_col].tolist()
    return Series(
        values=frame[value_col].to_numpy(dtype=np.float64),
        name=key,
        dates=tuple(f"{int(y):04d}-01-01" for y in years),
        source=f"statsmodels.datasets.{module_name}",
    )
