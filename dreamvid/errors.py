"""The one exception type that means "the user asked for something we cannot do"."""


class UserError(Exception):
    """A problem with the user's input or settings; the CLI prints it as one line and exits 2."""
