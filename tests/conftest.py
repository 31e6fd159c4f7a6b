from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the project; tests that need it skip where it is absent."""
    if not (SHARED_DATA / "hotel_h1_weekly.csv").exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep downloads and compiled programs of the tests out of the user's ~/.cache."""
    import os

    old = os.environ.get("RELULAB_CACHE")
    os.environ["RELULAB_CACHE"] = str(tmp_path_factory.mktemp("relulab-cache"))
    yield
    if old is None:
        os.environ.pop("RELULAB_CACHE", None)
    else:
        os.environ["RELULAB_CACHE"] = old
