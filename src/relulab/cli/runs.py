"""`relulab runs ...` (being written)."""


def register(sub) -> None:
    pass
