"""nerwin's errors. Bad values are ValueErrors and wrong types TypeErrors, as Python users expect;
the CLI turns either into one line `nerwin: error: ...` and exit 2."""

import codecs
import numbers


class NerwinError(ValueError):
    """Bad input from the user. The message is one line: `FILE[:LINE]: what is wrong`."""

    def __init__(self, message: str, path=None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        self.path, self.line = path, line
        super().__init__(where + message)


UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 file', '2,000 files'; many: the plural when it is not word + s."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def refuse_utf16(head: bytes, path) -> None:
    """A file that starts with a UTF-16 byte-order mark (a Windows editor's "Unicode", Windows
    PowerShell's `>`) is text, not binary data: say so, rather than that its NUL bytes are."""
    if head[:2] in UTF16_BOMS:
        raise NerwinError("UTF-16 text; save the file as UTF-8 (iconv -f UTF-16 -t UTF-8)", path, 1)


def ctrl_c(e: BaseException) -> bool:
    """Whether e is Ctrl-C: a KeyboardInterrupt, or the SystemError a C extension raises when the
    interrupt lands inside its call back into Python (numba boxing a result), caused by one."""
    if isinstance(e, KeyboardInterrupt):
        return True
    while isinstance(e, SystemError):
        e = e.__cause__ or e.__context__
    return isinstance(e, KeyboardInterrupt)


class Interrupted(NerwinError):
    """Ctrl-C during training; the best model so far, if any, is already saved."""


class NerwinTypeError(NerwinError, TypeError):
    """An argument of the wrong type."""


class SettingError(NerwinError):
    """A setting out of its bounds or choices; `flag` renders its name as the CLI spells it."""

    def __init__(self, name: str, problem: str):
        self.name, self.problem = name, problem
        super().__init__(f"{name} {problem}")

    @property
    def flag(self) -> str:
        return f"--{self.name.replace('_', '-')} {self.problem}"


class SettingTypeError(SettingError, NerwinTypeError):
    """A setting of the wrong type."""


def plain(value):
    """A numpy scalar as the Python value it stands for (np.int64(3) -> 3, np.float32(0.01) ->
    0.01, np.True_ -> True): a sweep over np.arange or np.logspace passes them. Anything else
    as it is."""
    if getattr(value, "shape", None) == () and getattr(value, "dtype", None) is not None:
        kind = value.dtype.kind
        if kind == "b":
            return bool(value)
        if kind in "iu":
            return int(value)
        if kind == "f":
            return float(str(value))            # the shortest digits: np.float32(0.01) is 0.01, not 0.009999999776
    if isinstance(value, numbers.Integral) and not isinstance(value, int):
        return int(value)
    return value


def check_type(name: str, value, types, what: str):
    """value (a numpy number as plain() gives it), or a NerwinTypeError naming the argument when
    it is not of `types`."""
    value = plain(value)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise NerwinTypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def _tuple(t):
    return t if isinstance(t, tuple) else (t,)
