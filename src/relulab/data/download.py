"""The data cache and the one download into it, atomic, with an offline error that says what
to do instead."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from relulab.data.hotel import DATA_HOME, _snake
from relulab.errors import RelulabError

# The combined hotel_bookings.csv (as TidyTuesday 2020-02-11 republished it; same rows and
# columns as the Kaggle "hotel-booking-demand" copy).
DEFAULT_URL = (
    "https://raw.githubusercontent.com/rfordatascience/tidytuesday/main/"
    "data/2020/2020-02-11/hotels.csv"
)
CACHE_FILE = "hotel_bookings.csv"
DOWNLOAD_TIMEOUT_S = 60.0

def default_cache_dir() -> Path:
    """``$RELULAB_CACHE``, else ``~/.cache/relulab``."""
    return Path(os.environ.get("RELULAB_CACHE") or Path.home() / ".cache" / "relulab")


def _download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch ``url`` into ``dest`` atomically: a temporary file beside it, then a rename."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    except OSError as e:
        raise RelulabError(f"cannot write the data cache {dest.parent} ({e.strerror or e}); "
                           "set RELULAB_CACHE to a writable folder, or keep --dataset and add "
                           "--data FILE") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out)
            except (urllib.error.URLError, http.client.HTTPException, ValueError,
                    OSError) as e:  # OSError covers timeouts and dropped connections
                reason = getattr(e, "reason", None) or e
                raise RelulabError(
                    f"could not download the hotel bookings data from {url} ({reason}); "
                    f"offline? keep --dataset and add --data FILE with a local H1.csv, H2.csv or "
                    f"hotel_bookings.csv, from {DATA_HOME}"
                ) from None
        with open(tmp, encoding="utf-8", errors="replace") as f:
            header = _snake(f.readline()).replace("_", "")
        if "iscanceled" not in header:
            raise RelulabError(f"the file downloaded from {url} is not the hotel bookings CSV "
                               f"(no is_canceled column); keep --dataset and add --data FILE "
                               f"with a copy from {DATA_HOME}")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

