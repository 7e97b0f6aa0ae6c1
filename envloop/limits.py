"""Size limits and quotas of a conversation's stored data, from the environment.

Every limit has a default that ordinary data work never meets and a variable
to change it (a plain number of bytes, or with a unit: ``500MB``, ``2GiB``).
Going over one never loses the rest of the block: a value over a limit stays
live in the worker and is reported as not stored (with its size and the
limit) when the block runs; an artifact or workspace write over its quota
raises a clear error inside the block, which the code may catch.

=============================== ============================== =========
variable                        what it bounds                 default
=============================== ============================== =========
ENVLOOP_MAX_VALUE_BYTES         one stored value, encoded      1 GiB
ENVLOOP_MAX_CONVERSATION_BYTES  the conversation's current     16 GiB
                                values, encoded, together
ENVLOOP_MAX_ARTIFACT_BYTES      all artifact versions of a     2 GiB
                                conversation
ENVLOOP_MAX_WORKSPACE_BYTES     the files in its workspace     1 GiB
=============================== ============================== =========

The per-value limit is also bounded by the worker's memory (1 GiB address
space by default): a value has to fit in the worker before it can be stored.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from envloop.errors import EnvloopError

__all__ = ["Limits", "QuotaExceeded", "human", "parse_size"]

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


class QuotaExceeded(EnvloopError):
    """A limit on stored data would be exceeded."""


def parse_size(text: str, what: str) -> int:
    """``"500MB"`` → 500000000; a clear error for anything else."""
    found = _SIZE.match(text)
    unit = found.group(2).lower() if found else ""
    if not found or unit not in _UNITS:
        raise EnvloopError(f"{what} must be a size in bytes such as 500MB or 2GiB, not {text!r}")
    return int(float(found.group(1)) * _UNITS[unit])


def human(n: int | None) -> str:
    """``1.5 MiB``: sizes in messages (powers of 1024)."""
    if n is None:
        return "an unknown size"
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return parse_size(raw, name) if raw.strip() else default


@dataclass(frozen=True)
class Limits:
    """The limits one environment applies (see the module docstring)."""

    value_bytes: int = 1 << 30
    conversation_bytes: int = 16 << 30
    artifact_bytes: int = 2 << 30
    workspace_bytes: int = 1 << 30

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            value_bytes=_env("ENVLOOP_MAX_VALUE_BYTES", cls.value_bytes),
            conversation_bytes=_env("ENVLOOP_MAX_CONVERSATION_BYTES", cls.conversation_bytes),
            artifact_bytes=_env("ENVLOOP_MAX_ARTIFACT_BYTES", cls.artifact_bytes),
            workspace_bytes=_env("ENVLOOP_MAX_WORKSPACE_BYTES", cls.workspace_bytes),
        )
