"""What a template override may reach and build. The sandbox refuses a value past the page's limit
before it is made, not after: a refusal after the fact still costs the memory (a gigabyte for
`"%0900000000d" % 1`), and a function has 512 MB."""

from __future__ import annotations

import tracemalloc
import types
from collections.abc import Iterator

import pytest
from jinja2.exceptions import SecurityError

from newsdrop.model import Post, SiteConfig
from newsdrop.rendering import theme

PAGE = '{% extends "base.html" %}{% block content %}BODY{% endblock %}'


@pytest.fixture(autouse=True)
def _as_in_a_trial() -> Iterator[None]:
    """A failure raises, as in an override's trial, instead of leaving the page to the theme."""
    theme._budget.trial = True
    yield
    theme._budget.trial = False


POST = Post(key="_posts/2024-05-20-a.md", title="A", date="2024-05-20T10:00:00+08:00", slug="a", url="/a.html")


def render(body: str, template: str = "post.html") -> str:
    config = SiteConfig(templates=((template, PAGE.replace("BODY", body)),))
    return theme.render(template, config, post=POST).decode()


GROWING = {
    "% with a width": "{{ ('%0900000000d' % 1) | length }}",
    "% with a named width": "{{ ('%(a)0900000000d' % {'a': 1}) | length }}",
    "% with a precision": "{{ ('%.900000000d' % 1) | length }}",
    "% with a width from its arguments": "{{ ('%*d' % (900000000, 1)) | length }}",
    "the format filter with a precision": "{{ '%.900000000d' | format(1) }}",
    "str.format with a width": "{{ '{:>900000000}'.format(1) }}",
    "str.format with a width from its arguments": "{{ '{:>{}}'.format(1, 900000000) }}",
    "str.format_map": "{{ '{a:>{w}}'.format_map({'a': 1, 'w': 900000000}) }}",
    "ljust": "{{ 'x'.ljust(900000000) }}",
    "zfill": "{{ '1'.zfill(900000000) }}",
    "expandtabs": "{{ ('\t' * 9000).expandtabs(100000) }}",
    "str.replace": "{{ ('a' * 9000).replace('a', 'x' * 100000) }}",
    "str.join": "{{ ('x' * 100000).join(range(9000) | map('string')) }}",
    "str.translate": "{{ ('a' * 9000).translate({97: 'x' * 100000}) }}",
    "the join filter": "{{ range(9000) | join('x' * 100000) }}",
    "the indent filter": "{{ ('a\n' * 9000) | indent('x' * 100000, first=True) }}",
    "the wordwrap filter": "{{ ('a ' * 9000) | wordwrap(1, wrapstring='x' * 100000) }}",
    "the replace filter on a list": "{{ (range(100000) | list) | replace(',', 'x' * 9000) }}",
    "the tojson filter's indent": "{{ (range(9000) | list) | tojson(indent='x' * 100000) }}",
    "the tojson filter's indent as a number": "{{ (range(9000) | list) | tojson(indent=100000) }}",
    "the indent filter's width as a number": "{{ ('\n' * 9000) | indent(100000, true, true) }}",
    "str.format with a width as text": "{{ '{0:{1}}'.format('x', '>900000000') }}",
    "bytes repeated": "{{ ('x'.encode() * 900000000) | length }}",
    "bytes.center": "{{ 'x'.encode().center(900000000) | length }}",
    "% on bytes": "{{ ('%0900000000d'.encode() % 1) | length }}",
    "int.to_bytes": "{{ (1).to_bytes(900000000, 'big') | length }}",
    "a list of one long string, repeated": "{% set s = 'x' * 100000 %}{{ ([s] * 3000) | tojson | length }}",
    "a list of long strings, added to": (
        "{% set s = 'x' * 100000 %}{% set ns = namespace(l=[]) %}"
        "{% for i in range(3000) %}{% set ns.l = ns.l + [s] %}{% endfor %}{{ ns.l | join | length }}"
    ),
    "many long strings, each within the limit": "{{ range(3000) | map('center', 100000) | list | length }}",
    "a list of every character of a long text": "{% set s = [('好' * 100000)] * 50 %}{{ (s | join | list) | length }}",
    "% with many fields, each within the limit": "{{ (('%(a)99999d' * 8000) % {'a': 1}) | length }}",
    "str.format with many fields, each within the limit": "{{ ('{0:99999}' * 10000).format(1) | length }}",
    "lists of lists written in the template": (
        "{% set a = 'x' * 100000 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c, c, c] %}{{ d }}"
    ),
    "a date format with a width": "{{ '2024-05-20' | date('%0300000000Y') | length }}",
    "a long date format": "{% set p = 'x' * 100000 %}{{ '2024-05-20' | date('%Y' ~ p ~ p ~ p) | length }}",
    "slices of a long text": (
        "{% set a = 'x' * 100000 %}{% set c = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}{% set ns = namespace(n=0) %}"
        "{% for i in range(100) %}{% set ns.n = ns.n + (c[i:] | length) %}{% endfor %}{{ ns.n }}"
    ),
    "a batch filled with a long text": "{% set c = 'x' * 100000 %}{{ ([1] | batch(400, c) | list) | tojson | length }}",
    "str.translate with a list for a table": "{% set t = [''] * 97 + ['x' * 100000] %}{{ ('a' * 20000).translate(t) }}",
    "a date's strftime with widths": "{{ post.when.strftime('%099999Y' * 500) | length }}",
    "a long text in title case": (
        "{% set a = 'a ' * 50000 %}{% set b = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}"
        "{{ (b ~ b ~ b ~ b ~ b) | title | length }}"
    ),
    "one long string written many times": "{% set s = 'x' * 100000 %}{% for i in range(3000) %}{{ s }}{% endfor %}",
    "one long string written many times in a block": (
        "{% set s = ('x' * 100000) | safe %}{% set y %}{% for i in range(3000) %}{{ s }}{% endfor %}{% endset %}"
    ),
    "a long text as a list": "{% set a = '好' * 100000 %}{{ (a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a) | list | length }}",
}


@pytest.mark.parametrize("growing", sorted(GROWING))
def test_a_value_past_the_limit_is_refused_before_it_is_built(growing: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(SecurityError):
            render(GROWING[growing])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # what it asked for is 900 MB and more


def test_values_nested_past_the_limit_are_refused() -> None:
    # 250,000 deep, hashing the tuple overflowed the C stack: the process died, not the page.
    nesting = (
        "{% set ns = namespace(t=()) %}{% for i in range(500) %}{% for j in range(500) %}"
        "{% set ns.t = (ns.t,) %}{% endfor %}{% endfor %}{{ ns.t in {} }}"
    )
    with pytest.raises(SecurityError, match="nested more than 200 deep"):
        render(nesting)
    assert "True" in render("{% set ns = namespace(t=((1,),)) %}{{ ns.t == ((1,),) }}")


def test_values_a_recursing_macro_nests_past_the_limit_are_refused() -> None:
    # Each call wraps its argument in 60 tuples written in the template; 4,000 calls deep, hashing
    # it (a dict's key) overflowed the C stack.
    wrap = "(" * 60 + "x" + ",)" * 60
    macro = (
        "{% macro f(x, n) %}{% set x = "
        + wrap
        + " %}{% if n %}{{ f(x, n - 1) }}{% else %}{{ {x: 1} | length }}{% endif %}{% endmacro %}"
    )
    with pytest.raises(SecurityError, match="nested more than 200 deep"):
        render(macro + "{{ f((), 60) }}")
    assert render(macro + "{{ f((), 1) }}").count("1") >= 1  # 120 deep: allowed


def test_an_override_reads_only_the_theme_s_assets() -> None:
    assert "/assets/style." in render("{{ asset('style.css') }}")
    for name in ("/etc/passwd", "../templates/base.html", "/proc/self/environ", "/dev/zero"):
        with pytest.raises(theme.TemplateProblem, match="no asset"):
            render("{{ asset('" + name + "') }}")


@pytest.mark.parametrize(
    "failing",
    ["{{ 'x'.encode('nope') }}", "{{ 'x'.encode().decode('rot13') }}", "{{ cycler().next() }}"],
)
def test_whatever_an_override_raises_leaves_the_page_to_the_theme(failing: str) -> None:
    theme._budget.trial = False
    page = render(failing + "<h1 class=mine></h1>", "404.html")
    assert "Page Not Found" in page and "class=mine" not in page  # the theme's own page, not a failed batch


@pytest.mark.parametrize(
    "stuck",
    [
        # Each loop wraps a generator in another: 150,000 of them crashed the process when freed.
        "{% set ns = namespace(v=[1]) %}{% for i in range(3) %}{% set ns.v = ns.v | batch(1) %}{% endfor %}",
        # C calls no alarm stops: each character of the text looked for in five million.
        "{% set a = 'b' * 100000 %}{{ ('a' * 1000) | trim(a) }}",
        "{% set a = 'b' * 100000 %}{{ ('a' * 1000).strip(a) }}",
        # 100,000 references to a long string, compared item by item in one C call.
        "{% set b = 'x' * 100000 %}{% for c in range(100000) | map(attribute='q', default=b) | batch(100000) %}"
        "{% for d in range(100000) | map(attribute='q', default=b ~ '') | batch(100000) %}{{ c == d }}"
        "{% endfor %}{% endfor %}",
        "{% set b = 'x' * 100000 %}{% for c in range(100000) | map(attribute='q', default=b) | batch(100000) %}"
        "{{ 'y' in c }}{% endfor %}",
        # Integers that hash alike make building a dict quadratic, in one C call.
        "{% set P = 2 ** 61 - 1 %}{{ dict(range(0, 40000 * P, P) | batch(2) | list) | length }}",
        "{% set P = 2 ** 61 - 1 %}{{ namespace(range(0, 40000 * P, P) | batch(2) | list) }}",
        # Sorting lowercases a copy of each item first.
        "{% set s = 'x' * 100000 %}{{ range(1000) | map(attribute='q', default=s) | sort | length }}",
    ],
)
def test_what_would_crash_or_run_in_c_past_the_alarm_is_refused(stuck: str) -> None:
    with pytest.raises(SecurityError):
        render(stuck)


def test_a_sum_of_lists_is_refused() -> None:
    # Adding lists one by one is quadratic, and in C, where no budget check or alarm stops it.
    with pytest.raises(SecurityError, match="sum: only of numbers"):
        render("{{ (range(50000) | batch(1) | list) | sum(start=[]) | length }}")


@pytest.mark.parametrize(
    "escape",
    [
        "{{ frame.env.template_class('{{ 6 * 7 }}').render() }}",  # compiled outside the sandbox
        "{{ frame.env.loader }}",
        "{{ frame._env }}",
        "{{ site.from_json({}) }}",  # a class's method, reached from an instance
        "{{ site.tz.from_file }}",
    ],
)
def test_an_override_reaches_no_environment_loader_or_class(escape: str) -> None:
    with pytest.raises((SecurityError, theme.TemplateError)):
        render(escape)


def test_whatever_holds_them_the_sandbox_refuses_environments_templates_loaders_and_modules() -> None:
    env = theme.environment((("post.html", PAGE),))
    holder = types.SimpleNamespace(env=env, template=env.from_string("x"), loader=env.loader, module=types)
    for name in ("env", "template", "loader", "module"):
        with pytest.raises(SecurityError):
            env.from_string("{{ holder." + name + " }}").render(holder=holder)


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("{{ '%05d' % 42 }}", "00042"),
        ("{{ '%(n)s posts' % {'n': 3} }}", "3 posts"),
        ("{{ '{:>6}|'.format('ab') }}", "    ab|"),
        ("{{ '{n} posts'.format_map({'n': 3}) }}", "3 posts"),
        ("{{ 'a,b'.replace(',', ' and ') }}", "a and b"),
        ("{{ ' / '.join(['a', 'b']) }}", "a / b"),
        ("{{ [1, 2, 3] | sum }}", "6"),
        ("{{ ['a', 'b'] | join(', ') }}", "a, b"),
        ("{{ 'a\nb' | indent(2) }}", "a\n  b"),
        ("{{ {'k': 1} | tojson(indent=2) }}", '{\n  "k": 1\n}'),
        ("{{ 'x' | center(5) }}|", "  x  |"),
        ("{{ '7'.zfill(3) }}", "007"),
    ],
)
def test_what_a_theme_uses_these_for_still_renders(body: str, shown: str) -> None:
    assert f'<main class="wrap">\n{shown}' in render(body)


@pytest.mark.parametrize(
    "hidden",
    [
        "{% set ns = namespace(__html__=site.to_text) %}{{ ns }}",
        "{% set ns = namespace({'__html__': site.to_text}) %}{{ ns }}",
        "{% set ns = namespace() %}{% set ns.__html_format__ = site.to_text %}{{ ns }}",
    ],
)
def test_a_namespace_holds_no_name_escaping_would_call(hidden: str) -> None:
    # Escaping a value calls its __html__: a namespace holding one would have a callable called around
    # the sandbox's checks on calls.
    with pytest.raises(SecurityError, match="underscore"):
        render(hidden)
    assert render("{% set ns = namespace(a=1) %}{% set ns.b = 2 %}{{ ns.a + ns.b }}").count("3") >= 1
