"""The one exception the CLI turns into a one-line message."""


class CliError(Exception):
    """A user-facing problem: printed as one line, exit status 2."""
