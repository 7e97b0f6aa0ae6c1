"""Built-in extension ``instructions``: the model may *propose* new instructions; the person decides.

A conversation's instructions sit beneath envloop's fixed core rules (see
:mod:`envloop.instructions`). The model cannot change them on its own: its only
way is ``propose_instructions(text)``, an irreversible-effect function, so
every call first asks the person (showing the full proposed text) and raises
``PermissionError`` when they say no. An approved change is stored with the
block that made it, as a new version of ``@instructions`` — visible in
``envloop instructions history``, and undone by ``envloop undo`` with the rest
of that turn.
"""

from __future__ import annotations

from envloop.extensions_api import CallContext, HostFunction, hookimpl

#: Below the approval question's limit (1000 characters), so the person always sees the whole text.
MAX_CHARS = 900


def _checked(text: object) -> str:
    if type(text) is not str:
        raise TypeError(f"propose_instructions(text): text must be a str, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ValueError("propose_instructions(text): text is empty")
    if len(stripped) > MAX_CHARS:
        raise ValueError(f"propose_instructions(text): at most {MAX_CHARS} characters, got {len(stripped)}")
    return stripped


def propose_instructions(ctx: CallContext, text: object) -> str:
    """Replace the conversation's instructions with ``text`` once the person has approved it."""
    checked = _checked(text)
    if ctx.set_instructions is None:
        raise RuntimeError("propose_instructions: instructions cannot be changed here")
    version = ctx.set_instructions(checked)
    return f"the person approved: instructions v{version} apply from the next turn"


def _describe(text: object) -> str:
    """The approval question: the whole proposed text (a bad call fails here, before anyone is asked)."""
    return f"change this conversation's instructions to:\n{_checked(text)}"


@hookimpl
def envloop_functions() -> list[HostFunction]:
    return [
        HostFunction(
            "propose_instructions", propose_instructions, "irreversible",
            "Propose new instructions for this conversation (replacing the current ones); "
            "the person must approve, and the core rules still come first.",
            "propose_instructions(text: str) -> str", describe=_describe,
        )
    ]
