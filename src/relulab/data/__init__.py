"""Series in: a user's CSV, a pandas or NumPy object, the hotel data set, or a bundled series.

One module per idea:

- :mod:`~relulab.data.series`: the :class:`Series` every study runs on. Whether a series
  suits a study's config is :func:`relulab.windows.check_series`.
- :mod:`~relulab.data.user`: a user's CSV, DataFrame, pandas Series or array into a Series
  (:func:`load_series`, :func:`read_csv`), with every bad cell named.
- :mod:`~relulab.data.hotel`: hotel bookings aggregated to cancellations per arrival week.
- :mod:`~relulab.data.download`: the data cache and its one atomic download.
- :mod:`~relulab.data.bundled`: series that ship inside statsmodels.
- :mod:`~relulab.data.datasets`: named data sets (:func:`load_dataset`, :data:`DATASETS`).
- :mod:`~relulab.data.source`: :class:`DataSource`, where a study's series comes from, and
  the one place that loads it.
- :mod:`~relulab.data.panel`: many series from a long or wide table (:func:`load_panel`),
  ragged.

Every problem a user's data can have raises one :class:`~relulab.errors.RelulabError` that
names the input, the problem and the fix.
"""

from __future__ import annotations

from relulab.data.bundled import bundled, bundled_names
from relulab.data.datasets import DATASETS, load_dataset
from relulab.data.download import CACHE_FILE, DEFAULT_URL, DOWNLOAD_TIMEOUT_S, default_cache_dir
from relulab.data.hotel import DATA_HOME, HOTELS, daily_to_weekly, data_set_week, hotel_weekly
from relulab.data.panel import Panel, load_panel
from relulab.data.series import MIN_POINTS, Series
from relulab.data.source import DataSource
from relulab.data.user import load_series, read_csv

__all__ = [
    "CACHE_FILE", "DATASETS", "DATA_HOME", "DEFAULT_URL", "DOWNLOAD_TIMEOUT_S", "HOTELS",
    "MIN_POINTS", "DataSource", "Panel", "Series", "bundled", "bundled_names",
    "daily_to_weekly", "data_set_week", "default_cache_dir",
    "hotel_weekly", "load_dataset", "load_panel", "load_series",
    "read_csv",
]
