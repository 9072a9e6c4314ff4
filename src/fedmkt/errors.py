"""The one exception type that the CLI turns into a one-line message instead of a traceback."""


class FedMKTError(Exception):
    """A user-facing error: bad config, bad data file, unknown model, missing asset.

    The message must name the file or field and say what was expected; the CLI prints it
    on one line to stderr and exits non-zero (``--debug`` shows the traceback).
    """
