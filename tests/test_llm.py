"""The LLM adapter: choosing a model, the replay model, and litellm's errors as one-line messages.

No test reaches a network: litellm.completion is replaced by a function that
raises litellm's own exception classes, or answers through litellm's offline
``mock_response``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import envloop.llm
from envloop.errors import ModelError, ModelNotConfigured
from envloop.llm import (
    Completion,
    LiteLLMModel,
    ModelCancelled,
    ModelClient,
    ReplayModel,
    estimate_tokens,
    get_model,
    resolve_model_name,
)
from envloop.llm import replay as replay_module
from envloop.llm.litellm_client import load_litellm
from envloop.llm.provider_errors import scrub

SECRET = "sk-test-0123456789abcdefSECRET"
MESSAGES = [{"role": "system", "content": "You write Python."}, {"role": "user", "content": "What is 6 * 7?"}]


@pytest.fixture(autouse=True)
def _no_model_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no ENVLOOP_MODEL, no latency and an empty config folder."""
    for name in ("ENVLOOP_MODEL", "ENVLOOP_REPLAY_LATENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def write_replay(tmp_path: Path, items: object, name: str = "replies.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


# -- the public surface ---------------------------------------------------------------------


def test_public_names_are_exactly_the_curated_list() -> None:
    assert envloop.llm.__all__ == sorted(envloop.llm.__all__)
    assert {"Completion", "ModelClient", "ParsedReply", "get_model", "parse_reply", "resolve_model_name",
            "ReplayModel", "LiteLLMModel", "ModelCancelled"} <= set(envloop.llm.__all__)
    for name in envloop.llm.__all__:
        assert getattr(envloop.llm, name) is not None


def test_importing_the_package_and_making_clients_does_not_import_litellm(tmp_path: Path) -> None:
    path = write_replay(tmp_path, ["hi"])
    code = (
        "import sys, envloop.llm as l\n"
        "l.get_model('gpt-4o-mini'); m = l.get_model('replay:' + sys.argv[1])\n"
        "m.complete([{'role': 'user', 'content': 'x'}]); l.parse_reply('```python\\nx=1\\n```')\n"
        "print('litellm' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_litellm_is_imported_offline_safe_and_quiet() -> None:
    """The cost-map switch is set before litellm's import starts, and its debug output is off."""
    code = r"""
import importlib.abc, os, sys, logging
seen = {}
class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "litellm":
            seen["cost_map"] = os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP")
        return None
sys.meta_path.insert(0, Spy())
from envloop.llm.litellm_client import load_litellm
litellm = load_litellm()
print(seen["cost_map"], litellm.suppress_debug_info, litellm.set_verbose,
      logging.getLogger("LiteLLM").getEffectiveLevel() >= logging.ERROR)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "False", "True"]
    assert "cost map" not in done.stderr.lower()


# -- choosing a model -------------------------------------------------------------------------


def test_model_name_comes_from_flag_then_env_then_config_file(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_model_name() is None
    config = tmp_path / "config" / "envloop" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('model = "ollama/llama3.1"\n', encoding="utf-8")
    assert resolve_model_name() == "ollama/llama3.1"
    monkeypatch.setenv("ENVLOOP_MODEL", "gpt-4o-mini")
    assert resolve_model_name() == "gpt-4o-mini"
    assert resolve_model_name("anthropic/claude-3-5-sonnet-latest") == "anthropic/claude-3-5-sonnet-latest"
    monkeypatch.setenv("ENVLOOP_MODEL", "   ")
    assert resolve_model_name("  ") == "ollama/llama3.1"  # blank means unset


@pytest.mark.parametrize("content, expected", [
    ("model = [", "is not valid TOML"),
    ("model = 3\n", "model must be a string"),
])
def test_a_broken_config_file_is_named_in_one_line(tmp_path: Path, content: str, expected: str) -> None:
    config = tmp_path / "config" / "envloop" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(content, encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        resolve_model_name()
    message = str(caught.value)
    assert expected in message and str(config) in message and "\n" not in message


def test_no_model_anywhere_says_exactly_how_to_configure_one() -> None:
    with pytest.raises(ModelNotConfigured) as caught:
        get_model()
    message = str(caught.value)
    assert "\n" not in message
    for hint in ("ENVLOOP_MODEL=gpt-4o-mini", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ENVLOOP_MODEL=ollama/",
                 "--model", "config.toml"):
        assert hint in message


def test_get_model_picks_the_client_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_replay(tmp_path, ["hi"])
    replay = get_model(f"replay:{path}")
    assert isinstance(replay, ReplayModel) and replay.name == f"replay:{path}"
    hosted = get_model("gpt-4o-mini")
    assert isinstance(hosted, LiteLLMModel) and hosted.name == "gpt-4o-mini"
    monkeypatch.setenv("ENVLOOP_MODEL", f"replay:{path}")
    assert isinstance(get_model(), ReplayModel)
    assert isinstance(replay, ModelClient) and isinstance(hosted, ModelClient)


# -- the replay model --------------------------------------------------------------------------


def test_replay_answers_in_order_then_says_it_ran_out(tmp_path: Path) -> None:
    path = write_replay(tmp_path, [
        "first ```python\nx = 1\n```",
        {"reply": "second", "tokens_in": 900, "tokens_out": 12, "cost": 0.25, "comment": "a note"},
    ])
    model = ReplayModel(f"replay:{path}")
    first = model.complete(MESSAGES)
    second = model.complete(MESSAGES)
    assert (first.text, second.text) == ("first ```python\nx = 1\n```", "second")
    assert first.tokens_in == estimate_tokens("You write Python.What is 6 * 7?") > 0
    assert first.tokens_out == estimate_tokens(first.text) > 0
    assert first.cost == 0.0 and first.model == f"replay:{path}"
    assert (second.tokens_in, second.tokens_out, second.cost) == (900, 12, 0.25)
    with pytest.raises(ModelError) as caught:
        model.complete(MESSAGES)
    assert str(caught.value) == f"replay model {path} has no more replies (2 used)"


def test_a_new_client_starts_the_file_again(tmp_path: Path) -> None:
    path = write_replay(tmp_path, ["one", "two"])
    get_model(f"replay:{path}").complete(MESSAGES)
    assert get_model(f"replay:{path}").complete(MESSAGES).text == "one"


@pytest.mark.parametrize("content, expected", [
    (None, "does not exist"),
    ("[1, 2", "is not valid JSON"),
    ('{"reply": "x"}', "must hold a JSON list"),
    ("[3]", "item 0 must be a string or an object"),
    ('["ok", {"text": "x"}]', "item 1 has unknown key 'text'"),
    ('[{"delay": 1}]', 'item 0 needs "reply"'),
    ('[{"reply": "x", "delay": -1}]', "must be a number of seconds"),
    ('[{"reply": "x", "tokens_in": "many"}]', "must be a whole number"),
    (b"\xff\xfe\x00", "cannot be read"),
])
def test_a_bad_replay_file_is_one_line_naming_it(tmp_path: Path, content: str | bytes | None,
                                                 expected: str) -> None:
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        get_model(f"replay:{path}")
    message = str(caught.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_replay_without_a_path_is_an_error() -> None:
    with pytest.raises(ModelError, match="names no file"):
        get_model("replay:")


def _record_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []

    def fake_wait(seconds: float, cancel: threading.Event | None) -> bool:
        waits.append(seconds)
        return False

    monkeypatch.setattr(replay_module, "wait_or_cancel", fake_wait)
    return waits


def test_replay_latency_from_spec_env_and_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    waits = _record_waits(monkeypatch)
    path = write_replay(tmp_path, ["a", {"reply": "b", "delay": 0.5}, "c"])
    monkeypatch.setenv("ENVLOOP_REPLAY_LATENCY", "0.2")
    from_env = ReplayModel(f"replay:{path}")
    from_spec = ReplayModel(f"replay:{path}?latency=0.05")
    for model in (from_env, from_spec):
        for _ in range(3):
            model.complete(MESSAGES)
    assert waits == [0.2, 0.5, 0.2, 0.05, 0.5, 0.05]
    assert from_spec.name == f"replay:{path}?latency=0.05"


@pytest.mark.parametrize("spec_suffix, env, expected", [
    ("?latency=soon", None, "latency in"),
    ("?speed=2", None, "unknown option 'speed'"),
    ("", "-1", "ENVLOOP_REPLAY_LATENCY must be a number of seconds"),
])
def test_bad_replay_latency_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         spec_suffix: str, env: str | None, expected: str) -> None:
    path = write_replay(tmp_path, ["a"])
    if env is not None:
        monkeypatch.setenv("ENVLOOP_REPLAY_LATENCY", env)
    with pytest.raises(ModelError, match=expected):
        ReplayModel(f"replay:{path}{spec_suffix}")


def test_a_question_mark_that_is_not_an_option_stays_in_the_path(tmp_path: Path) -> None:
    path = write_replay(tmp_path, ["odd"], name="what?.json")
    assert ReplayModel(f"replay:{path}").complete(MESSAGES).text == "odd"


def test_cancel_ends_a_replay_delay(tmp_path: Path) -> None:
    path = write_replay(tmp_path, [{"reply": "slow", "delay": 300}])
    model = ReplayModel(f"replay:{path}")
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)
    timer.start()
    with pytest.raises(ModelCancelled):
        model.complete(MESSAGES, cancel=cancel)
    timer.join()
    with pytest.raises(ModelCancelled):  # already cancelled: nothing is consumed
        ReplayModel(f"replay:{path}").complete(MESSAGES, cancel=cancel)


def test_one_replay_model_serves_threads_each_reply_once(tmp_path: Path) -> None:
    path = write_replay(tmp_path, [f"reply {n}" for n in range(40)])
    model = ReplayModel(f"replay:{path}")
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            text = model.complete(MESSAGES).text
            with lock:
                got.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == sorted(f"reply {n}" for n in range(40))
    assert model.remaining == 0


# -- litellm behind the interface ------------------------------------------------------------


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real litellm module (imported the quiet way), with the test's own key settings."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return load_litellm()


class Recorder:
    """Stands in for litellm.completion: raises the queued errors, then answers offline."""

    def __init__(self, litellm: Any, errors: list[BaseException], reply: str = "42") -> None:
        self.litellm, self.errors, self.reply = litellm, list(errors), reply
        self.real = litellm.completion
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return self.real(**kwargs, mock_response=self.reply)


def make_model(name: str = "gpt-4o-mini", **kwargs: Any) -> tuple[LiteLLMModel, list[float]]:
    waits: list[float] = []

    def wait(seconds: float, cancel: threading.Event | None) -> bool:
        waits.append(seconds)
        return False

    return LiteLLMModel(name, wait=wait, **kwargs), waits


def test_a_litellm_reply_becomes_a_completion_with_usage_and_cost(litellm: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(litellm, [], reply="Sure.\n```python\nanswer(6 * 7)\n```")
    monkeypatch.setattr(litellm, "completion", recorder)
    model, _ = make_model(timeout=30)
    done = model.complete(MESSAGES)
    assert isinstance(done, Completion)
    assert done.text == "Sure.\n```python\nanswer(6 * 7)\n```"
    assert done.tokens_in > 0 and done.tokens_out > 0
    assert done.cost is not None and done.cost > 0  # gpt-4o-mini is in litellm's local price table
    assert done.model.startswith("gpt-4o-mini")
    assert recorder.calls[0]["timeout"] == 30 and recorder.calls[0]["num_retries"] == 0
    assert recorder.calls[0]["messages"] == MESSAGES


def test_a_model_litellm_cannot_price_has_no_cost(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(litellm, "completion", Recorder(litellm, []))
    model, _ = make_model("openai/my-private-model")
    assert model.complete(MESSAGES).cost is None


def _exc(litellm: Any, kind: str, message: str = "provider said no", provider: str = "openai",
         model: str = "gpt-4o-mini", **extra: Any) -> BaseException:
    cls = getattr(litellm.exceptions, kind)
    return cls(message=message, llm_provider=provider, model=model, **extra)


# (exception builder, model name, phrases the message must contain, tries made)
ERROR_CASES: dict[str, tuple[Callable[[Any], BaseException], str, list[str], int]] = {
    "auth, key unset": (lambda m: _exc(m, "AuthenticationError", "Incorrect API key"), "gpt-4o-mini",
                        ["authentication failed for model gpt-4o-mini", "OPENAI_API_KEY is not set"], 1),
    "auth, anthropic": (lambda m: _exc(m, "AuthenticationError", "bad key", "anthropic"),
                        "anthropic/claude-3-5-sonnet-latest", ["ANTHROPIC_API_KEY is not set"], 1),
    "missing credentials as a 500": (
        lambda m: _exc(m, "InternalServerError", "OpenAIException - Missing credentials. Set OPENAI_API_KEY"),
        "gpt-4o-mini", ["authentication failed", "OPENAI_API_KEY is not set"], 1),
    "rate limit": (lambda m: _exc(m, "RateLimitError", "slow down"), "gpt-4o-mini",
                   ["rate-limited", "slow down", "gave up after 4 tries"], 4),
    "timeout": (lambda m: _exc(m, "Timeout", "Request timed out"), "gpt-4o-mini",
                ["did not answer in time", "120 s per try", "gave up after 4 tries"], 4),
    "overloaded": (lambda m: _exc(m, "ServiceUnavailableError", "overloaded"), "gpt-4o-mini",
                   ["overloaded or unavailable", "gave up after 4 tries"], 4),
    "context window": (lambda m: _exc(m, "ContextWindowExceededError", "maximum context length is 128000"),
                       "gpt-4o-mini", ["too long for model gpt-4o-mini's context window"], 1),
    "model not found": (lambda m: _exc(m, "NotFoundError", "The model `gpt-8` does not exist", model="gpt-8"),
                        "gpt-8", ["model gpt-8 was not found", "does not exist"], 1),
    "connection": (lambda m: _exc(m, "APIConnectionError", "OllamaException - [Errno 111] Connection refused",
                                  "ollama", "ollama/llama3.1"),
                   "ollama/llama3.1", ["could not reach", "ollama serve", "Connection refused"], 1),
    "bad request": (lambda m: _exc(m, "BadRequestError", "temperature must be <= 2"), "gpt-4o-mini",
                    ["rejected the request", "temperature must be <= 2"], 1),
    "unknown provider": (lambda m: _exc(m, "BadRequestError", "LLM Provider NOT provided. You passed model=foo",
                                        "", "foo"),
                         "foo", ["unknown model foo", "ollama/llama3.1"], 1),
    "content policy": (lambda m: _exc(m, "ContentPolicyViolationError", "flagged"), "gpt-4o-mini",
                       ["content policy"], 1),
    "anything else": (lambda m: ValueError("weird\nmultiline"), "gpt-4o-mini",
                      ["calling model gpt-4o-mini failed: ValueError: weird multiline"], 1),
}


@pytest.mark.parametrize("build, name, phrases, tries", ERROR_CASES.values(), ids=list(ERROR_CASES))
def test_provider_errors_become_one_clear_line(litellm: Any, monkeypatch: pytest.MonkeyPatch,
                                               build: Callable[[Any], BaseException], name: str,
                                               phrases: list[str], tries: int) -> None:
    recorder = Recorder(litellm, [build(litellm) for _ in range(10)])
    monkeypatch.setattr(litellm, "completion", recorder)
    model, waits = make_model(name)
    with pytest.raises(ModelError) as caught:
        model.complete(MESSAGES)
    message = str(caught.value)
    assert "\n" not in message and not message.startswith("litellm.")
    for phrase in phrases:
        assert phrase in message
    assert len(recorder.calls) == tries
    assert waits == [1.0, 2.0, 4.0][: tries - 1]


def test_a_retried_call_that_then_succeeds_answers(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(litellm, [_exc(litellm, "RateLimitError"), _exc(litellm, "Timeout")], reply="ok")
    monkeypatch.setattr(litellm, "completion", recorder)
    model, waits = make_model()
    assert model.complete(MESSAGES).text == "ok"
    assert len(recorder.calls) == 3 and waits == [1.0, 2.0]


def test_retry_after_is_honoured_within_the_cap(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    response = httpx.Response(429, headers={"retry-after": "7"})
    errors = [_exc(litellm, "RateLimitError", response=response) for _ in range(3)]
    monkeypatch.setattr(litellm, "completion", Recorder(litellm, errors))
    model, waits = make_model(backoff_cap=5.0)
    model.complete(MESSAGES)
    assert waits == [5.0, 5.0, 5.0]


def test_cancel_during_backoff_stops_retrying(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(litellm, [_exc(litellm, "RateLimitError") for _ in range(5)])
    monkeypatch.setattr(litellm, "completion", recorder)
    cancel = threading.Event()

    def wait(seconds: float, event: threading.Event | None) -> bool:
        cancel.set()  # the person presses Ctrl-C while we back off
        return True

    with pytest.raises(ModelCancelled):
        LiteLLMModel("gpt-4o-mini", wait=wait).complete(MESSAGES, cancel=cancel)
    assert len(recorder.calls) == 1


def test_cancel_returns_control_while_the_provider_hangs(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(litellm, "completion", lambda **kwargs: release.wait(300))
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)
    timer.start()
    try:
        with pytest.raises(ModelCancelled):
            LiteLLMModel("gpt-4o-mini").complete(MESSAGES, cancel=cancel)
    finally:
        release.set()
        timer.join()


def test_api_keys_never_reach_messages_logs_or_output(litellm: Any, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    leaks = [
        _exc(litellm, "AuthenticationError", f"Incorrect API key provided: {SECRET}"),
        _exc(litellm, "BadRequestError", f"bad header Authorization: Bearer {SECRET}"),
        _exc(litellm, "RateLimitError", f"key {SECRET} over quota"),
    ]
    caplog.set_level(logging.DEBUG)
    messages = []
    for error in leaks:
        monkeypatch.setattr(litellm, "completion", Recorder(litellm, [error] * 4))
        with pytest.raises(ModelError) as caught:
            make_model()[0].complete(MESSAGES)
        messages.append(str(caught.value))
    assert "check OPENAI_API_KEY (the provider rejected it)" in messages[0]
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no provider text chained
    out, err = capfd.readouterr()
    for text in (*messages, caplog.text, out, err):
        assert SECRET not in text and SECRET[:12] not in text


def test_a_key_without_access_to_the_model_is_told_apart(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    response = httpx.Response(403, request=httpx.Request("POST", "http://localhost/v1"))
    denied = _exc(litellm, "PermissionDeniedError", "not allowed", response=response)
    monkeypatch.setattr(litellm, "completion", Recorder(litellm, [denied]))
    with pytest.raises(ModelError) as caught:
        make_model()[0].complete(MESSAGES)
    assert str(caught.value) == (
        "access denied to model gpt-4o-mini: the key in OPENAI_API_KEY may not be allowed to use it"
    )


def test_scrub_masks_key_shaped_text_and_env_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-looking-value-123")
    text = "a sk-proj-abcdefghijklmnop b plain-looking-value-123 c api_key=zzzzzzzzzz d\nmore"
    cleaned = scrub(text)
    assert "abcdefghijklmnop" not in cleaned and "plain-looking-value-123" not in cleaned
    assert "zzzzzzzzzz" not in cleaned and "\n" not in cleaned
    assert cleaned.startswith("a ***")


def test_an_empty_model_name_is_refused() -> None:
    with pytest.raises(ModelError):
        LiteLLMModel("  ")
