"""The one exception type the kit raises for bad input: its message is a sentence for the user."""


class SlamsError(Exception):
    """Bad input (params, dataset files, arguments). The CLI prints the message, no traceback."""
