"""The one exception type the kit raises for bad input: its message is a sentence for the user."""


class SlamsError(Exception):
    """Bad input (params, dataset files, arguments). The CLI prints the message, no traceback."""


class LearningWarning(UserWarning):
    """A network ended far below what the data allows; the stage carries on, and says so."""
