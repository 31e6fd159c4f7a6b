"""The one exception type a user can cause.

Every error that bad input can trigger (a malformed CSV, NaNs, a series too short, an
unknown activation, ...) is raised as :class:`RelulabError` with a message that names the
input, what was wrong and what to do. The CLI prints it as one line and exits non-zero.
"""


class RelulabError(ValueError):
    """An error caused by the user's input, with a message that says how to fix it."""
