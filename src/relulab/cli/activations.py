"""`relulab activations ...` (being written)."""


def register(sub) -> None:
    pass
