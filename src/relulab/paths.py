"""Default locations, in a module that imports nothing, so the CLI can read them at start-up
without loading the store (and with it pandas)."""

DEFAULT_DB = "relulab.db"  # the results database, relative to the working directory

__all__ = ["DEFAULT_DB"]
