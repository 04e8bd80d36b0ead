"""A reader for the pickles gensim writes, that runs nothing: not pickle's machine, but a small one of
its own over the opcodes that `pickletools.genops` parses, which knows only what a `.kv` file holds.

It builds None, booleans, numbers, strings, bytes, lists, tuples, dicts and sets; numpy arrays of
numbers and their dtypes; and gensim's classes as plain records of their attributes. A global is a
name looked up in ALLOWED, never imported, and each one is built by a function here from the
arguments that numpy and gensim pass it, checked. Every other opcode (persistent ids, the extension
registry, INST or REDUCE on anything else) is refused with its name. Nothing can allocate more than
the file holds: an array is made from the bytes the file carries, after its shape is checked against
them, so memory stays a small multiple of the file's size, and time is linear in it.
"""
from __future__ import annotations

import io
import pickletools

import numpy as np

MAX_DEPTH = 10_000            # nesting of marks: far beyond gensim's, and bounded


class Refused(ValueError):
    """The pickle asks for something this reader does not build."""


class Global:
    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class Record:
    """A gensim object: its class's name, and its attributes once BUILD gives them."""

    def __init__(self, cls: Global):
        self.gensim_class = (cls.module, cls.name)

    def build(self, state) -> None:
        if isinstance(state, tuple) and len(state) == 2:      # (state, slotstate)
            state = state[0] or {}
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise Refused("a gensim object's state is not a dict of attributes")
        self.__dict__.update(state)


class Pending:
    """An object whose BUILD makes it: what the stack and the memo then hold is `result`."""
    result = None


class PendingDtype(Pending):
    """numpy's dtype(name, align, copy): its BUILD brings the byte order."""

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype

    def build(self, state):
        if not (isinstance(state, tuple) and len(state) >= 2 and isinstance(state[1], str) and state[1] in "<>|="):
            raise Refused("a dtype's state is not numpy's")
        return self.dtype.newbyteorder(">") if state[1] == ">" else self.dtype


class PendingArray(Pending):
    """numpy's _reconstruct(ndarray, (0,), b'b'): an array whose BUILD brings shape, dtype and bytes."""

    def build(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise Refused("an array's state is not (version, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, data = state
        if isinstance(dtype, PendingDtype):
            dtype = dtype.result or dtype.dtype
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            raise Refused("an array's shape is not a tuple of sizes")
        if not isinstance(dtype, np.dtype) or not isinstance(data, (bytes, bytearray)):
            raise Refused("an array must be numbers with its bytes in the file")
        need = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if need != len(data):
            raise Refused(f"an array of shape {shape} needs {need:,} bytes, the file holds {len(data):,}")
        a = np.frombuffer(data if isinstance(data, bytes) else bytes(data), dtype=dtype)
        return a.reshape(shape[::-1]).T if fortran else a.reshape(shape)


GENSIM = {("gensim.models.keyedvectors", n) for n in ("KeyedVectors", "Word2VecKeyedVectors", "EuclideanKeyedVectors",
                                                        "Vocab", "CompatVocab")} | \
         {("gensim.models.fasttext", "FastTextKeyedVectors")}
MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
NUMERIC_MODULES = ("numpy.core.numeric", "numpy._core.numeric")
ALLOWED = GENSIM | {(m, n) for m in MULTIARRAY for n in ("_reconstruct", "scalar")} | \
    {(m, "_frombuffer") for m in NUMERIC_MODULES} | {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("copyreg", "_reconstructor"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"), ("builtins", "object"),
    ("__builtin__", "object"), ("copy_reg", "_reconstructor"),
    *(("builtins", n) for n in ("int", "float", "str", "list", "dict", "set", "frozenset", "tuple", "bool"))}
NUMERIC = "fiub"


def _dtype(args):
    if not (len(args) == 3 and isinstance(args[0], str)):
        raise Refused("a dtype is not dtype(name, align, copy)")
    dt = np.dtype(args[0])
    if dt.kind not in NUMERIC or dt.hasobject:
        raise Refused(f"arrays of {dt} are not vectors")
    return dt


def _call(fn: Global, args):
    """REDUCE: the few calls gensim's and numpy's pickles make, each built here from checked arguments."""
    key = (fn.module, fn.name)
    if not isinstance(args, tuple):
        raise Refused("a call's arguments are not a tuple")
    if key in {(m, "_reconstruct") for m in MULTIARRAY}:
        if not (len(args) == 3 and isinstance(args[0], Global) and args[0].name == "ndarray"):
            raise Refused("_reconstruct builds only numpy arrays")
        return PendingArray()
    if key == ("numpy", "dtype"):
        return PendingDtype(_dtype(args))
    if key in {(m, "_frombuffer") for m in NUMERIC_MODULES}:          # protocol 5's arrays
        if not (len(args) == 4 and isinstance(args[0], (bytes, bytearray)) and args[3] in ("C", "F")):
            raise Refused("_frombuffer is not (the bytes, dtype, shape, order)")
        return PendingArray().build((1, args[2], args[1], args[3] == "F", args[0]))
    if key in {(m, "scalar") for m in MULTIARRAY}:
        dt = args[0].result or args[0].dtype if args and isinstance(args[0], PendingDtype) else None
        if not (len(args) == 2 and dt is not None and isinstance(args[1], bytes) and len(args[1]) == dt.itemsize):
            raise Refused("a numpy scalar is not (dtype, its bytes)")
        return np.frombuffer(args[1], dtype=dt)[0]
    if key == ("_codecs", "encode"):
        if not (len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1")):
            raise Refused("_codecs.encode is read only as Python 2's bytes (latin1)")
        return args[0].encode("latin1")
    if key in (("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")):
        if not (len(args) == 3 and isinstance(args[0], Global) and (args[0].module, args[0].name) in GENSIM):
            raise Refused("_reconstructor builds only gensim's classes")
        return Record(args[0])
    if key in (("collections", "OrderedDict"), ("builtins", "dict")):
        return dict(*_items(args))
    if key == ("collections", "defaultdict"):
        return {}
    if key[0] == "builtins" and key[1] in ("int", "float", "str", "list", "set", "frozenset", "tuple", "bool"):
        if len(args) > 1 or (args and not isinstance(args[0], (int, float, str, list, tuple, set, frozenset))):
            raise Refused(f"{key[1]}() of something that is not a plain value")
        if key[1] == "str" and args and not isinstance(args[0], str):
            raise Refused("str() of something that is not a string")
        return {"int": int, "float": float, "str": str, "list": list, "set": set, "frozenset": frozenset,
                "tuple": tuple, "bool": bool}[key[1]](*args)
    raise Refused(f"the pickle calls {fn}, which this reader does not build")


def _items(args):
    if not args:
        return ()
    if len(args) == 1 and isinstance(args[0], (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in args[0]):
        return (args[0],)
    raise Refused("a dict made from something that is not pairs")


def _new(cls, args):
    """NEWOBJ: only gensim's classes, as records; object.__new__(object) as a bare record."""
    if not isinstance(cls, Global) or (cls.module, cls.name) not in GENSIM:
        raise Refused(f"the pickle makes a {cls}, which this reader does not build")
    return Record(cls)


def _hashable(k):
    try:
        hash(k)
    except TypeError:
        raise Refused("a dict key or set member that cannot be one") from None
    return k


def load(data: bytes):
    """The object the pickle holds. Raises Refused (a ValueError) naming what it will not build."""
    stack: list = []
    marks: list[int] = []
    memo: dict = {}

    def pop_mark() -> list:
        if not marks:
            raise Refused("the pickle is damaged (no mark)")
        i = marks.pop()
        items = stack[i:]
        del stack[i:]
        return items

    def top():
        if not stack:
            raise Refused("the pickle is damaged (empty stack)")
        return stack[-1]

    for op, arg, _ in pickletools.genops(io.BytesIO(data)):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            if len(stack) != 1:
                raise Refused("the pickle is damaged (its stack does not end with one object)")
            obj = stack.pop()
            if isinstance(obj, (Global, Pending)):
                raise Refused("the pickle ends with something unfinished")
            return obj
        if name == "MARK":
            if len(marks) >= MAX_DEPTH:
                raise Refused(f"the pickle nests deeper than {MAX_DEPTH:,} levels")
            marks.append(len(stack))
        elif name in ("NONE",):
            stack.append(None)
        elif name == "NEWTRUE":
            stack.append(True)
        elif name == "NEWFALSE":
            stack.append(False)
        elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
                      "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES",
                      "BINBYTES8"):
            stack.append(arg)
        elif name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):            # Python 2 str: read as latin1
            stack.append(arg.decode("latin1") if isinstance(arg, bytes) else arg)
        elif name == "BYTEARRAY8":
            stack.append(bytearray(arg))
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name == "EMPTY_DICT":
            stack.append({})
        elif name == "EMPTY_SET":
            stack.append(set())
        elif name == "LIST":
            stack.append(pop_mark())
        elif name == "TUPLE":
            stack.append(tuple(pop_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(stack) < n:
                raise Refused("the pickle is damaged (short stack)")
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif name == "DICT":
            items = pop_mark()
            stack.append({_hashable(k): v for k, v in zip(items[::2], items[1::2])})
        elif name == "FROZENSET":
            stack.append(frozenset(_hashable(x) for x in pop_mark()))
        elif name == "APPEND":
            v = stack.pop()
            target = top()
            if not isinstance(target, list):
                raise Refused("APPEND to something that is not a list")
            target.append(v)
        elif name == "APPENDS":
            items = pop_mark()
            target = top()
            if not isinstance(target, list):
                raise Refused("APPENDS to something that is not a list")
            target.extend(items)
        elif name == "SETITEM":
            v, k = stack.pop(), stack.pop()
            target = top()
            if not isinstance(target, dict):
                raise Refused("SETITEM on something that is not a dict")
            target[_hashable(k)] = v
        elif name == "SETITEMS":
            items = pop_mark()
            target = top()
            if not isinstance(target, dict):
                raise Refused("SETITEMS on something that is not a dict")
            for k, v in zip(items[::2], items[1::2]):
                target[_hashable(k)] = v
        elif name == "ADDITEMS":
            items = pop_mark()
            target = top()
            if not isinstance(target, set):
                raise Refused("ADDITEMS on something that is not a set")
            target.update(_hashable(x) for x in items)
        elif name == "POP":
            stack.pop() if stack else None
        elif name == "POP_MARK":
            pop_mark()
        elif name == "DUP":
            stack.append(top())
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = top()
        elif name == "MEMOIZE":
            memo[len(memo)] = top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in memo:
                raise Refused("the pickle is damaged (a memo it never stored)")
            v = memo[arg]
            stack.append(v.result if isinstance(v, Pending) and v.result is not None else v)
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, attr = arg.partition(" ")
            else:
                attr, module = stack.pop(), stack.pop()
                if not (isinstance(module, str) and isinstance(attr, str)):
                    raise Refused("a global named by something that is not a string")
            if (module, attr) not in ALLOWED:
                raise Refused(f"the pickle names {module}.{attr}, which could run code")
            stack.append(Global(module, attr))
        elif name == "REDUCE":
            args, fn = stack.pop(), stack.pop()
            if not isinstance(fn, Global):
                raise Refused("a call of something that is not a known name")
            stack.append(_call(fn, args))
        elif name == "NEWOBJ":
            args, cls = stack.pop(), stack.pop()
            stack.append(_new(cls, args))
        elif name == "NEWOBJ_EX":
            _, args, cls = stack.pop(), stack.pop(), stack.pop()
            stack.append(_new(cls, args))
        elif name == "BUILD":
            state = stack.pop()
            obj = top()
            if isinstance(obj, Record):
                obj.build(state)
            elif isinstance(obj, Pending) and obj.result is None:
                obj.result = stack[-1] = obj.build(state)
            else:
                raise Refused(f"BUILD on a {type(obj).__name__}, which this reader does not build")
        else:                       # PERSID, BINPERSID, EXT1/2/4, INST, OBJ, NEXT_BUFFER, READONLY_BUFFER ...
            raise Refused(f"the pickle uses {name}, which a gensim .kv file does not")
    raise Refused("the pickle is damaged (it does not end)")
