"""The one exception type the CLI shows to a user as a plain message."""


class DigitlabError(Exception):
    """A problem the user can fix (bad input, missing file); shown without a traceback."""
