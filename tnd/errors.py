"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class TndError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""

    exit_code = 2
