"""Sandboxed execution: RestrictedPython inside an isolated worker process.

One :class:`Sandbox` per live conversation. It owns a worker process forked
from a pre-imported template; the worker holds the conversation's namespace
and runs each block under RestrictedPython, seccomp and rlimits, while the
host enforces the wall-clock deadline and replaces a worker that was killed
or crashed. ``Sandbox.run`` returns a :class:`RunResult` (plain data only).
"""

from envloop.sandbox.host import DEFAULT_TIMEOUT, RunResult, Sandbox

__all__ = ["DEFAULT_TIMEOUT", "RunResult", "Sandbox"]
