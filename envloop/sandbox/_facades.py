"""What each allowed import hands the sandbox: vetted attribute lists, per module.

A sandbox import never returns a real module.  It returns a :class:`SandboxModule`:
a read-only attribute bag holding exactly the names listed here, taken from the
real module (or replaced by a safer version from ``_replacements``).  Why lists and
not "every public attribute": many stdlib modules carry other modules as public
attributes (``re.enum``, ``json.codecs``, ``datetime.sys``, ``dataclasses.builtins``,
``enum.bltns``) or functions that evaluate strings (``typing.get_type_hints``,
``functools.singledispatch``'s annotation registration).  ``"*"`` (every public
non-module attribute) is used only for C modules whose public attributes are all
plain functions and constants.

Left out on purpose (the allowlist in ``modules.py`` documents the whole policy):
``typing.ForwardRef`` (evaluates strings unrestricted; ``get_type_hints`` and
``make_dataclass`` are served by ``_typing_safe``, under the policy),
``functools.singledispatch*`` (evaluates annotations), ``EnumType`` (a class with
arbitrary dunders, like three-argument ``type``; so is, through the sandbox's
one-argument ``type()``, any metaclass: the policy must refuse calling one with
three arguments), ``enum.global_enum`` (writes into the host ``__main__``),
``contextlib.chdir`` (process-wide state; ``redirect_stdout`` is a replacement that
redirects the sandbox's own print), ``pprint.PrettyPrinter`` (binds ``sys.stdout`` at creation),
``uuid.uuid1``/``getnode`` (run ``ifconfig``-style probes), ``time.tzset``
(reads files), ``typing.reveal_type`` (writes to stderr).
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from envloop.sandbox import _replacements as _r
from envloop.sandbox import _typing_safe


class SandboxModule:
    """A read-only stand-in for a module: only vetted, public, non-module attributes.

    It is deliberately not a ``types.ModuleType`` so that "no module object is
    reachable" stays a checkable property (see ``modules.find_forbidden``).

    It has no ``__name__`` either.  ``from pkg import name`` falls back, when
    ``name`` is not an attribute, to ``sys.modules[f"{pkg.__name__}.{name}"]``:
    with a real name, ``from json import decoder`` would hand out the real
    ``json.decoder`` module.  Without one, CPython raises ImportError instead.
    """

    def __init__(self, name: str, attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            if isinstance(value, types.ModuleType):
                raise TypeError(f"facade {name}.{key} would expose a real module")
        self.__dict__.update(attrs)
        self.__dict__[_NAME_KEY] = name

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"module {self.__dict__[_NAME_KEY]!r} has no attribute {name!r} in the sandbox",
            name=name,
            obj=self,
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"module {self.__dict__[_NAME_KEY]!r} is read-only in the sandbox")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"module {self.__dict__[_NAME_KEY]!r} is read-only in the sandbox")

    def __dir__(self) -> list[str]:
        return sorted(k for k in self.__dict__ if not k.startswith("_"))

    def __repr__(self) -> str:
        return f"<module {self.__dict__[_NAME_KEY]!r} (sandbox)>"


_NAME_KEY = "_sandbox_module_name"


# name -> (real module, names).  Names are whitespace separated; "*" = every public
# non-module attribute.  Names missing from this Python version are skipped.
SPECS: dict[str, tuple[str, str]] = {
    "__future__": ("__future__", "annotations division generator_stop absolute_import"),
    "abc": ("abc", "ABC ABCMeta abstractmethod abstractclassmethod abstractstaticmethod abstractproperty"),
    "array": ("array", "array typecodes"),
    "base64": ("base64", """b64encode b64decode standard_b64encode standard_b64decode
        urlsafe_b64encode urlsafe_b64decode b32encode b32decode b32hexencode b32hexdecode
        b16encode b16decode a85encode a85decode b85encode b85decode encodebytes decodebytes"""),
    "binascii": ("binascii", "*"),
    "bisect": ("bisect", "bisect bisect_left bisect_right insort insort_left insort_right"),
    "calendar": ("calendar", """isleap leapdays weekday monthrange monthcalendar month calendar
        timegm month_name month_abbr day_name day_abbr Calendar HTMLCalendar firstweekday
        setfirstweekday IllegalMonthError IllegalWeekdayError MONDAY TUESDAY WEDNESDAY
        THURSDAY FRIDAY SATURDAY SUNDAY"""),
    "cmath": ("cmath", "*"),
    "collections": ("collections", """namedtuple deque defaultdict OrderedDict Counter ChainMap
        UserDict UserList UserString"""),
    "collections.abc": ("collections.abc", """Awaitable Coroutine AsyncIterable AsyncIterator
        AsyncGenerator Hashable Iterable Iterator Generator Reversible Sized Container Callable
        Collection Set MutableSet Mapping MutableMapping MappingView KeysView ItemsView
        ValuesView Sequence MutableSequence ByteString"""),
    "colorsys": ("colorsys", "rgb_to_yiq yiq_to_rgb rgb_to_hls hls_to_rgb rgb_to_hsv hsv_to_rgb"),
    "contextlib": ("contextlib", """contextmanager suppress closing nullcontext ExitStack
        AbstractContextManager ContextDecorator"""),
    "copy": ("copy", "copy deepcopy Error"),
    "csv": ("csv", """reader writer DictReader DictWriter Sniffer Dialect excel excel_tab
        unix_dialect Error QUOTE_ALL QUOTE_MINIMAL QUOTE_NONE QUOTE_NONNUMERIC register_dialect
        unregister_dialect get_dialect list_dialects field_size_limit"""),
    "dataclasses": ("dataclasses", """dataclass field fields asdict astuple replace is_dataclass
        FrozenInstanceError InitVar KW_ONLY MISSING Field"""),
    "datetime": ("datetime", "date datetime time timedelta timezone tzinfo MINYEAR MAXYEAR UTC"),
    "decimal": ("decimal", """Decimal Context DecimalTuple getcontext setcontext localcontext
        DefaultContext BasicContext ExtendedContext ROUND_DOWN ROUND_HALF_UP ROUND_HALF_EVEN
        ROUND_CEILING ROUND_FLOOR ROUND_UP ROUND_HALF_DOWN ROUND_05UP DecimalException Clamped
        InvalidOperation DivisionByZero Inexact Rounded Subnormal Overflow Underflow
        FloatOperation MAX_PREC MAX_EMAX MIN_EMIN MIN_ETINY"""),
    "difflib": ("difflib", """SequenceMatcher Differ HtmlDiff get_close_matches ndiff restore
        unified_diff context_diff diff_bytes IS_LINE_JUNK IS_CHARACTER_JUNK Match"""),
    "enum": ("enum", """Enum IntEnum Flag IntFlag StrEnum ReprEnum auto unique
        member nonmember verify UNIQUE CONTINUOUS NAMED_FLAGS FlagBoundary STRICT CONFORM
        EJECT KEEP"""),
    "fnmatch": ("fnmatch", "fnmatch fnmatchcase filter translate"),
    "fractions": ("fractions", "Fraction"),
    "functools": ("functools", """reduce partial partialmethod lru_cache cache cached_property
        cmp_to_key total_ordering WRAPPER_ASSIGNMENTS WRAPPER_UPDATES"""),
    "graphlib": ("graphlib", "TopologicalSorter CycleError"),
    "hashlib": ("hashlib", """md5 sha1 sha224 sha256 sha384 sha512 sha3_224 sha3_256 sha3_384
        sha3_512 blake2b blake2s shake_128 shake_256 pbkdf2_hmac algorithms_guaranteed"""),
    "heapq": ("heapq", "heappush heappop heapify heapreplace heappushpop merge nlargest nsmallest"),
    "hmac": ("hmac", "new compare_digest digest HMAC"),
    "html": ("html", "escape unescape"),
    "io": ("io", "StringIO BytesIO SEEK_SET SEEK_CUR SEEK_END"),
    "ipaddress": ("ipaddress", """ip_address ip_network ip_interface IPv4Address IPv6Address
        IPv4Network IPv6Network IPv4Interface IPv6Interface summarize_address_range
        collapse_addresses AddressValueError NetmaskValueError v4_int_to_packed
        v6_int_to_packed get_mixed_type_key"""),
    "itertools": ("itertools", "*"),
    "json": ("json", "dumps loads dump load JSONDecodeError JSONEncoder JSONDecoder"),
    "keyword": ("keyword", "iskeyword issoftkeyword kwlist softkwlist"),
    "math": ("math", "*"),
    "numbers": ("numbers", "Number Complex Real Rational Integral"),
    "pprint": ("pprint", "pformat isreadable isrecursive saferepr"),
    "random": ("random", """seed random uniform randint randrange choice choices shuffle sample
        gauss normalvariate lognormvariate expovariate vonmisesvariate gammavariate
        betavariate paretovariate weibullvariate triangular getrandbits randbytes getstate
        setstate Random SystemRandom"""),
    "re": ("re", """compile search match fullmatch split findall finditer sub subn escape purge
        error Pattern Match RegexFlag NOFLAG A ASCII I IGNORECASE L LOCALE M MULTILINE S DOTALL
        U UNICODE X VERBOSE"""),
    "secrets": ("secrets", """token_bytes token_hex token_urlsafe choice randbelow randbits
        compare_digest SystemRandom"""),
    "stat": ("stat", "*"),
    "statistics": ("statistics", """mean fmean geometric_mean harmonic_mean median median_low
        median_high median_grouped mode multimode pstdev pvariance stdev variance quantiles
        correlation covariance linear_regression NormalDist StatisticsError"""),
    "string": ("string", """ascii_letters ascii_lowercase ascii_uppercase digits hexdigits
        octdigits punctuation printable whitespace capwords Template"""),
    "struct": ("struct", "pack unpack calcsize iter_unpack pack_into unpack_from Struct error"),
    "textwrap": ("textwrap", "wrap fill dedent indent shorten TextWrapper"),
    "time": ("time", """time time_ns perf_counter perf_counter_ns monotonic monotonic_ns
        process_time process_time_ns sleep gmtime localtime mktime strftime strptime asctime
        ctime struct_time timezone altzone daylight tzname"""),
    "tomllib": ("tomllib", "loads load TOMLDecodeError"),
    "typing": ("typing", """Any Union Optional List Dict Set FrozenSet Tuple Type Callable
        Iterable Iterator Generator Sequence MutableSequence Mapping MutableMapping
        AbstractSet MutableSet Collection Container Hashable Sized Reversible Awaitable
        Coroutine AsyncIterable AsyncIterator AsyncGenerator Deque DefaultDict OrderedDict
        Counter ChainMap NamedTuple TypedDict Literal Final ClassVar Annotated TypeVar
        Generic Protocol NoReturn Never Self LiteralString TypeAlias ParamSpec Concatenate
        TypeGuard NewType AnyStr Text SupportsInt SupportsFloat SupportsIndex SupportsAbs
        SupportsRound SupportsComplex SupportsBytes Required NotRequired TYPE_CHECKING
        cast overload final runtime_checkable get_origin get_args is_typeddict
        assert_never assert_type dataclass_transform"""),
    "unicodedata": ("unicodedata", "*"),
    "urllib.parse": ("urllib.parse", """quote quote_plus unquote unquote_plus urlencode urlparse
        urlunparse urlsplit urlunsplit urljoin urldefrag parse_qs parse_qsl quote_from_bytes
        unquote_to_bytes ParseResult SplitResult DefragResult"""),
    "uuid": ("uuid", """uuid3 uuid4 uuid5 UUID SafeUUID NAMESPACE_DNS NAMESPACE_URL NAMESPACE_OID
        NAMESPACE_X500 RESERVED_NCS RFC_4122 RESERVED_MICROSOFT RESERVED_FUTURE"""),
    "zlib": ("zlib", """compress decompress compressobj decompressobj crc32 adler32 error
        MAX_WBITS DEFLATED Z_BEST_COMPRESSION Z_BEST_SPEED Z_DEFAULT_COMPRESSION"""),
}

# Hand-written replacements (see _replacements), added to or overriding SPECS names.
REPLACEMENTS: dict[str, dict[str, Any]] = {
    "calendar": {"prmonth": _r.prmonth, "prcal": _r.prcal, "TextCalendar": _r.TextCalendar},
    "functools": {"wraps": _r.wraps, "update_wrapper": _r.update_wrapper},
    "dataclasses": {"dataclass": _r.dataclass, "make_dataclass": _typing_safe.make_dataclass},
    "typing": {"get_type_hints": _typing_safe.get_type_hints},
    "contextlib": {"redirect_stdout": _r.redirect_stdout, "redirect_stderr": _r.redirect_stderr},
    "hashlib": {"new": _r.hashlib_new},
    "pprint": {"pprint": _r.pprint, "pp": _r.pp},
    "string": {"Formatter": _r.Formatter},
}

# Packages whose only content in the sandbox is their allowed submodules.
PARENTS: dict[str, tuple[str, ...]] = {"urllib": ("parse",)}


def public_attributes(module: types.ModuleType) -> dict[str, Any]:
    """Every public attribute of ``module`` that is not itself a module."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def build(name: str, children: dict[str, SandboxModule]) -> SandboxModule:
    """Build the facade for allowed import ``name`` (children: its submodule facades)."""
    if name in PARENTS:
        return SandboxModule(name, {child: children[f"{name}.{child}"] for child in PARENTS[name]})
    real_name, names = SPECS[name]
    module = importlib.import_module(real_name)
    if names.strip() == "*":
        attrs = public_attributes(module)
    else:
        attrs = {n: getattr(module, n) for n in names.split() if hasattr(module, n)}
    attrs.update(REPLACEMENTS.get(name, {}))
    prefix = name + "."
    attrs.update({k[len(prefix):]: v for k, v in children.items() if k.startswith(prefix) and "." not in k[len(prefix):]})
    return SandboxModule(name, attrs)
