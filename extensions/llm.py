"""Built-in extension ``llm``: ``llm_query(prompt)``, a sub-call to the model from code.

Lets a block hand a piece of text to the model (summarise, classify, extract)
without ending the iteration. The call goes through ``ctx.ask_model``, which the
engine provides per turn and which counts against that turn's budgets, so a
loop of sub-calls cannot run up cost unchecked. The prompt is capped for the
same reason.
"""

from __future__ import annotations

from envloop.extensions_api import CallContext, HostFunction, function_docs, hookimpl

MAX_PROMPT_CHARS = 100_000


def llm_query(ctx: CallContext, prompt: object) -> str:
    """The model's reply to ``prompt``, as text."""
    if type(prompt) is not str:
        raise TypeError(f"llm_query: prompt must be a str, not {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError("llm_query: prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"llm_query: prompt is longer than {MAX_PROMPT_CHARS} characters; send less text")
    if ctx.ask_model is None:
        raise RuntimeError("no model is configured for llm_query")
    reply = ctx.ask_model(prompt)
    if type(reply) is not str:
        raise RuntimeError("llm_query: the model returned no text")
    return reply


FUNCTIONS = [
    HostFunction("llm_query", llm_query, "read",
                 "Ask the language model a self-contained question; returns its reply as text.",
                 "llm_query(prompt: str) -> str"),
]


@hookimpl
def envloop_functions() -> list[HostFunction]:
    return list(FUNCTIONS)


@hookimpl
def envloop_prompt() -> str:
    return (
        "Sub-calls to the model: the model you call sees only the prompt you pass, nothing of this "
        "conversation, and each call counts against this turn's budget, so batch work into few calls:\n"
        + function_docs(FUNCTIONS)
    )
