"""Functions, closure cells, and references to classes and builtins, as codec data.

A restore must never re-run the line that made a function (it reset closure
state, re-read newer globals, resurrected deleted names and replayed host
calls). So a function is stored like any other object:

    ["fn", statement, qualname, line, nth, __name__, __qualname__, cells,
           cell contents..., __defaults__, __kwdefaults__, __doc__, __dict__, __annotations__]

``statement`` is the source of the statement (whole lines) whose compiled code
holds the function's code object (written once per value: later functions from
the same statement, such as a class's other methods, give its number in walk
order instead); ``qualname``/``line``/``nth`` find that code
object again when the statement is *compiled* -- never executed -- with the
same RestrictedPython policy. ``cells`` has one entry per closure cell: ``0``
(a new cell whose content follows as a child), ``1`` (a new empty cell) or
``["r", n]`` (a cell already met: two closures over one ``nonlocal`` share it).
Globals are not stored: the function gets the conversation's namespace and
looks them up by name at call time, as in CPython.

A function is numbered when started (like a list) and its new cells right
after it, so a nested recursive helper (whose cell holds itself) and closures
sharing a cell come back exactly. ``["cref", qualname]`` is a class of the
conversation (found by name when decoding); ``["bi", name]`` is a builtin the
sandbox hands out (``ValueError``, ``len``, an extension stub); ``["mref", module,
qualname]`` a library function or class its imports hand out (``math.sqrt``,
``collections.OrderedDict``), found again through the sandbox's own import.

A class its name no longer holds (``class P`` run again, or ``del P``, while
an old instance lives on) is referred to -- in ``cref`` and in its instances'
nodes -- by the reserved name the snapshotter gave it (:data:`HIDDEN_CLASS`, see
:attr:`Defs.hidden`), which a restore binds to that class, rebuilt from its
own statement; :attr:`Defs.used` collects the classes a value refers to.

The codec reaches this module through :func:`active`, which the worker's
snapshotter enters around its encode and decode calls; without it, functions
and classes are refused as before.
"""

from __future__ import annotations

import array
import collections
import collections.abc
import contextlib
import functools
import operator
import types
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from envloop.sandbox._codec_common import DecodeError, Reject, class_mro, class_qualname, type_label
from envloop.sandbox.code_index import CodeIndex
from envloop.sandbox.tracing import REGISTER

__all__ = ["DEF_TAGS", "HIDDEN_CLASS", "ITERATORS", "CodeIndex", "Defs", "active", "current", "exception_referents",
           "iterator_parts", "shown_name"]

DEF_TAGS = frozenset({"fn", "bi", "cref", "mref", "rng", "bm", "bbm", "wr", "nref"})  # the tags previews render here
FN_HEAD = 8
_NoneType = type(None)
_func_dict = types.FunctionType.__dict__["__dict__"].__get__
_type_module = type.__dict__["__module__"].__get__  # a class's module, past any metaclass
_DESCRIPTORS = (types.MethodDescriptorType, types.WrapperDescriptorType, types.ClassMethodDescriptorType)
#: Builtin containers whose bound methods (``xs.append``) are stored as the object plus the name.
_BOUND_OWNERS = frozenset({list, dict, set, frozenset, tuple, str, bytes, bytearray})


class Defs:
    """What encoding and decoding functions needs from one worker: its namespace, builtins and code index."""

    def __init__(self, namespace: dict[str, Any], builtins: Mapping[str, Any], index: CodeIndex) -> None:
        self.namespace = namespace
        self.builtins = builtins
        self.index = index
        self._builtin_names: dict[int, str] | None = None
        #: While a class's state is encoded: ``{id: name}`` of objects stored as ``["nref", name]``.
        self.name_refs: dict[int, str] | None = None
        self._modules: dict[tuple[str, str], Any] = {}
        #: ``{id(class): (weak reference, reserved name)}``: classes their name no longer holds.
        self.hidden: dict[int, tuple[weakref.ref[type], str]] = {}
        #: While set: the ids of the conversation classes the value being encoded or decoded refers to.
        self.used: set[int] | None = None
        #: Gives a class its name does not hold a reserved name (the snapshotter's); None: not superseded.
        self.hide: Callable[[type], str | None] | None = None

    def class_name(self, cls: type) -> str:
        """The name a conversation class is stored by: its qualname, or its reserved name once superseded."""
        if self.used is not None:
            self.used.add(id(cls))
        hidden = self.hidden.get(id(cls))
        if hidden is not None and hidden[0]() is cls:
            return hidden[1]
        name = self.hide(cls) if self.hide is not None else None
        if name is not None:
            return name
        qualname: str = class_qualname(cls)
        if "<locals>" in qualname:
            raise Reject(f"the class {qualname} was made by a call of that function, which a resume does not "
                         "repeat (a class defined at the top level is kept)", "class")
        return qualname

    def module_ref(self, x: Any) -> tuple[str, str] | None:
        """(module, qualname) of a library function or class the sandbox's imports hand out, else None.

        Checked by identity: importing ``module`` through the sandbox and following
        ``qualname`` must give ``x`` itself, so only what code could import is referred to.
        """
        t = type(x)
        if t is types.FunctionType or t is types.BuiltinFunctionType:
            module, qualname = getattr(x, "__module__", None), getattr(x, "__qualname__", None)
        elif isinstance(x, type):
            module, qualname = _type_module(x), class_qualname(x)
        else:
            return None
        if type(module) is not str or type(qualname) is not str or module in ("__main__", "builtins"):
            return None
        parts = module.split(".")
        for end in range(len(parts), 0, -1):  # json.decoder.JSONDecodeError is json.JSONDecodeError here
            try:
                if self.resolve(".".join(parts[:end]), qualname) is x:
                    return ".".join(parts[:end]), qualname
            except DecodeError:
                continue
        return None

    def resolve(self, module: str, qualname: str) -> Any:
        """What ``from module import ...`` and attribute steps along ``qualname`` give in this sandbox."""
        key = (module, qualname)
        if key in self._modules:
            return self._modules[key]
        importer = self.builtins.get("__import__")
        try:
            found = importer(module, None, None, (qualname.split(".")[0],), 0)  # type: ignore[misc]
            for part in qualname.split("."):
                found = getattr(found, part)
        except Exception:
            raise DecodeError(f"{module}.{qualname} is not available in this sandbox") from None
        self._modules[key] = found
        return found

    def builtin_name(self, x: object) -> str | None:
        names = self._builtin_names
        if names is None or names.get(id(x)) is None:
            names = self._builtin_names = {}
            for key, value in sorted(self.builtins.items()):
                if not key.startswith("_"):
                    names.setdefault(id(value), key)
        name = names.get(id(x))
        return name if name is not None and self.builtins.get(name) is x else None


#: The prefix of the reserved name a class is stored under once its own name no longer holds it
#: (``@class:P:<digest>``): kept while a value refers to it, rebuilt without binding ``P``.
HIDDEN_CLASS = "@class:"


def shown_name(name: object) -> str:
    """A stored class name as a person reads it: ``P`` for a superseded class's ``@class:P:<digest>``."""
    text = str(name)
    return text.split(":")[1] if text.startswith(HIDDEN_CLASS) and text.count(":") >= 2 else text


_ACTIVE: list[Defs] = []


@contextlib.contextmanager
def active(defs: Defs) -> Iterator[None]:
    """Let the codec store and rebuild functions and class references for this worker."""
    _ACTIVE.append(defs)
    try:
        yield
    finally:
        _ACTIVE.pop()


def current() -> Defs | None:
    return _ACTIVE[-1] if _ACTIVE else None


class PendingName(DecodeError):
    """A class's stored state refers to a name that is not restored (yet)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"it refers to {name}, which is not restored")
        self.name = name


# ------------------------------------------------------------------ encode ---


def encode_def(enc: Any, x: Any, t: type, own: Mapping[int, type]) -> Any:
    """A node or frame for a function, a class reference or a builtin; None when ``x`` is none of these."""
    defs = current()
    if defs is None:
        return None
    if t is types.FunctionType and x.__globals__ is defs.namespace:
        return _function(enc, defs, x)
    if id(x) in own:
        return ["cref", defs.class_name(x)]
    name = defs.builtin_name(x)
    if name is not None:
        return ["bi", name]
    if t in _DESCRIPTORS:  # str.upper, dict.get: a builtin class's method, by the class's name
        owner, method = defs.builtin_name(x.__objclass__), getattr(x, "__name__", "")
        if owner is not None and getattr(defs.builtins[owner], method, None) is x:
            return ["bi", f"{owner}.{method}"]
    if t is types.MethodType and type(x.__func__) is types.FunctionType:  # obj.method, Class.classmethod
        return enc._frame(x, ["bm"], iter((x.__self__, x.__func__)), post=True)
    if t is types.BuiltinMethodType and type(x.__self__) in _BOUND_OWNERS:  # xs.append, d.get
        return enc._frame(x, ["bbm", x.__name__], iter((x.__self__,)), post=True)
    wrapped = _wrapped_parts(x, t)
    if wrapped is None and BaseException in class_mro(t):
        wrapped = "ex", _exception_parts(x, t, own)
    if wrapped is not None:
        # Parts made just now (a copy of a dict, an array's bytes) live as long as the encoding: the
        # encoder numbers objects by id, and a freed part's id given to the next would read as a repeat.
        enc.alive.append(wrapped[1])
        return enc._frame(x, ["wr", wrapped[0]], iter(wrapped[1]), post=True)
    ref = defs.module_ref(x)
    if ref is not None:
        return ["mref", *ref]
    return None


def _function(enc: Any, defs: Defs, fn: types.FunctionType) -> Any:
    if fn.__globals__ is not defs.namespace:
        raise Reject(f"the function {fn.__qualname__} belongs to another namespace", "function")
    statement, line, nth = defs.index.locate(fn.__code__)
    seen: dict[str, int] = enc.__dict__.setdefault("_statements", {})  # each text once per value
    text: str | int = seen.get(statement, statement)
    if text is statement:
        seen[statement] = len(seen)
    node: list[Any] = ["fn", text, fn.__code__.co_qualname, line, nth, fn.__name__, fn.__qualname__, None]
    frame = enc._frame(fn, node, iter(()), size=len(statement))
    spec: list[Any] = []
    contents: list[Any] = []
    for cell in fn.__closure__ or ():
        seen = enc._memo.get(id(cell))
        if seen is not None:
            spec.append(["r", seen])
            continue
        enc._register(cell)
        try:
            contents.append(cell.cell_contents)
            spec.append(0)
        except ValueError:
            spec.append(1)
    node[7] = spec
    frame.it = iter([*contents, fn.__defaults__, fn.__kwdefaults__, fn.__doc__, _func_dict(fn),
                     _annotations(enc, fn)])
    return frame


def _annotations(enc: Any, fn: types.FunctionType) -> dict[str, Any] | None:
    """The function's annotations (``int``, own classes, ``list[int]``, ``X | None``, ``Optional[X]``).

    Annotations that cannot be stored make the function unstorable, with the
    reason: it is reported lost rather than given back without them.
    """
    found = fn.__annotations__
    if not found:
        return None
    try:
        type(enc)(enc._own, 1 << 16, None, enc._layouts, 1).run(found)
    except Reject as exc:
        raise Reject(f"the annotations of {fn.__qualname__} cannot be stored ({exc.reason})", "function") from None
    except RecursionError:
        raise Reject(f"the annotations of {fn.__qualname__} are nested too deeply", "function") from None
    return found


_partial_dict = functools.partial.__dict__["__dict__"].__get__
_MEMBER = types.MemberDescriptorType
#: Iterators over a list, tuple, str, bytes or range (``it = iter(rows); next(it)``, ``reversed(xs)``):
#: stored as what they go over and where they are (their own ``__reduce__``, C code).
ITERATORS = frozenset(type(it) for it in (
    iter([]), iter(()), iter(""), iter("\u20ac"), iter(b""), iter(range(0)), iter(range(1 << 64)), reversed([])))
_ITERABLES = (list, tuple, str, bytes, range)


def iterator_parts(x: Any) -> tuple[Any, ...]:
    """``(maker, sequence, position)`` of such an iterator (``maker``: "iter" or "reversed")."""
    reduce: Any = type(x).__reduce__  # the iterator type's own (C), never a conversation's
    maker, args, *position = reduce(x)
    seq = args[0] if type(args) is tuple and len(args) == 1 else None
    if type(seq) not in _ITERABLES:
        raise Reject(f"{type_label(type(x))} objects cannot be stored: it goes over a {type_label(type(seq))}", "other")
    return ("reversed" if maker is reversed else "iter", seq, position[0] if position else None)


def _iterator(items: list[Any]) -> Any:
    maker, seq, position = items[:3]
    if maker not in ("iter", "reversed") or type(seq) not in _ITERABLES or not (position is None or type(position) is int):
        raise DecodeError("a stored iterator is corrupt")
    made = reversed(seq) if maker == "reversed" else iter(seq)
    if position is not None:
        made.__setstate__(position)
    return made


#: What the builtin exceptions that keep more than ``args`` (and ``__dict__``) keep, by the class declaring it.
_EXCEPTION_STATE: dict[type, tuple[str, ...]] = {
    ImportError: ("name", "path"), NameError: ("name",), AttributeError: ("name", "obj"),
    OSError: ("errno", "strerror", "filename", "filename2"),
}


def exception_extra(x: BaseException, base: type) -> dict[str, Any]:
    """Those fields of ``x`` (``base``: its builtin class), read through the declaring class's descriptors."""
    return {key: cls.__dict__[key].__get__(x) for cls in class_mro(base) for key in _EXCEPTION_STATE.get(cls, ())}


def exception_referents(x: BaseException) -> list[Any]:
    """What an exception refers to, for the alias finder: args, attributes, chained exceptions, builtin fields."""
    extra = exception_extra(x, _builtin_base(type(x)))
    return [_exc_args.__get__(x), _exc_dict.__get__(x), *(link.__get__(x) for link in _exc_links[:2]),
            *extra.values()]
_exc_args = BaseException.__dict__["args"]
_exc_dict = BaseException.__dict__["__dict__"]
_exc_links = tuple(BaseException.__dict__[k] for k in ("__cause__", "__context__", "__suppress_context__"))


def _builtin_base(t: type) -> type:
    """The first class of ``t``'s MRO that the ``builtins`` module defines (an exception class)."""
    found: type = next(c for c in class_mro(t) if _type_module(c) == "builtins")
    return found


def _exception_parts(x: BaseException, t: type, own: Mapping[int, type]) -> tuple[Any, ...]:
    """``["wr", "ex", class, args, __dict__, __cause__, __context__, __suppress_context__, extra]``.

    A builtin exception, or one of a conversation class whose other bases are
    builtin exceptions too: what its constructor took (``args``), its
    attributes, and the exceptions it chains to. Not its traceback (frames of
    a run that is over). Read through ``BaseException``'s own descriptors, so
    no class of the conversation runs; rebuilt without calling its
    ``__init__`` (see :func:`_exception`). Library exceptions keep state their
    constructor computed elsewhere (``json.JSONDecodeError.pos``): refused.
    """
    base = _builtin_base(t)
    above = class_mro(t)[: class_mro(t).index(base)]
    if any(id(c) not in own for c in above):
        raise Reject(f"{type_label(t)} objects cannot be stored: only builtin exceptions and the "
                     "conversation's own exception classes can be", "other")
    if any(type(v) is _MEMBER for c in above for v in vars(c).values()):
        raise Reject(f"{type_label(t)} objects cannot be stored: an exception class with __slots__", "other")
    extra = exception_extra(x, base)
    cause, context, suppress = (link.__get__(x) for link in _exc_links)
    return (t, _exc_args.__get__(x), dict(_exc_dict.__get__(x)), cause, context, suppress, extra or None)


def _exception(items: list[Any]) -> BaseException:
    """The exception :func:`_exception_parts` stored, made by its builtin base's own ``__new__`` and ``__init__``."""
    cls, args, attrs, cause, context, suppress, extra = items
    if not isinstance(cls, type) or BaseException not in class_mro(cls) or type(args) is not tuple:
        raise DecodeError("a stored exception is corrupt")
    base = _builtin_base(cls)
    extra = dict(extra or {})
    keywords = {k: extra.pop(k) for k in ("name", "path") if k in extra} if ImportError in class_mro(base) else {}
    made = args
    if OSError in class_mro(base) and extra.get("errno") is not None:  # its args drop the file names
        made = (extra["errno"], extra["strerror"], extra["filename"], None, extra["filename2"])
    maker: Any = base  # its own __new__ and __init__ (C code), never a conversation class's
    exc: BaseException = maker.__new__(cls, *made)
    maker.__init__(exc, *made, **keywords)
    for declaring in class_mro(base):  # NameError.name, AttributeError.obj: through their own descriptors
        for key in ("name", "obj"):
            if key in extra and key in _EXCEPTION_STATE.get(declaring, ()):
                declaring.__dict__[key].__set__(exc, extra.pop(key))
    if type(attrs) is dict:
        _exc_dict.__get__(exc).update(attrs)
    for link, value in zip(_exc_links, (cause, context, suppress), strict=True):
        link.__set__(exc, value)
    return exc


def _wrapped_parts(x: Any, t: type) -> tuple[str, tuple[Any, ...]] | None:
    """``["wr", kind, parts...]``: an object that is its parts and a constructor.

    ``staticmethod``/``classmethod`` (the function), ``property`` (getter, setter,
    deleter, doc), ``list[int]`` (origin and arguments), ``int | None`` and the
    ``typing`` forms (``Optional[X]``, ``List[int]``: the unsubscripted form,
    found again through the sandbox's import, and the arguments). A typing form
    is taken only when rebuilding it from its parts gives an equal object, so
    nothing comes back different.
    """
    if x is _NoneType:  # in ``int | None``
        return "nt", ()
    if t is staticmethod:
        return "sm", (x.__func__,)
    if t is classmethod:
        return "cm", (x.__func__,)
    if t is property:
        return "pr", (x.fget, x.fset, x.fdel, x.__doc__)
    if t is slice:
        return "sl", (x.start, x.stop, x.step)
    if t is functools.partial:  # its function, arguments and attributes; rebuilt by partial itself
        return "pt", (x.func, x.args, x.keywords, _partial_dict(x) or None)
    if t is array.array:
        return "ar", (x.typecode, x.tobytes())
    if t is collections.ChainMap:
        state = vars(x)
        if list(state) != ["maps"]:  # an attribute set on it would be lost
            raise Reject("a ChainMap with attributes of its own cannot be stored", "other")
        return "chm", (state["maps"],)
    if t in ITERATORS:
        return "it", iterator_parts(x)
    if t is types.GenericAlias:
        return "ga", (x.__origin__, *x.__args__)
    origin: Any = getattr(x, "__origin__", None)
    if isinstance(x, types.GenericAlias) and origin is collections.abc.Callable:
        return "gc", x.__args__  # collections.abc.Callable[[int], str]
    if t is types.UnionType:
        return "ut", x.__args__
    if t.__module__ in ("typing", "collections.abc"):
        name = getattr(x, "_name", None)
        if type(name) is str and _typing_attr(name) is x:  # typing.Union, typing.List
            return "tf", (name,)
        form = _typing_form(x)
        if form is not None:
            return "ty", (form, *x.__args__)
    return None


def _typing_attr(name: str) -> Any:
    import typing

    return getattr(typing, name, None) if not name.startswith("_") else None


def _typing_form(x: Any) -> Any:
    """The unsubscripted ``typing`` form of ``typing.List[int]`` / ``Optional[X]``, when rebuilding gives ``x``."""
    import typing

    name, args = getattr(x, "_name", None), getattr(x, "__args__", None)
    if type(args) is not tuple or not args:
        return None
    form = getattr(typing, name, None) if type(name) is str else getattr(x, "__origin__", None)
    if name == "Optional":
        form = typing.Union
    try:
        return form if _subscript(form, args) == x else None
    except Exception:
        return None


def _subscript(form: Any, args: tuple[Any, ...]) -> Any:
    if collections.abc.Callable in (form, getattr(form, "__origin__", None)) and args:  # Callable[[int], str]
        return form[args[0] if args[0] is Ellipsis else list(args[:-1]), args[-1]]
    return form[args if len(args) > 1 else args[0]]


# ------------------------------------------------------------------ decode ---


def start_def(dec: Any, node: list[Any]) -> Any:
    """A finished value for ``bi``/``cref``, or a frame for ``fn``."""
    defs = current()
    if defs is None:
        raise DecodeError("this value holds functions or classes; it can only be rebuilt in a worker")
    tag = node[0]
    if tag == "nref":  # the object a name holds (a class attribute shared with it)
        if node[1] not in defs.namespace:
            raise PendingName(node[1])
        return defs.namespace[node[1]]
    if tag == "bi":
        first, _, method = str(node[1]).partition(".")
        if first not in defs.builtins or (method and not hasattr(defs.builtins[first], method)):
            raise DecodeError(f"{node[1]!r} is not available in this sandbox")
        return getattr(defs.builtins[first], method) if method else defs.builtins[first]
    if tag == "cref":
        return dec._class(node[1])
    if tag == "mref":
        return defs.resolve(node[1], node[2])
    statement, qualname, line, nth, _name, _qualname, spec = node[1:FN_HEAD]
    texts: list[str] = dec.__dict__.setdefault("_statements", [])
    if type(statement) is int:  # the n-th statement text this value wrote
        if not 0 <= statement < len(texts):
            raise DecodeError(f"the stored function {qualname} refers to a statement it does not hold")
        statement = texts[statement]
    else:
        texts.append(statement)
    code = defs.index.find(statement, qualname, line, nth)
    if len(spec) != len(code.co_freevars):
        raise DecodeError(f"the source of {qualname} no longer matches its stored closure")
    memo = dec._memo
    slot = len(memo)
    memo.append(None)
    cells = []
    for entry in spec:
        if type(entry) is list:
            cell = memo[entry[1]]
            if type(cell) is not types.CellType:
                raise DecodeError(f"the stored closure of {qualname} is corrupt")
        else:
            cell = types.CellType()
            memo.append(cell)
        cells.append(cell)
    fn = types.FunctionType(code, defs.namespace, code.co_name, None, tuple(cells))
    register = defs.builtins.get(REGISTER)  # traced like a function its def made (envloop.sandbox.tracing)
    if register is not None:
        register(fn)
    memo[slot] = fn
    return fn


def finish_function(fn: types.FunctionType, node: list[Any], items: list[Any]) -> None:
    """Fill a function's new cells, defaults, doc and attributes from its decoded children."""
    spec = node[7]
    fresh = [cell for cell, entry in zip(fn.__closure__ or (), spec, strict=True) if entry == 0 and type(entry) is int]
    for cell, value in zip(fresh, items, strict=False):
        cell.cell_contents = value
    defaults, kwdefaults, doc, attrs, *annotations = items[len(fresh) :]
    if annotations and type(annotations[0]) is dict:
        fn.__annotations__ = annotations[0]
    fn.__defaults__ = defaults
    fn.__kwdefaults__ = kwdefaults
    fn.__doc__ = doc
    fn.__name__, fn.__qualname__ = node[5], node[6]
    if attrs:
        fn.__dict__ = attrs


def finish_wrapped(node: list[Any], items: list[Any]) -> object:
    """A ``wr`` node's object from its decoded parts (see :func:`_wrapped_parts`)."""
    kind = node[1]
    try:
        if kind == "nt":
            return _NoneType
        if kind == "sm":
            return staticmethod(items[0])
        if kind == "cm":
            return classmethod(items[0])
        if kind == "pr":
            return property(*items[:4])
        if kind == "sl":
            return slice(*items[:3])
        if kind == "pt":
            made = functools.partial(items[0], *items[1], **items[2])
            if items[3]:
                _partial_dict(made).update(items[3])
            return made
        if kind == "ar":
            return array.array(items[0], items[1])
        if kind == "it":
            return _iterator(items)
        if kind == "chm":
            chain_map: collections.ChainMap[Any, Any] = collections.ChainMap()
            chain_map.maps = items[0]  # the stored list itself: what ``maps`` was, shared as it was
            return chain_map
        if kind == "ex":
            return _exception(items)
        if kind == "ga":
            return types.GenericAlias(items[0], tuple(items[1:]))
        if kind == "gc":
            return _subscript(collections.abc.Callable, tuple(items))
        if kind == "ut":
            return functools.reduce(operator.or_, items)
        if kind == "ty":
            return _subscript(items[0], tuple(items[1:]))
        if kind == "tf":
            found = _typing_attr(str(items[0]))
            if found is not None:
                return found
    except Exception as exc:
        raise DecodeError(f"a stored {kind} object cannot be rebuilt: {exc}") from None
    raise DecodeError(f"unknown stored object kind {kind!r}")


def finish_method(node: list[Any], items: list[Any]) -> object:
    """A bound method from its decoded parts (``bm``: self and function; ``bbm``: self and a name)."""
    if node[0] == "bm":
        return types.MethodType(items[1], items[0])
    if type(items[0]) not in _BOUND_OWNERS:
        raise DecodeError("a stored bound method belongs to an object it cannot be taken from")
    return getattr(items[0], node[1])


def preview_def(node: list[Any]) -> str:
    if node[0] == "fn":
        return f"<function {node[6]}>"
    if node[0] == "cref":
        return f"<class {shown_name(node[1])}>"
    if node[0] == "rng":
        return "<random.Random>"
    if node[0] == "mref":
        return f"{node[1]}.{node[2]}"
    if node[0] in ("bm", "bbm"):
        return "<bound method>"
    if node[0] == "nref":
        return str(node[1])
    if node[0] == "wr":
        return {"sm": "<staticmethod>", "cm": "<classmethod>", "pr": "<property>", "sl": "<slice>",
                "ex": "<exception>", "pt": "<functools.partial>", "ar": "<array.array>", "it": "<iterator>",
                "chm": "<ChainMap>"}.get(node[1], "<type hint>")
    return str(node[1])
