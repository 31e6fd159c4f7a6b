"""Named data sets: the hotel series (from a local file, the cache or one download) and the
bundled ones, behind one name."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from relulab.data.bundled import _BUNDLED, bundled
from relulab.data.download import CACHE_FILE, DEFAULT_URL, _download, default_cache_dir
from relulab.data.hotel import DATA_HOME, HOTELS, _weekly_from_file
from relulab.data.series import Series
from relulab.errors import RelulabError

DATASETS: dict[str, str] = {
    "hotel-h1": "weekly cancellations at the resort hotel H1 (Antonio et al. 2019), July 2015 "
                "to August 2017; read from --data FILE or downloaded once into the cache",
    "hotel-h2": "weekly cancellations at the city hotel H2 (Antonio et al. 2019), July 2015 "
                "to August 2017; read from --data FILE or downloaded once into the cache",
    **{name: spec[3] for name, spec in _BUNDLED.items()},
}

def load_dataset(
    name: str,
    *,
    data: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str = DEFAULT_URL,
    download: bool = True,
) -> Series:
    """A named data set (see :data:`DATASETS`) as a :class:`Series`.

    Hotel series come from ``data`` when given (H1.csv / H2.csv, hotel_bookings.csv, or an
    already daily or weekly aggregate), else from ``cache_dir/hotel_bookings.csv``
    (``cache_dir`` defaults to :func:`default_cache_dir`), else ``url`` is downloaded there
    once. Bundled names (``sunspots``, ``nile``) need no file.
    """
    key = str(name).strip().lower()
    if key in _BUNDLED:
        return bundled(key)
    if key not in HOTELS:
        raise RelulabError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if data is not None:
        path = Path(data)
    else:
        path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / CACHE_FILE
        if not path.exists():
            if not download:
                raise RelulabError(f"dataset {key} is not in the cache ({path}) and downloads "
                                   f"are off; keep --dataset and add --data FILE with a copy "
                                   f"from {DATA_HOME}")
            _download(url, path)
    weekly = _weekly_from_file(path, HOTELS[key])
    return Series(
        values=weekly["cancellations"].to_numpy(dtype=np.float64),
        name=key,
        dates=tuple(weekly["week_start"].astype(str)),
        source=str(path),
    )
