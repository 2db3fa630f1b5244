"""Renders every chat template under testdata/models/ (real model
directories: tokenizer_config.json, optionally chat_template.jinja) and the
built-in templates/*.jinja with jinja2 exactly as transformers'
apply_chat_template does, for many conversations and options, writing
testdata/golden.json that the Go engine is compared against.

The environment is transformers' _compile_jinja_template: an
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the
loopcontrols extension, tojson overridden (json.dumps, ensure_ascii=False,
indent/separators/sort_keys passed through), raise_exception and
strftime_now as globals. render() gets messages, tools=None, documents=None,
add_generation_prompt, the tokenizer's special tokens and the extra keyword
arguments. strftime_now reads a fixed clock (NOW below) so that goldens are
stable; the Go test sets the same time.

Run from data/chat:
    python3 testdata/gen_golden.py [--out FILE]
"""
import argparse
import json
import pathlib
import sys
from datetime import datetime

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

here = pathlib.Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 7, 14, 5, 9)

SPECIAL_KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
                "additional_special_tokens"]


class GenerationTracker(Extension):
    """transformers' AssistantTracker: {% generation %}...{% endgeneration %}
    renders its body unchanged."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_content(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def load_model(d):
    """The chat template and special-token map of a model directory, read
    as transformers does."""
    cfg = {}
    p = d / "tokenizer_config.json"
    if p.exists():
        cfg = json.loads(p.read_text())
    # chat_template.jinja takes priority over tokenizer_config.json's.
    if (d / "chat_template.jinja").exists():
        tmpl = (d / "chat_template.jinja").read_text()
    else:
        tmpl = cfg.get("chat_template")
        if isinstance(tmpl, list):
            tmpl = {t["name"]: t["template"] for t in tmpl}["default"]
    special = {}
    for k in SPECIAL_KEYS:
        v = cfg.get(k)
        if v is None:
            continue
        if k == "additional_special_tokens":
            special[k] = [token_content(x) for x in v]
        else:
            special[k] = token_content(v)
    return tmpl, special


def m(role, content, **kw):
    d = {"role": role, "content": content}
    d.update(kw)
    return d


CONVS = {
    "single": [m("user", "What is 2+3? Put the answer in \\boxed{}.")],
    "system_user": [m("system", "You are a careful solver."), m("user", "Solve x+1=3.")],
    "multi": [m("system", "You are a careful solver."), m("user", "Solve x+1=3."),
              m("assistant", "x = 2, so \\boxed{2}."), m("user", "Your answer was judged incorrect. Revise it.")],
    "multi_no_system": [m("user", "Q1"), m("assistant", "A1"), m("user", "Q2"), m("assistant", "A2"), m("user", "Q3")],
    "history_think": [m("user", "Q1"), m("assistant", "<think>\nstep one\nstep two\n</think>\n\nA1"), m("user", "Q2")],
    "last_assistant_think": [m("user", "Q1"), m("assistant", "<think>\nreason\n</think>\n\nfinal answer")],
    "last_assistant_plain": [m("user", "Q1"), m("assistant", "just the answer")],
    "reasoning_content": [m("user", "Q1"), m("assistant", "A1", reasoning_content="I thought."), m("user", "Q2"),
                          m("assistant", "A2", reasoning_content="\nMore thought.\n")],
    "system_assistant": [m("system", "Be brief."), m("user", "Hi"), m("assistant", "Hello!")],
    "after_query_two_assistants": [m("user", "Q"), m("assistant", "<think>r1</think>a1"), m("assistant", "plain a2"),
                                   m("assistant", "last")],
    "system_middle": [m("user", "Hi"), m("system", "Be brief."), m("user", "Again")],
    "assistant_first": [m("assistant", "<think>t</think>hello"), m("user", "hey")],
    "close_only": [m("user", "q"), m("assistant", "reasoning without open</think>\n\nanswer"), m("user", "q2")],
    "tool_turns": [m("user", "weather?"), m("assistant", "let me check"), m("tool", "{\"t\": 20}"),
                   m("tool", "{\"h\": 5}"), m("assistant", "20C")],
    "unicode": [m("system", "你好"), m("user", "emoji 🙂 café\n\n  spaced  "), m("assistant", "  trailing  \n"),
                m("user", "<tag> & \"quotes\" 'single'")],
    "empty_content": [m("user", ""), m("assistant", "")],
    "newlines": [m("user", "\n\nlead"), m("assistant", "\n\n<think>\n\n\n</think>\n\n\nbody\n"), m("user", "x")],
}

# Small templates exercising Jinja/Python semantics that chat templates
# lean on (string methods, filters, tests, loops, namespace, whitespace
# control, number and None formatting): golden.json's "semantics", which
# the Go test compares with the engine, listing known differences.
SEMANTICS = [
 ("{{ 'a b  c'.split() }}", {}),
 ("{{ 'a,b,,c'.split(',') }}", {}),
 ("{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi'.lstrip('\\n') }}|{{ 'hi  '.rstrip() }}", {}),
 ("{{ 'Hello'.upper() }}{{ 'Hello'.lower() }}{{ 'hello world'.title() }}{{ 'hello'.capitalize() }}", {}),
 ("{{ 'hello'|capitalize }}{{ 'heLLo woRld'|title }}", {}),
 ("{{ 'abc'.startswith('a') }}{{ 'abc'.endswith(('c','d')) }}", {}),
 ("{{ 'a-b-c'.replace('-', '+') }}{{ 'a-b-c'.replace('-', '+', 1) }}", {}),
 ("{{ '{} and {}'.format('x', 'y') }}", {}),
 ("{{ 'abcdef'[::-1] }}|{{ 'abcdef'[1:3] }}|{{ 'abcdef'[-2:] }}|{{ [1,2,3,4][::2] }}|{{ [1,2,3][-1] }}", {}),
 ("{{ [1,2,3]|length }}{{ [1,2,3]|first }}{{ [1,2,3]|last }}{{ [1,2,3]|join(', ') }}", {}),
 ("{{ x|default('d') }}|{{ none|default('d') }}|{{ ''|default('d', true) }}", {}),
 ("{% for k, v in d|items %}{{k}}={{v}};{% endfor %}", {"d": {"b": 1, "a": 2}}),
 ("{% for k, v in d.items() %}{{k}}={{v}};{% endfor %}", {"d": {"b": 1, "a": 2}}),
 ("{{ ms|selectattr('role', 'equalto', 'user')|list|length }}", {"ms": [{"role":"user"},{"role":"x"},{"role":"user"}]}),
 ("{{ ms|map(attribute='role')|join(',') }}", {"ms": [{"role":"user"},{"role":"x"}]}),
 ("{{ ms|rejectattr('role', 'equalto', 'user')|list }}", {"ms": [{"role":"user"},{"role":"x"}]}),
 ("{{ 3|string + 'a' }}{{ '42'|int + 1 }}{{ 'x'|int }}{{ 3.7|int }}", {}),
 ("{{ 'a\\nb'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(4) }}", {}),
 ("{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é<>&\\''|tojson }}", {"d": {"b": [1, 2.5, True, None, "é\"\\"], "a": {}}}),
 ("{{ d|tojson(sort_keys=true) }}", {"d": {"b": 1, "a": 2}}),
 ("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{x}}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}", {}),
 ("{% set ns = namespace(a=1, b='x') %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}", {}),
 ("{{ 1 ~ 'a' ~ none ~ true }}|{{ 'a' in 'cat' }}{{ 2 in [1,2] }}{{ 'k' in {'k':1} }}{{ 'z' not in 'cat' }}", {}),
 ("{{ x is defined }}{{ y is defined }}{{ y is none }}{{ x is string }}{{ 3 is number }}{{ [1] is iterable }}{{ {} is mapping }}{{ 'a' is sequence }}{{ false is false }}{{ true is true }}{{ 1 is true }}", {"x": "s", "y": None}),
 ("{{ 7 // 2 }}{{ 7 % 3 }}{{ 7 / 2 }}{{ 2 ** 3 }}{{ 1.0 }}{{ 2 * 1.5 }}{{ 4 / 2 }}{{ -3 // 2 }}", {}),
 ("{{ [] }}{{ [1, 'a'] }}{{ {'a': 1} }}{{ none }}{{ true }}{{ (1, 2) }}{{ [none, true, 1.5] }}", {}),
 ("{% if [] %}T{% else %}F{% endif %}{% if {} %}T{% else %}F{% endif %}{% if '' %}T{% else %}F{% endif %}{% if 0 %}T{% else %}F{% endif %}{% if none %}T{% else %}F{% endif %}{% if 'a' %}T{% endif %}", {}),
 ("{{ x.y }}|{{ x['y'] }}|{{ d.missing }}|{{ d.get('a') }}{{ d.get('z', 'dflt') }}", {"x": {}, "d": {"a": 1}}),
 ("{%- if true %}\n  A\n{%- endif %}\n  {% if true %}\n  B\n  {% endif %}\nC {# comment #}\n  {{- 'D' -}}  \n E", {}),
 ("{% macro f(a, b='x') %}[{{a}}{{b}}]{% endmacro %}{{ f(1) }}{{ f(2, b='y') }}{{ f(3, 'z') }}", {}),
 ("{% set x %}inner {{ 1 }}{% endset %}[{{ x }}]", {}),
 ("{{ 'x' if true else 'y' }}{{ 'x' if false }}|{{ not true }}{{ true and false }}{{ none or 'z' }}{{ 0 or '' }}", {}),
 ("{{ ms[-1].role }}{{ ms|reverse|map(attribute='role')|list }}{{ ms[::-1][0].role }}", {"ms": [{"role":"a"},{"role":"b"}]}),
 ("{% for m in ms if m.role != 'x' %}{{ m.role }}{{ loop.index }}{% endfor %}", {"ms": [{"role":"a"},{"role":"x"},{"role":"b"}]}),
 ("{% for m in [] %}x{% else %}empty{% endfor %}", {}),
 ("{{ 'a' * 3 }}{{ [1] + [2] }}{{ 'ab' < 'b' }}{{ 1 == 1.0 }}{{ 'a' != 'b' }}", {}),
 ("{{ ['b','a','c']|sort|join }}{{ [3,1,2]|max }}{{ [3,1,2]|min }}{{ [1,2]|sum }}{{ ['a','a','b']|unique|list }}", {}),
 ("{{ '%s-%d'|format('a', 3) }}{{ 'x %s' % 'y' }}", {}),
 ("{{ 'abc'|upper }}{{ 'ABC'|lower }}{{ ' x '|trim }}{{ 'a b c'|wordcount }}{{ 'xax'|replace('x','y') }}", {}),
 ("{{ raise_exception('boom') }}", {}),
 ("{{ d['a']['b'] }}{{ (d.a).b }}", {"d": {"a": {"b": 5}}}),
 ("{{ 'abc'.find('c') }}{{ 'aab'.count('a') }}{{ '-'.join(['a','b']) }}{{ 'a b'.split(' ', 1) }}", {}),
 ("{{ 'abc'.rsplit('b') }}{{ 'x'.center(5) }}|{{ 'ab'.isdigit() }}{{ '12'.isdigit() }}", {}),
 ("{% generation %}gen{{ 1 }}{% endgeneration %}", {}),
 ("{{ strftime_now('%Y-%m-%d %H:%M:%S %d %b %B %A %a %j %I %p') }}", {}),
 ("{{ 1e3 }}{{ 0.1 + 0.2 }}{{ 1/3 }}{{ 10000000000000000.0 }}{{ 1.5e-7 }}{{ -0.0 }}", {}),
 ("{{ d.keys()|list }}{{ d.values()|list }}", {"d": {"b": 1, "a": 2}}),
 ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% for a, b in [[1,2],[3,4]] %}{{ a+b }}{% endfor %}", {}),
 ("{{ {'a': 1, 'b': [1, {'c': 'x'}]}|string }}{{ 'it''s' }}{{ \"q\\\"q\" }}{{ 'tab\\tnl\\n' }}{{ '\\u00e9' }}", {}),
 ("{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ loop }}", {}),
 ("{{ messages|length is divisibleby 2 }}{{ 3 is odd }}{{ 4 is even }}", {"messages": [1, 2]}),
 ("{% filter upper %}abc{% endfilter %}{{ [1,2,3]|batch(2)|list }}", {}),
 # whitespace control (done by chat/whitespace.go) and loop scoping
 ("{%- if true -%}a: {{ 'x' }}{%- endif -%}|{% if true -%} a: {{ 'x' }} b{% endif %}", {}),
 ("  {% if true %}\n  x\n  {% endif %}\n  {%+ if true %}y{% endif %}\n\t{# c #}\nz\n", {}),
 ("a  \n  {#- c -#}  \n b {{- ' c ' -}} d\r\ne\r\n", {}),
 ("{% raw %}{{ x }} {% y %}{% endraw %}|{%- raw -%}  r  {%- endraw -%}  |", {}),
 ("{{ {'a': {'b': 1}} }}{% set d = {'k': {'v': [1, {'w': 2}]}} %}{{ d.k.v[1].w }}", {}),
 ("{% for i in [1,2,3] %}{% if i == 1 %}{% set y = 'set' %}{% endif %}{{ y is defined }}{% endfor %}", {}),
 ("{% for i in [1,2,3,4] %}{% if i == 3 %}{% break %}{% endif %}{% set z = i %}{{ z }}{{ loop.index }}{{ loop.last }}{% else %}none{% endfor %}|{% for i in [] %}x{% else %}empty{% endfor %}", {}),
 ("{% for a in [1,2] %}{% for b in [1,2,3] %}{% if b == 2 %}{% break %}{% endif %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }}{% if a == 1 %}{% continue %}{% endif %}!{% endfor %}", {}),
 ("{% macro m(xs) %}{% for x in xs %}{% if x > 1 %}{% break %}{% endif %}{{ x }}{% endfor %}{% endmacro %}{{ m([1,2,3]) }}{% for k in [5] %}{{ loop.first }}{{ loop.length }}{% endfor %}", {}),
]

# Keyword-argument variants: none, enable_thinking true/false (templates
# without it ignore it), and a custom date for templates that read one.
KWARGS = [{}, {"enable_thinking": True}, {"enable_thinking": False}]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(here / "testdata" / "golden.json"))
    args = ap.parse_args()
    env = make_env()
    models = []
    for d in sorted((here / "testdata" / "models").iterdir()):
        if not d.is_dir():
            continue
        tmpl, special = load_model(d)
        models.append((d.name, tmpl, special))
    for p in sorted((here / "templates").glob("*.jinja")):
        models.append(("builtin-" + p.stem, p.read_text(), {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"}))
    out = []
    for name, tmpl, special in models:
        compiled = env.from_string(tmpl)
        uses_thinking = "enable_thinking" in tmpl
        for cname, msgs in CONVS.items():
            for gen in (True, False):
                for kw in KWARGS:
                    if kw and not uses_thinking and cname not in ("single", "multi"):
                        continue
                    ctx = dict(special)
                    ctx.update(kw)
                    case = {"model": name, "case": cname, "messages": msgs, "add_generation_prompt": gen,
                            "kwargs": kw}
                    try:
                        case["text"] = compiled.render(messages=msgs, tools=None, documents=None,
                                                       add_generation_prompt=gen, **ctx)
                    except jinja2.exceptions.TemplateError as e:
                        case["error"] = str(e)
                    out.append(case)
    sem = []
    for src, ctx in SEMANTICS:
        try:
            sem.append({"src": src, "ctx": ctx, "text": env.from_string(src).render(**ctx)})
        except jinja2.exceptions.TemplateError as e:
            sem.append({"src": src, "ctx": ctx, "error": str(e)})
    golden = {"now": NOW.isoformat(), "jinja2": jinja2.__version__, "cases": out, "semantics": sem}
    pathlib.Path(args.out).write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n")
    print(len(out), "renderings of", len(models), "templates", file=sys.stderr)


if __name__ == "__main__":
    main()
