"""`relulab report ...` (being written)."""


def register(sub) -> None:
    pass
