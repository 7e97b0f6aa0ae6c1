"""Redaction: personal data and secrets replaced by placeholders before anything leaves envloop.

What is found, and by what (maintained detectors where one fits, a narrow
pattern only to find candidates for them):

- e-mail addresses                       a pattern (RFC 5322's common form)
- phone numbers                          ``phonenumbers`` (Google's libphonenumber), valid numbers only;
                                         international (+...) always, national ones in ``phone_region``
                                         when written as a phone number (with separators), so a bare
                                         run of digits in code or data is left alone
- payment card numbers                   13-19 digits, a card-network prefix and a valid Luhn check
                                         (``stdnum.luhn``), so a random 16-digit id is left alone
- IBANs                                  ``stdnum.iban`` (country format and check digits)
- IP addresses (v4 and v6)               ``ipaddress``; loopback and unspecified are kept (127.0.0.1,
                                         ::, 0.0.0.0 say nothing about anyone)
- API-key-shaped tokens                  known key formats (OpenAI, Anthropic, GitHub, Slack, AWS,
                                         Google, Stripe, Telegram bot tokens, JWTs) and long random-looking
                                         tokens (mixed case and digits, high entropy) — never a hex digest
- configured patterns                    ``[redact.patterns] LABEL = "regex"`` in the config file

The same value always gets the same placeholder (``<EMAIL_1>``, ``<CARD_2>``)
within one :class:`Redactor`, whatever its spelling (a card with or without
spaces, an e-mail in any case), so a redacted export still shows which
mentions are the same person. :meth:`Redactor.summary` says what was replaced.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from stdnum import iban, luhn

from envloop import settings
from envloop.errors import EnvloopError

__all__ = ["KINDS", "Finding", "Redactor", "redactor_from_config"]

#: Built-in kinds in priority order (an earlier kind wins where two overlap), with the summary's words.
KINDS: dict[str, str] = {
    "API_KEY": "API keys and tokens",
    "EMAIL": "e-mail addresses",
    "IBAN": "IBANs",
    "CARD": "payment card numbers",
    "IP": "IP addresses",
    "PHONE": "phone numbers",
}

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b")
_CARD = re.compile(r"(?<![\w.-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w.-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
_KEYS = re.compile(
    r"\b(?:"
    r"sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"  # GitHub
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"  # Stripe
    r"|\d{8,10}:AA[0-9A-Za-z_-]{33}"  # Telegram bot tokens
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWTs
    r")"
)
_TOKEN = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9_\-+/]{32,}={0,2}(?![\w/+=.-])")


@dataclass(frozen=True)
class Finding:
    """One occurrence: where it is, what kind, and the value that identifies it (normalised)."""

    start: int
    end: int
    kind: str
    key: str


def _emails(text: str) -> Iterator[Finding]:
    for m in _EMAIL.finditer(text):
        yield Finding(m.start(), m.end(), "EMAIL", m.group().lower())


def _cards(text: str) -> Iterator[Finding]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        separators = set(re.sub(r"\d", "", m.group()))
        if 13 <= len(digits) <= 19 and len(separators) <= 1 and luhn.is_valid(digits):
            yield Finding(m.start(), m.end(), "CARD", digits)


def _ibans(text: str) -> Iterator[Finding]:
    for m in _IBAN.finditer(text):
        compact = m.group().replace(" ", "")
        if iban.is_valid(compact):
            yield Finding(m.start(), m.end(), "IBAN", compact)


def _ips(text: str) -> Iterator[Finding]:
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(text):
            try:
                address = ipaddress.ip_address(m.group())
            except ValueError:
                continue
            if address.version == 6 and len([g for g in m.group().split(":") if g]) < 3:
                continue  # "::2" in a[::2] is code; an address people write has a network part
            if not (address.is_loopback or address.is_unspecified):
                yield Finding(m.start(), m.end(), "IP", address.compressed)


def _entropy(token: str) -> float:
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


def _keys(text: str) -> Iterator[Finding]:
    for m in _KEYS.finditer(text):
        yield Finding(m.start(), m.end(), "API_KEY", m.group())
    for m in _TOKEN.finditer(text):
        token = m.group()
        # random-looking: both cases, several digits, high entropy; a hex digest or a name in code is none of these
        mixed = re.search("[a-z]", token) and re.search("[A-Z]", token) and sum(c.isdigit() for c in token) >= 4
        if mixed and len(token) <= 200 and _entropy(token) >= 4.0:  # longer: encoded data, not a key
            yield Finding(m.start(), m.end(), "API_KEY", token)


@dataclass
class Redactor:
    """Finds and replaces; remembers which value got which placeholder, and counts."""

    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)
    phone_region: str | None = "US"
    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def _phones(self, text: str) -> Iterator[Finding]:
        for match in phonenumbers.PhoneNumberMatcher(text, self.phone_region, leniency=phonenumbers.Leniency.VALID):
            raw = match.raw_string
            if not raw.startswith("+") and not re.search(r"[\s().-]", raw):
                continue  # a bare run of digits: an id or a number in code, not a phone number as people write one
            before, after = text[match.start - 1:match.start], text[match.end:match.end + 1]
            if re.match(r"[\w-]", before) or re.match(r"[\w-]", after):
                continue  # part of a longer token, such as INV-2024-000123
            key = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            yield Finding(match.start, match.end, "PHONE", key)

    def _custom(self, text: str) -> Iterator[Finding]:
        for label, pattern in self.patterns.items():
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    yield Finding(m.start(), m.end(), label, m.group())

    def findings(self, text: str) -> list[Finding]:
        """Non-overlapping findings, earliest first (configured patterns win, then KINDS' order)."""
        detectors: list[Callable[[str], Iterator[Finding]]] = [
            self._custom, _keys, _emails, _ibans, _cards, _ips, self._phones]
        taken: list[Finding] = []
        for detect in detectors:
            for found in sorted(detect(text), key=lambda f: (f.start, -(f.end - f.start))):
                if all(found.end <= t.start or found.start >= t.end for t in taken):
                    taken.append(found)
        return sorted(taken, key=lambda f: f.start)

    def placeholder(self, kind: str, key: str) -> str:
        known = self.placeholders.get((kind, key))
        if known is None:
            number = sum(1 for k, _ in self.placeholders if k == kind) + 1
            known = self.placeholders[(kind, key)] = f"<{kind}_{number}>"
        return known

    def redact(self, text: str) -> str:
        """``text`` with every finding replaced by its placeholder."""
        if not text:
            return text
        out: list[str] = []
        last = 0
        for found in self.findings(text):
            out.append(text[last:found.start])
            out.append(self.placeholder(found.kind, found.key))
            self.counts[found.kind] += 1
            last = found.end
        out.append(text[last:])
        return "".join(out)

    def redact_json(self, value: Any) -> Any:
        """Every string inside a JSON-like value redacted (keys too), the structure kept."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self.redact_json(v) for v in value]
        if isinstance(value, dict):
            return {self.redact(k): self.redact_json(v) for k, v in value.items()}
        return value

    def redact_document(self, text: str, fmt: str) -> str:
        """A whole export: a notebook is redacted string by string, so it stays valid JSON."""
        if fmt == "ipynb":
            return json.dumps(self.redact_json(json.loads(text)), indent=1, ensure_ascii=False) + "\n"
        return self.redact(text)

    def summary(self) -> dict[str, dict[str, int]]:
        """kind → {"occurrences": n, "distinct": m}, for every kind that was replaced."""
        distinct = Counter(kind for kind, _ in self.placeholders)
        return {kind: {"occurrences": n, "distinct": distinct[kind]} for kind, n in self.counts.items()}

    def summary_line(self) -> str:
        if not self.counts:
            return "redacted nothing (no personal data or secrets found)"
        parts = [f"{v['occurrences']} {KINDS.get(k, k)} ({v['distinct']} distinct)" for k, v in self.summary().items()]
        return "redacted " + ", ".join(parts)


class RedactConfigError(EnvloopError):
    """A configured redaction pattern is not a valid regular expression."""


def redactor_from_config(config: dict[str, Any] | None = None) -> Redactor:
    """A Redactor with the config file's ``[redact]`` settings: ``patterns`` and ``phone_region``."""
    table = settings.section("redact", config)
    patterns: dict[str, re.Pattern[str]] = {}
    for label, source in (table.get("patterns") or {}).items():
        name = re.sub(r"[^A-Z0-9_]", "_", str(label).upper())
        try:
            patterns[name] = re.compile(str(source))
        except re.error as exc:
            raise RedactConfigError(f"config file {settings.config_path()}: redact.patterns.{label}: {exc}") from None
    region = table.get("phone_region", "US")
    return Redactor(patterns=patterns, phone_region=(str(region).upper() or None) if region else None)
