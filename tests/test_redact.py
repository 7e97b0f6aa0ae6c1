"""Redaction: personal data and secrets become consistent placeholders; ordinary text, numbers and code do not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from envloop.redact import Redactor, redactor_from_config

FOUND = [
    ("Write to jane.doe@example.com today", "EMAIL"),
    ("cc: Ops-Team+alerts@mail.example.co.uk", "EMAIL"),
    ("Call +44 20 7946 0958 after 5", "PHONE"),
    ("US office: (415) 555-0132", "PHONE"),
    ("Zürich desk +41 44 668 18 00", "PHONE"),
    ("Visa 4111 1111 1111 1111 exp 12/27", "CARD"),
    ("Mastercard 5555-5555-5555-4444", "CARD"),
    ("amex 378282246310005", "CARD"),
    ("Pay to GB82 WEST 1234 5698 7654 32", "IBAN"),
    ("IBAN DE89370400440532013000", "IBAN"),
    ("client 203.0.113.7 connected", "IP"),
    ("via 2001:db8:85a3::8a2e:370:7334", "IP"),
    ("OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv", "API_KEY"),
    ("token ghp_0123456789abcdefghijABCDEFGHIJ012345", "API_KEY"),
    ("aws AKIAIOSFODNN7EXAMPLE", "API_KEY"),
    ("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "API_KEY"),
    ("secret = 'Zx8Qp2Lm9Rt4Vb7Nc1Kd6Hs3Jf5Gw0Ya'", "API_KEY"),
]

KEPT = [
    "Python 3.11.4 was released on 2023-06-06 at 12:30:45.",
    "version 1.2.3, build 20240315, port 8080, pid 4155550132",
    "order 4111111111111112 is not a card (Luhn fails); id 1234567812345678 neither",
    "total = sum(prices[::2]) * 1.2 + 1e-9; x = 0xFF; y = 12_345_678",
    "localhost 127.0.0.1 and 0.0.0.0 and ::1",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "def compute_the_monthly_totals_for_each_customer_group(rows): return rows",
    "invoice INV-2024-000123 for 1,234.56 EUR; phone field left blank",
    "ISBN 978-3-16-148410-0 and the year 1999",
]


@pytest.mark.parametrize(("text", "kind"), FOUND)
def test_each_kind_is_found(text: str, kind: str) -> None:
    redactor = Redactor()
    out = redactor.redact(text)
    assert f"<{kind}_1>" in out, out
    assert set(redactor.counts) == {kind}


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_numbers_and_code_are_left_alone(text: str) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == text
    assert redactor.summary() == {}


def test_the_same_value_gets_the_same_placeholder_whatever_its_spelling() -> None:
    redactor = Redactor()
    first = redactor.redact("Jane <Jane.Doe@Example.com>, card 4111 1111 1111 1111, Bob bob@example.org")
    second = redactor.redact("again: jane.doe@example.com paid with 4111111111111111")
    assert first == "Jane <<EMAIL_1>>, card <CARD_1>, Bob <EMAIL_2>"
    assert second == "again: <EMAIL_1> paid with <CARD_1>"
    assert redactor.summary() == {"EMAIL": {"occurrences": 3, "distinct": 2},
                                  "CARD": {"occurrences": 2, "distinct": 1}}
    assert "3 e-mail addresses (2 distinct)" in redactor.summary_line()


def test_configured_patterns_and_phone_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "envloop").mkdir()
    (tmp_path / "envloop" / "config.toml").write_text(
        '[redact]\nphone_region = "GB"\n[redact.patterns]\nemployee_id = "EMP-[0-9]{5}"\n')
    redactor = redactor_from_config()
    out = redactor.redact("EMP-00042 rang 020 7946 0958, then EMP-00042 again")
    assert out == "<EMPLOYEE_ID_1> rang <PHONE_1>, then <EMPLOYEE_ID_1> again"
    (tmp_path / "envloop" / "config.toml").write_text('[redact.patterns]\nbad = "EMP-(["\n')
    with pytest.raises(Exception, match="redact.patterns.bad"):
        redactor_from_config()


SECRET_CODE = (
    'customers = [{"name": "Jane", "email": "jane.doe@example.com", "card": "4111 1111 1111 1111"},\n'
    '             {"name": "Bob", "email": "bob@example.org", "iban": "GB82 WEST 1234 5698 7654 32"}]\n'
    'server = "203.0.113.7"\n'
    'print([c["email"] for c in customers], server, "version 3.11.4")\n'
)


def test_export_redact_in_every_format(run_cli, tmp_path: Path) -> None:
    assert run_cli("run", "--new", SECRET_CODE).returncode == 0
    plain = run_cli("export", "--format", "md")
    assert "jane.doe@example.com" in plain.stdout and "redacted" not in plain.stderr
    for fmt in ("md", "py", "ipynb"):
        out = tmp_path / f"export.{fmt}"
        done = run_cli("export", "--redact", "-o", str(out))
        assert done.returncode == 0, done.stderr
        text = out.read_text()
        for secret in ("jane.doe@example.com", "bob@example.org", "4111 1111 1111 1111", "GB82 WEST", "203.0.113.7"):
            assert secret not in text, (fmt, secret)
        assert "version 3.11.4" in text
        # in code and in the printed output alike, the same address has the same placeholder
        assert len(re.findall("<EMAIL_1>", text)) >= 2 and "<EMAIL_2>" in text
        assert "2 distinct" in done.stderr and "e-mail addresses" in done.stderr
        if fmt == "ipynb":
            assert json.loads(text)["nbformat"] == 4


def test_config_default_turns_redaction_on(run_cli, tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "envloop").mkdir(parents=True)
    (config / "envloop" / "config.toml").write_text("[export]\nredact = true\n")
    env = {"XDG_CONFIG_HOME": str(config)}
    assert run_cli("run", "--new", SECRET_CODE, env=env).returncode == 0
    on = run_cli("export", env=env)
    assert "jane.doe@example.com" not in on.stdout and "<EMAIL_1>" in on.stdout
    off = run_cli("export", "--no-redact", env=env)
    assert "jane.doe@example.com" in off.stdout


def test_long_encoded_data_is_not_taken_for_a_key() -> None:
    import base64
    import random

    blob = base64.b64encode(random.Random(7).randbytes(3000)).decode()
    redactor = Redactor()
    assert redactor.redact(f"data: {blob}") == f"data: {blob}"
