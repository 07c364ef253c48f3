"""The one Jinja environment, and the site's static assets.

Templates and assets ship inside the package. Assets get content-hashed names, so
browsers and CloudFront may cache them forever and no invalidation is ever needed.
A site may override any template by uploading one of the same name under `_templates/`;
a site with overrides renders every template in Jinja's sandbox, so an override can shape
pages but cannot reach Python's internals, and each page it renders is bounded in time and in
the size of every value it builds (`_Sandbox`), in a child process with hard limits and no
credentials (`isolated`). An override that fails on a real page (it may branch on what only the
real site holds, which its trial on sample pages never saw) leaves that page to the theme's own
template, with an error logged. The theme alone is this package's own
code, as trusted as the Python that runs it, and renders outside the sandbox, whose checks on
every attribute and call take a quarter of the time a post's page takes to render.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import math
import re
import signal
import subprocess  # nosec B404 - a trial render of a template override runs in a child process
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    DictLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    select_autoescape,
)
from jinja2.compiler import CodeGenerator, Frame, operators
from jinja2.exceptions import SecurityError
from jinja2.nodes import Compare, Concat, Dict, Getitem, List, Operand, Slice, Tuple
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import Namespace
from markupsafe import Markup, escape

from newsdrop import paths
from newsdrop.model import SiteConfig
from newsdrop.rendering import isolated

STATIC_FILES = ("style.css", "search.js", "folder.js")
MAX_OUTPUT_CHARS = 5_000_000  # a rendered page larger than this is a runaway template
MAX_PRODUCT = 100_000  # `"x" * n`, `[..] * n`, `a ** b` in a template: no value past this size
MAX_BUILT = 40_000_000  # what one page's calls and filters may make in all (`_bounded`)
MAX_NESTING = 200  # lists in lists (or tuples, dicts) in a value a template makes
# An override's page: the time it may take, and the range() items it may make (a loop over
# range(100000) inside another is ten billion turns, all in a loop no other check sees).
RENDER_SECONDS = 5.0
MAX_RANGE_ITEMS = 1_000_000

log = logging.getLogger(__name__)


class TemplateProblem(ValueError):
    """A template override that cannot be used: bad syntax, unknown names, or a runaway page."""


@cache
def template_names() -> frozenset[str]:
    """The theme's templates: the names an override may take."""
    folder = resources.files("newsdrop.rendering") / "templates"
    return frozenset(item.name for item in folder.iterdir() if item.is_file())


@cache
def static_source(name: str) -> bytes:
    # A template names the asset: `asset("/etc/passwd")` must not read (and hash) a file of the host.
    if name not in STATIC_FILES:
        raise TemplateProblem(f"no asset {name[:100]!r}: the theme's are {', '.join(STATIC_FILES)}")
    return (resources.files("newsdrop.rendering") / "static" / name).read_bytes()


@cache
def asset_key(name: str) -> str:
    """`assets/style.3f2a9c1e.css`: the name carries a hash of the content."""
    stem, _, ext = name.rpartition(".")
    digest = hashlib.sha256(static_source(name)).hexdigest()[:10]
    return f"assets/{stem}.{digest}.{ext}"


@cache
def fingerprint() -> str:
    """Changes whenever any template or asset changes."""
    digest = hashlib.sha256()
    root = resources.files("newsdrop.rendering")
    for folder in ("templates", "static"):
        for item in sorted((root / folder).iterdir(), key=lambda p: p.name):
            digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=8)
def stamp(config: SiteConfig) -> str:
    """Changes whenever the theme or the site settings (template overrides included) change."""
    settings = hashlib.sha256(json.dumps(config.to_json(), sort_keys=True).encode()).hexdigest()[:16]
    return f"{fingerprint()}:{settings}"


@lru_cache(maxsize=1 << 14)  # a post's date is printed on every listing that shows it
def _date(value: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return dt.datetime.fromisoformat(value).strftime(fmt)


@lru_cache(maxsize=1 << 14)
def _isotime(value: str) -> str:
    """A time as HTML's `datetime` attribute takes it: whole seconds (HTML allows three decimals at most)."""
    return dt.datetime.fromisoformat(value).isoformat(timespec="seconds")


class _Budget(threading.local):
    """What the page being rendered in this thread may still spend."""

    deadline: float = math.inf
    seconds: float = 0.0  # what the deadline allowed
    range_items: int = 0
    built: int = 0  # characters (and items) of the values the page's calls and filters made
    trial: bool = False  # a trial's failure is its answer: no falling back to the theme


_budget = _Budget()


class TooSlow(SecurityError):
    """A page of an override ran out of its time (`isolated` then rests those overrides a while)."""


def _spend() -> None:
    if time.monotonic() > _budget.deadline:
        raise TooSlow(f"rendering took longer than {_budget.seconds:g} s")


def _bounded(value: Any) -> Any:
    _spend()
    if isinstance(value, str | bytes | list | tuple):
        if len(value) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"a value of more than {MAX_OUTPUT_CHARS} characters or items")
        # Each small value may pass, but not a page's worth of them: 3,000 strings of 100,000
        # characters from `range(3000) | map("center", 100000)` are 300 MB. An item costs a
        # string's object at least (each character of `"好" * n | list` is one).
        _budget.built += len(value) if isinstance(value, str | bytes) else 64 * len(value)
        if isinstance(value, list | tuple):
            _weighed(value)
        if _budget.built > MAX_BUILT:
            raise SecurityError(f"the page's values add up to more than {MAX_BUILT} characters")
    return value


def _weighed(value: Any) -> Any:
    """`value`, unless it stands for more than MAX_OUTPUT_CHARS characters once written out (`_weight`)."""
    if _weight(value, MAX_OUTPUT_CHARS) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"a value of more than {MAX_OUTPUT_CHARS} characters or items")
    return value


def _weight(value: Any, limit: int, depth: int = 0) -> int:
    """The characters (and items) `value` stands for once written out, counted until past `limit`:
    `[s] * 3000` is a list of 3,000 items, but 300 million characters as text or JSON. Raises
    SecurityError for containers nested deeper than MAX_NESTING (hashing one 250,000 deep
    overflows the C stack: the process dies, not the page)."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 1
    if depth > MAX_NESTING:
        raise SecurityError(f"values nested more than {MAX_NESTING} deep")
    total = 1
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    for item in items:
        total += _weight(item, limit, depth + 1)
        if total > limit:
            break
    return total


def _range(*args: int) -> range:
    items = safe_range(*args)
    _budget.range_items += len(items)
    if _budget.range_items > MAX_RANGE_ITEMS:
        raise SecurityError(f"more than {MAX_RANGE_ITEMS} range() items on one page")
    return items


# Widths and precisions in a %-format (`"%0900000000d" % 1`, `"%(a).900000000d"|format(a=1)`) and in
# a str.format field (`"{:>900000000}".format(1)`): the string is built before any check sees it.
_PERCENT_SPEC = r"[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?"  # flags, width, precision
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?" + _PERCENT_SPEC)
_PERCENT_FIELD_NO_KEY = re.compile("%" + _PERCENT_SPEC)
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_DIGITS = re.compile(r"\d+")
_NESTED_FIELD = re.compile(r"\{[^{}]*\{")


def _too_large(number: str) -> bool:
    return number == "*" or (number != "" and (len(number) > 9 or int(number) > MAX_PRODUCT))


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    """How long `text.replace(old, new)` would be (an empty `old` goes between every character)."""
    return len(text) + (text.count(old) if old else len(text) + 1) * len(new)


def _check_numbers(name: str, values: tuple[Any, ...]) -> None:
    """A width or a count given to a filter or a method (`center(n)`, `"x".ljust(n)`): at most MAX_PRODUCT."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_PRODUCT:
            raise SecurityError(f"{name}: {value} is too large")


def _check_stripped(name: str, chars: str | bytes) -> None:
    # Each character of the text is looked for in `chars`, in C, where the alarm cannot stop it.
    if len(chars) > _STRIPPED_CHARS_MAX:
        raise SecurityError(f"{name}: more than {_STRIPPED_CHARS_MAX} characters to strip")


def percent_fields(text: str) -> list[tuple[str, ...]]:
    """The width and precision of each %-field, as `_PERCENT_FIELD.findall` gives them, in one reading:
    after the text's last ")" no field has a key, and there `%(` would read to the end, from each one."""
    last, at = text.rfind(")"), text.find("%")
    found: list[tuple[str, ...]] = []
    while at >= 0:
        match = (_PERCENT_FIELD if at < last else _PERCENT_FIELD_NO_KEY).match(text, at)
        assert match is not None  # both match "%" alone
        found.append(match.groups(default=""))
        at = text.find("%", match.end())
    return found


def _check_format(text: str, what: str) -> None:
    percent = [n for pair in percent_fields(text) for n in pair] if "%" in text else []
    fields = [n for field in _FORMAT_FIELD.findall(text) for n in _DIGITS.findall(field)] if "{" in text else []
    numbers = (*percent, *fields)
    if any(_too_large(number) for number in numbers):
        raise SecurityError(f"{what}: a width or precision too large")
    # Each field within the limit, but not all of them together (`"%(a)99999d" * 8000`).
    if len(text) + sum(int(number) for number in numbers if number) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"{what}: the result would be too large")


def _check_text_method(text: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a call of a string's method (`"x".ljust(n)`, `s.replace(a, b)`) whose result would pass
    the page's limit, before it is built; the arguments to call it with (a `join` of a generator
    gets the generator's items, counted)."""
    values = (*args, *kwargs.values())
    _check_numbers(name, values)
    if isinstance(text, int):
        return args
    size = len(text)
    kind = str if isinstance(text, str) else bytes
    if name == "expandtabs":
        tab = values[0] if values and isinstance(values[0], int) else 8
        size += text.count("\t" if kind is str else b"\t") * tab
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], kind) and isinstance(args[1], kind):
        size = _replaced_size(text, args[0], args[1])
    elif name == "join" and args:
        items = args[0] if isinstance(args[0], list | tuple | str) else list(args[0])
        args = (items, *args[1:])
        size = len(text) * len(items) + sum(len(item) for item in items if isinstance(item, str | bytes))
    elif name == "translate" and args and isinstance(args[0], Mapping | list | tuple):
        table = args[0].values() if isinstance(args[0], Mapping) else args[0]
        size *= max((len(v) for v in table if isinstance(v, str)), default=1)
    elif name in ("strip", "lstrip", "rstrip") and args and isinstance(args[0], str | bytes):
        _check_stripped(name, args[0])
    elif name == "format" and isinstance(text, str):
        _check_format(text, name)
        if _NESTED_FIELD.search(text):  # `"{0:{1}}".format("x", ">900000000")`: widths from the arguments
            texts = [v for v in values if isinstance(v, str)]
            if any(_too_large(number) for v in texts for number in _DIGITS.findall(v)):
                raise SecurityError("format: a width or precision too large")
    if size > MAX_OUTPUT_CHARS:
        raise SecurityError(f"{name}: the result would be too large")
    return args


# Objects a template must never reach, through whatever attribute: an environment or a template
# compiles any source outside the sandbox (`Template(source)`), a loader reads files, and a module
# or a class leads anywhere.
_UNREACHABLE = (Environment, Template, BaseLoader, types.ModuleType, type)


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose numbers (a width, a count) and result stay within the page's limits, checked
    before it runs where the filter could build a huge value at once."""

    @functools.wraps(function)  # with Jinja's mark of what the filter takes first (`jinja_pass_arg`)
    def checked(*args: Any, **kwargs: Any) -> Any:
        _spend()
        _check_numbers(name, (*args, *kwargs.values()))
        args = _within_bounds(name, args, kwargs, passed=getattr(function, "jinja_pass_arg", None) is not None)
        return _bounded(function(*args, **kwargs))

    return checked


# Filters that insert a string they are given many times over: the most characters each may insert.
_INSERTED_MAX = 16
_DATE_FORMAT_MAX = 200
_STRFTIME_WIDTH = re.compile(r"%[-_0^#]*(\d+)")
_STRIPPED_CHARS_MAX = 1_000
_WEIGHED_INPUT = frozenset(
    {"tojson", "string", "pprint", "sort", "unique", "groupby", "dictsort", "min", "max", "list", "reverse"}
)


def _check_date_format(fmt: str) -> None:
    # strftime takes widths too (`%0300000000Y`, glibc), and Python grows its buffer with the
    # format's length; the date filter's cache would keep whatever it made.
    if len(fmt) > _DATE_FORMAT_MAX or any(_too_large(w) for w in _STRFTIME_WIDTH.findall(fmt)):
        raise SecurityError(f"date: a format longer than {_DATE_FORMAT_MAX} characters or with a large width")


# Filters that split a text into its words, an object each (`title` of five million characters of
# "a a a": 360 MB): at most a post's body (MAX_BODY_HTML_CHARS in markup.py), so any post's text.
_SPLIT_INTO_WORDS = frozenset({"title", "wordcount", "urlize", "wordwrap"})
_WORDS_INPUT_MAX = 2_000_000
# A text as a list of its characters: an object each (five million took 400 MB; a million, 70).
_LISTED_CHARS_MAX = 100_000


def _within_bounds(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, passed: bool) -> tuple[Any, ...]:
    """Refuse a filter call that would build a value past the page's limit before it is built, and
    give its arguments (a generator's items listed where they are counted). `passed`: the filter
    takes the environment or the evaluation context first."""
    rest = list(args[1:] if passed else args)
    if name in _WEIGHED_INPUT | {"join"} and rest and isinstance(rest[0], Iterator):
        rest[0] = list(rest[0])  # a generator's items, to be counted, then used
        args = (*args[: len(args) - len(rest)], *rest)
    # These filters read any value as its text.
    if name == "format" and rest:
        _check_format(str(rest[0]), name)
    elif name == "replace" and len(rest) >= 3 and isinstance(rest[1], str) and isinstance(rest[2], str):
        if _replaced_size(str(rest[0]), rest[1], rest[2]) > MAX_OUTPUT_CHARS:
            raise SecurityError("replace: the result would be too large")
    elif name == "indent" and rest:
        width = rest[1] if len(rest) > 1 else kwargs.get("width", 4)
        if isinstance(width, int) and width * (str(rest[0]).count("\n") + 1) > MAX_OUTPUT_CHARS:
            raise SecurityError("indent: the result would be too large")
    if name in ("indent", "wordwrap", "tojson"):
        inserted = [v for v in (*rest[1:], *kwargs.values()) if isinstance(v, str)]
        if name == "tojson" and any(isinstance(v, int) and v > _INSERTED_MAX for v in (*rest[1:], *kwargs.values())):
            raise SecurityError("tojson: an indent too large")
        if any(len(text) > _INSERTED_MAX for text in inserted):
            raise SecurityError(f"{name}: a string of more than {_INSERTED_MAX} characters to insert")
    if name == "join" and rest:
        separator = rest[1] if len(rest) > 1 else kwargs.get("d", "")
        joined = sum(len(item) for item in rest[0] if isinstance(item, str))
        if isinstance(separator, str) and len(separator) * len(rest[0]) + joined > MAX_OUTPUT_CHARS:
            raise SecurityError("join: the result would be too large")
    if name == "date" and len(rest) > 1 and isinstance(rest[1], str):
        _check_date_format(rest[1])
    if name == "trim" and len(rest) > 1 and isinstance(rest[1], str):
        _check_stripped(name, rest[1])
    # The last batch is filled with `rest[2]`, a reference per place: weighed as the text it is.
    filling = name == "batch" and len(rest) > 2 and isinstance(rest[1], int)
    if filling and rest[1] * _weight(rest[2], MAX_OUTPUT_CHARS) > MAX_OUTPUT_CHARS:
        raise SecurityError("batch: the filling would be too large")
    # Each works over all of its input in C (sorting, lowercasing a copy of each item to sort by,
    # encoding): the input is weighed first.
    weighed = name in _WEIGHED_INPUT and rest and not isinstance(rest[0], str | bytes)
    if weighed and _weight(rest[0], MAX_OUTPUT_CHARS) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"{name}: its input is more than {MAX_OUTPUT_CHARS} characters")
    if name in _SPLIT_INTO_WORDS and rest and len(str(rest[0])) > _WORDS_INPUT_MAX:
        raise SecurityError(f"{name}: a text of more than {_WORDS_INPUT_MAX} characters")
    if name == "list" and rest and isinstance(rest[0], str) and len(rest[0]) > _LISTED_CHARS_MAX:
        raise SecurityError(f"list: a text of more than {_LISTED_CHARS_MAX} characters as a list")
    if name == "sum":
        start = kwargs.get("start", rest[2] if len(rest) > 2 else 0)
        if not isinstance(start, int | float):  # adding lists or strings one by one is quadratic, in C
            raise SecurityError("sum: only of numbers")
    return args


# Keys a dict (or a namespace) is made from at once: integers that hash alike (multiples of 2**61 - 1)
# make building one quadratic, in a single C call no alarm stops (50,000 took 28 s).
_PAIRS_MAX = 10_000


def _pairs(args: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(args) == 1 and not isinstance(args[0], Mapping):
        pairs = list(args[0])
        if len(pairs) > _PAIRS_MAX:
            raise SecurityError(f"a dict of more than {_PAIRS_MAX} pairs at once")
        return (pairs,)
    return args


def _dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    return dict(*_pairs(args), **kwargs)


def _held(name: Any, value: Any) -> None:
    """What a namespace may hold: a value weighed, and no generator, which each loop could wrap in
    another (`ns.v = ns.v | batch(1)`: 150,000 of them crashed the process when freed), under a name
    a template could read back (`ns.__html__`, which no template can name, would be called by
    escaping, around the sandbox's checks on calls)."""
    if isinstance(name, str) and name.startswith("_"):
        raise SecurityError(f"a namespace's names may not start with an underscore ({name[:40]!r})")
    if isinstance(value, Iterator):
        raise SecurityError("a namespace holds values, not generators: make it a list first (| list)")
    _weight(value, MAX_OUTPUT_CHARS)


class _Namespace(Namespace):
    """`namespace()`, the one thing a template can change as it loops: what it holds is never nested
    past MAX_NESTING (a tuple wrapped in itself 250,000 times crashed the process when hashed)."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # Namespace's signature
        held = dict(*_pairs(args[1:]), **kwargs)
        for name, value in held.items():
            _held(name, value)
        Namespace.__init__(args[0], held)

    def __setitem__(self, name: str, value: Any) -> None:
        _held(name, value)
        super().__setitem__(name, value)


class _BoundedCode(CodeGenerator):
    """`a ~ b` joins in generated code no sandbox hook sees: its result is checked as it is made, so
    doubling a string in a loop stops at the page's limit instead of filling memory."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")

    # A list, tuple or dict written in the template (`[a, a, a]`, `(x,)`) is weighed as it is made:
    # ten lists of ten, five deep, of one long string are a billion characters as text, and a tuple
    # wrapped in itself through a recursing macro crashes the process when hashed.
    def visit_List(self, node: List, frame: Frame) -> None:
        self._weighed(super().visit_List, node, frame)

    def visit_Tuple(self, node: Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # `{% for a, b in pairs %}`: names to assign, not a value
            super().visit_Tuple(node, frame)
        else:
            self._weighed(super().visit_Tuple, node, frame)

    def visit_Dict(self, node: Dict, frame: Frame) -> None:
        self._weighed(super().visit_Dict, node, frame)

    def visit_Getitem(self, node: Getitem, frame: Frame) -> None:
        # A slice is a new value (`text[1:]` of five million characters, a hundred times over), and
        # Jinja writes slices as Python does, past the environment's getitem: counted as it is made.
        if isinstance(node.arg, Slice):
            self.write("environment.bounded(")
            super().visit_Getitem(node, frame)
            self.write(")")
        else:
            super().visit_Getitem(node, frame)

    # `a == b`, `x in items`: one call into C that no alarm stops, however many long strings it
    # compares (100,000 references to a 5M-character string: 15 s). Each side is weighed first.
    def visit_Compare(self, node: Compare, frame: Frame) -> None:
        self.write("(environment.weighed(")
        self.visit(node.expr, frame)
        self.write(")")
        for op in node.ops:
            self.visit(op, frame)
        self.write(")")

    def visit_Operand(self, node: Operand, frame: Frame) -> None:
        self.write(f" {operators[node.op]} environment.weighed(")
        self.visit(node.expr, frame)
        self.write(")")

    def _weighed(self, visit: Callable[[Any, Frame], None], node: Any, frame: Frame) -> None:
        self.write("environment.weighed(")
        visit(node, frame)
        self.write(")")


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCode

    def __init__(self, **options: Any) -> None:
        # Every `{{ value }}` counts toward the page's values: a loop writing one long string 3,000
        # times filled the output buffer with 900 MB before the page's join could be checked.
        options.setdefault("finalize", _bounded)
        super().__init__(**options)
        self.globals["range"] = _range
        self.globals["namespace"] = _Namespace
        self.globals["dict"] = _dict
        self.globals.pop("lipsum", None)  # n paragraphs of filler: nothing a page needs

    @staticmethod
    def bounded(value: Any) -> Any:
        return _bounded(value)

    @staticmethod
    def weighed(value: Any) -> Any:
        return _weighed(value)

    def concat(self, parts: Any) -> str:  # a page, a macro's or a block's output
        return str(_bounded("".join(parts)))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _spend()
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            for value, times in ((left, right), (right, left)):
                if (
                    isinstance(value, str | bytes | list | tuple)
                    and isinstance(times, int)
                    and _weight(value, MAX_PRODUCT) * times > MAX_PRODUCT
                ):
                    raise SecurityError("repetition too large")
        if operator == "%" and isinstance(left, str | bytes):
            _check_format(left if isinstance(left, str) else left.decode("latin-1"), "%")
        sized = isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple)
        if (
            operator == "+"
            and sized
            and _weight(left, MAX_OUTPUT_CHARS) + _weight(right, MAX_OUTPUT_CHARS) > MAX_OUTPUT_CHARS
        ):
            raise SecurityError(f"a value of more than {MAX_OUTPUT_CHARS} characters or items")
        return _bounded(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # Jinja's signature
        _spend()  # every call: a macro recursing both ways doubles its calls with each level
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str | bytes | bytearray | int):  # `"x".ljust(n)`, `b"x".center(n)`, `(1).to_bytes(n)`
            args = _check_text_method(owner, name, args, kwargs)
        elif isinstance(owner, dt.date | dt.time) and name == "strftime" and args and isinstance(args[0], str):
            _check_date_format(args[0])  # `post.when.strftime(fmt)`, as the date filter
        return __self.bounded(super().call(__context, __obj, *args, **kwargs))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, _UNREACHABLE) or isinstance(value, _UNREACHABLE):
            return False
        if isinstance(getattr(value, "__self__", None), type):  # a class's method, reached from an instance
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja hands a template its own `str.format`, which `call` never sees as a string's method.
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            mapped = args[0].values() if len(args) == 1 and isinstance(args[0], Mapping) else ()
            _check_text_method(text, "format", (*args, *mapped), kwargs)
            return wrapped(*args, **kwargs)

        return checked

    def getattr(self, obj: Any, attribute: str) -> Any:
        _spend()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _spend()
        return super().getitem(obj, argument)


@contextmanager
def _page_budget(seconds: float) -> Iterator[None]:
    """`seconds` for one page of an override. The sandbox's hooks check the time at each call,
    attribute, item and join; in the main thread an alarm also stops a loop none of them sees
    (`{% for c in text %}{% for d in text %}{% endfor %}{% endfor %}`)."""
    started = time.monotonic()
    _budget.deadline, _budget.seconds, _budget.range_items, _budget.built = started + seconds, seconds, 0, 0
    alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if alarm:

        def stop(signum: int, frame: Any) -> None:
            raise TooSlow(f"rendering took longer than {seconds:g} s")

        earlier = signal.signal(signal.SIGALRM, stop)
        pending = signal.setitimer(signal.ITIMER_REAL, seconds)[0]
    try:
        yield
    finally:
        _budget.deadline = math.inf
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, earlier)
            if pending:  # an alarm someone else set: put back what is left of it
                signal.setitimer(signal.ITIMER_REAL, max(pending - (time.monotonic() - started), 0.001))


@cache
def environment(overrides: tuple[tuple[str, str], ...] = ()) -> Environment:
    """The environment for the theme, with a site's overrides first (one per set of overrides)."""
    loader: BaseLoader = PackageLoader("newsdrop.rendering", "templates")
    kind: type[Environment] = Environment
    if overrides:
        loader = ChoiceLoader([DictLoader(dict(overrides)), loader])
        kind = _Sandbox  # a template from the site's bucket: untrusted code
    env = kind(
        loader=loader,
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,  # a template that names a missing value is a bug, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # The theme's files never change under a running process (and overrides make a new
        # environment): no file system check each time a page asks for a template.
        auto_reload=False,
    )
    env.filters["date"] = _date
    env.filters["isotime"] = _isotime
    env.filters["href"] = paths.href
    if overrides:
        env.filters = {name: _bounded_filter(name, f) for name, f in env.filters.items()}
    return env


# What an override's page may raise: anything. A template is a program, and whatever it raises
# (`"x".encode("nope")` a LookupError, `cycler().next()` a RuntimeError) is its own failure, never
# the batch's.
OVERRIDE_FAILURES = (Exception,)


def render(template: str, config: SiteConfig, **context: Any) -> bytes:
    """A page. With overrides, rendered in the child process that renders them (`isolated`), within
    a page's budget; one that fails leaves the page to the theme's own templates, rendered here
    (logged as an error), except in a trial, where the failure is the answer."""
    if not config.templates:
        return _render(environment(), template, config, context)
    try:
        if _budget.trial:  # the trial's own child: limited already
            return render_override(template, config, context, RENDER_SECONDS)
        return isolated.render(template, config, context, RENDER_SECONDS)
    except OVERRIDE_FAILURES as exc:
        if _budget.trial:
            raise
        if isinstance(exc, isolated.Resting):  # the page that ran out of time logged why, and that they rest
            log.info("template overrides resting; the theme's own templates rendered %s", template)
            return _render(environment(), template, config, context)
        reason = failure_reason(exc)
        names = sorted(name for name, _source in config.templates)
        log.error(
            "a template override failed on %s (%s); the theme's own templates rendered it",
            template,
            reason[:500],
            extra={"template": template, "overrides": names, "reason": reason[:500]},
        )
        return _render(environment(), template, config, context)


def render_override(template: str, config: SiteConfig, context: dict[str, Any], seconds: float) -> bytes:
    """A page with the site's overrides, within `seconds` and the page's other bounds: in the child
    that renders them, or an override's trial."""
    with _page_budget(seconds):
        return _render(environment(config.templates), template, config, context)


def failure_reason(exc: Exception) -> str:
    if isinstance(exc, TemplateError):
        return _describe(exc)
    return str(exc) if isinstance(exc, isolated.Failed) else f"{type(exc).__name__}: {exc}"


def _render(env: Environment, template: str, config: SiteConfig, context: dict[str, Any]) -> bytes:
    helpers = _helpers(config)
    page = env.get_template(template).render(site=config, frame=_SiteFrame(env, config), **helpers, **context)
    # The limit is for overrides: the theme's own pages are as large as what they list (an archive
    # of a century and more of days), which the settings and the catalog bound.
    if config.templates and len(page) > MAX_OUTPUT_CHARS:
        raise TemplateProblem(f"{template} rendered {len(page)} characters; the limit is {MAX_OUTPUT_CHARS}")
    return page.encode()


@lru_cache(maxsize=8)
def _helpers(config: SiteConfig) -> dict[str, Callable[[str], str]]:
    """The functions templates make the site's addresses with."""

    def link(url: str) -> str:
        return paths.href(config.baseurl + url)

    def asset(name: str) -> str:
        return paths.href(config.baseurl + "/" + asset_key(name))

    def absolute(url: str) -> str:
        return paths.absolute(config.url, config.baseurl, url)

    return {"link": link, "asset": asset, "absolute": absolute}


FRAME_PARTS = ("head", "masthead", "footer")


class _SiteFrame(Mapping[str, Markup]):
    """The parts of every page that depend only on the site (`_frame.html`'s macros), made when a
    page first asks for one (a feed, a sitemap or robots.txt never does). The theme's own are the
    same on every page of a site, and made once per settings: a post's page took 58 microseconds
    to render with them, 50 without. A site's override is made again for each page, within that
    page's budget, as any template of the override is."""

    def __init__(self, env: Environment, config: SiteConfig) -> None:
        # Private: a template sees `frame.head` and the other parts, never the environment, which
        # would compile any source outside the sandbox (`frame.env.template_class(source)`).
        self._env, self._config = env, config
        self._parts: dict[str, Markup] | None = None

    def __getitem__(self, part: str) -> Markup:
        if self._parts is None:
            made = _frame_parts if isinstance(self._env, _Sandbox) else _theme_frame_parts
            self._parts = made(self._env, self._config)
        return self._parts[part]

    def __iter__(self) -> Iterator[str]:
        return iter(FRAME_PARTS)

    def __len__(self) -> int:
        return len(FRAME_PARTS)


def _frame_parts(env: Environment, config: SiteConfig) -> dict[str, Markup]:
    module = env.get_template("_frame.html").make_module({"site": config, **_helpers(config)})
    parts: dict[str, Markup] = {}
    for part in FRAME_PARTS:
        macro = getattr(module, part, None)
        if not isinstance(macro, Macro):  # whatever else an override named so is never called from here
            raise TemplateProblem(f"_frame.html has no macro {part}()")
        parts[part] = escape(macro())  # markup as the macro made it (a macro's output is Markup)
    return parts


_theme_frame_parts = lru_cache(maxsize=8)(_frame_parts)


TRIAL_SECONDS = 10  # a template that takes longer than this to render sample pages is a runaway


def check_template(name: str, source: str) -> None:
    """Raise TemplateProblem unless the override parses and every page kind renders with it.

    The pages are rendered in a child process with a time and memory limit: a template is a
    program, and one that loops without end or fills memory must cost a rejection, not the
    function that reads it."""
    try:
        # Parsing needs no loader: the theme's own environment, not a new cached one per upload.
        environment().parse(source)
    except TemplateError as exc:
        raise TemplateProblem(_describe(exc)) from exc
    request = json.dumps({"name": name, "source": source})
    # The child's answer, read from a file its size limit bounds (a pipe read to its end is not).
    with tempfile.TemporaryFile() as answer:
        trial = ("-P", "-m", "newsdrop.rendering.samples")
        child = isolated.start(trial, stdin=subprocess.PIPE, stdout=answer, stderr=subprocess.DEVNULL)
        try:
            child.communicate(request.encode(), timeout=TRIAL_SECONDS)
        except subprocess.TimeoutExpired as exc:
            isolated.kill(child)
            raise TemplateProblem(f"rendering sample pages took more than {TRIAL_SECONDS} s") from exc
        answer.seek(0)
        said = answer.read(isolated.CHILD_OUTPUT_BYTES).decode("utf-8", "replace").strip()
    if child.returncode != 0:
        reason = said or f"rendering sample pages failed (exit {child.returncode})"
        raise TemplateProblem(reason[:500])


def trial_render(name: str, source: str) -> str:
    """Render every page kind with the override; '' when all render, else what went wrong (in the child)."""
    from newsdrop.rendering import samples  # sample pages only when an override is uploaded

    _budget.trial = True
    try:
        samples.render_all(SiteConfig(templates=((name, source),)))
    except TemplateProblem as exc:
        return str(exc)
    except TemplateError as exc:
        return _describe(exc)
    except MemoryError:
        return "rendering sample pages ran out of memory"
    except Exception as exc:  # whatever the override raised is its answer (OVERRIDE_FAILURES)
        return f"{type(exc).__name__}: {exc}"
    finally:
        _budget.trial = False
    return ""


def _describe(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    return f"{exc.message or exc}" + (f" (line {line})" if line else "")
