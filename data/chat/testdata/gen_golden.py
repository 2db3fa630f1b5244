"""Renders data/chat/templates/*.jinja with jinja2 set up as transformers'
apply_chat_template does (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks) for many conversations, writing testdata/rendered.json that
the Go renderers are compared against. Run from data/chat:
    python3 testdata/gen_golden.py
"""
import json
import pathlib

from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

here = pathlib.Path(__file__).resolve().parent.parent
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = lambda x, **k: json.dumps(x, ensure_ascii=False)

def m(role, content):
    return {"role": role, "content": content}

convs = {
    "single": [m("user", "What is 2+3? Put the answer in \\boxed{}.")],
    "system_user": [m("system", "You are a careful solver."), m("user", "Solve x+1=3.")],
    "multi": [m("system", "You are a careful solver."), m("user", "Solve x+1=3."),
              m("assistant", "x = 2, so \\boxed{2}."), m("user", "Your answer was judged incorrect. Revise it.")],
    "history_think": [m("user", "Q1"), m("assistant", "<think>\nstep one\nstep two\n</think>\n\nA1"), m("user", "Q2")],
    "last_assistant_think": [m("user", "Q1"), m("assistant", "<think>\nreason\n</think>\n\nfinal answer")],
    "last_assistant_plain": [m("user", "Q1"), m("assistant", "just the answer")],
    "after_query_two_assistants": [m("user", "Q"), m("assistant", "<think>r1</think>a1"), m("assistant", "plain a2"), m("assistant", "last")],
    "after_query_not_last_no_reasoning": [m("user", "Q"), m("assistant", "no reasoning here"), m("assistant", "<think>\n\nx\n\n</think>\n\n\ny")],
    "system_middle": [m("user", "Hi"), m("system", "Be brief."), m("user", "Again")],
    "only_system": [m("system", "sys only")],
    "assistant_first": [m("assistant", "<think>t</think>hello"), m("user", "hey")],
    "no_user": [m("system", "s"), m("assistant", "<think>t</think>\n\nhello")],
    "close_only": [m("user", "q"), m("assistant", "reasoning without open</think>\n\nanswer"), m("user", "q2")],
    "multi_think_tags": [m("user", "q"), m("assistant", "<think>a</think>b</think>\n\nc")],
    "tool_turns": [m("user", "weather?"), m("assistant", "let me check"), m("tool", "{\"t\": 20}"), m("tool", "{\"h\": 5}"), m("assistant", "20C")],
    "tool_response_user": [m("user", "first"), m("assistant", "<think>x</think>y"), m("user", "<tool_response>\ndata\n</tool_response>")],
    "unicode": [m("system", "你好"), m("user", "emoji 🙂 café\n\n  spaced  "), m("assistant", "  trailing  \n")],
    "empty_content": [m("user", ""), m("assistant", "")],
    "newlines": [m("user", "\n\nlead"), m("assistant", "\n\n<think>\n\n\n</think>\n\n\nbody\n")],
}

templates = ["qwen3", "qwen2.5", "qwen2", "chatml", "llama3"]
out = []
for name in templates:
    tmpl = env.from_string((here / "templates" / f"{name}.jinja").read_text())
    for cname, msgs in convs.items():
        if name != "qwen3" and name != "qwen2.5" and any(x["role"] == "tool" for x in msgs):
            pass  # these templates render any role literally: still a valid case
        for gen in (True, False):
            for think in (None, True, False):
                if name != "qwen3" and think is not None:
                    continue
                kw = dict(messages=msgs, add_generation_prompt=gen, bos_token="<|begin_of_text|>",
                          eos_token="<|im_end|>")
                if think is not None:
                    kw["enable_thinking"] = think
                out.append({"template": name, "case": cname, "messages": msgs, "add_generation_prompt": gen,
                            "enable_thinking": think, "text": tmpl.render(**kw)})

(here / "testdata" / "rendered.json").write_text(json.dumps(out, ensure_ascii=False, indent=1))
print(len(out), "renderings")
