"""The one exception type for a user's mistake (bad data, bad option, missing file).

The command line prints its message on one line and exits non-zero; anything else that escapes
is a bug in vaekit and keeps its traceback.
"""


class VaekitError(Exception):
    """A problem the user can fix; its message says what is wrong and where."""
