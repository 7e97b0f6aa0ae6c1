"""The user's config file, ``$XDG_CONFIG_HOME/envloop/config.toml``, read once per process.

The model name is read by :mod:`envloop.llm.config`; the sections here are the
ones the privacy and instruction features use::

    [instructions]              # defaults for conversations that never set their own
    cli = "Answer in French."
    telegram = "Keep answers under 500 characters."

    [export]
    redact = true               # `envloop export` redacts unless --no-redact

    [redact.patterns]           # extra patterns: placeholder label = regular expression
    EMPLOYEE_ID = "EMP-[0-9]{5}"

A missing file is an empty configuration; an unreadable or invalid one is a
one-line :class:`~envloop.errors.EnvloopError` naming the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from envloop.errors import EnvloopError

__all__ = ["ConfigError", "config_path", "load_config", "section"]


class ConfigError(EnvloopError):
    """The config file exists but cannot be read or is not valid TOML, or a setting has the wrong type."""


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/envloop/config.toml``, else ``~/.config/envloop/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "envloop" / "config.toml"


def load_config() -> dict[str, Any]:
    """The whole config file as a dict ({} when there is none).

    Not cached: commands read it once, and tests change XDG_CONFIG_HOME between runs.
    """
    path = config_path()
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def section(name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """One table of the config (dotted names reach nested tables); {} when absent."""
    data: Any = load_config() if config is None else config
    for part in name.split("."):
        data = data.get(part, {}) if isinstance(data, dict) else {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {config_path()}: [{name}] must be a table")
    return data
