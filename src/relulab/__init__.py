"""relulab: which activation function suits my model and my data, and does it matter?"""

from importlib.metadata import PackageNotFoundError, version

from relulab.errors import RelulabError

try:
    __version__ = version("relulab")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["RelulabError", "Study", "StudyConfig", "__version__"]


def __getattr__(name: str):
    # The study engine imports JAX; keep `import relulab` (and the CLI's start-up) light.
    if name == "Study":
        from relulab.study import Study

        return Study
    if name == "StudyConfig":
        from relulab.config import StudyConfig

        return StudyConfig
    raise AttributeError(f"module 'relulab' has no attribute {name!r}")
