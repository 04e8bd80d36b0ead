"""One error type for bad input: the CLI turns it into `nerwin: error: ...` and exit 2."""


class NerwinError(Exception):
    """Bad input from the user. The message is one line: `FILE[:LINE]: what is wrong`."""

    def __init__(self, message: str, path=None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
