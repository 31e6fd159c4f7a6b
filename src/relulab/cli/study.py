"""`relulab study ...` (being written)."""


def register(sub) -> None:
    pass
