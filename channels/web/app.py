"""The web channel's ASGI app: pages, form posts and the event stream, over the conversation layer.

Pages are rendered on the server (Jinja2, autoescaped, every value passed
through :func:`~envloop.channels.web.text.scrub`); htmx posts the forms
without leaving the page; a small script (``static/app.js``) listens to the
conversation's server-sent events. Every route sits behind
:class:`~envloop.channels.web.security.Guard` (token, cookie, CSRF).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from envloop.channels.web import changes
from envloop.channels.web.lineage import build_lineage
from envloop.channels.web.live import Run, Runner
from envloop.channels.web.security import Guard
from envloop.channels.web.text import diff_rows, fold, human_size, scrub
from envloop.conversation import Envloop, Event
from envloop.errors import EnvloopError, NotFoundError

__all__ = ["create_app"]

HERE = Path(__file__).parent
KEEPALIVE_SECONDS = 15.0
LIVE_POLL_SECONDS = 0.1


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             finalize=scrub, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["size"] = human_size
    env.filters["fold"] = fold
    env.filters["scrub"] = scrub
    return env


class Web:
    """What the routes share: the Envloop, the runs of this server, the templates, the CSRF token."""

    def __init__(self, envloop: Envloop, runner: Runner, csrf: str, stopping: threading.Event) -> None:
        self.envloop = envloop
        self.runner = runner
        self.csrf = csrf
        self.templates = _templates()
        #: Set when the server begins to stop: event streams end so the shutdown need not cut them.
        self.stopping = stopping

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(csrf=self.csrf, url=request.url_for, **context)
        return HTMLResponse(html, status_code=status)

    def fragment(self, template: str, request: Request | None = None, **context: Any) -> str:
        url = request.url_for if request is not None else None
        return self.templates.get_template(template).render(csrf=self.csrf, url=url, **context)


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def _cid(request: Request) -> int:
    return int(request.path_params["cid"])


def _done(request: Request, location: str) -> Response:
    """After a POST: nothing for htmx (the page follows by events), a redirect for a plain form."""
    if request.headers.get("hx-request"):
        return Response(status_code=204)
    return RedirectResponse(location, status_code=303)


# -- pages ----------------------------------------------------------------------------


def conversations(request: Request) -> Response:
    web = _web(request)
    return web.render(request, "conversations.html", conversations=web.envloop.list_conversations())


async def new_conversation(request: Request) -> Response:
    """A new conversation (channel ``web``); with a first message, titled by it and started on it."""
    web = _web(request)
    text = (await _form(request)).get("text", "").strip()
    title = text.split("\n", 1)[0][:60] or None
    info = await run_in_threadpool(web.envloop.create_conversation, title=title, channel="web")
    if text:
        await run_in_threadpool(web.runner.start, info.id, text)
    return RedirectResponse(str(request.url_for("conversation", cid=info.id)), status_code=303)


def conversation(request: Request) -> Response:
    web = _web(request)
    cid = web.envloop.resolve(_cid(request))
    run = web.runner.current(cid)
    running = run is not None and not run.finished.is_set()
    info = next((c for c in web.envloop.list_conversations() if c.id == cid), None)
    return web.render(request, "conversation.html", info=info, cid=cid, transcript=web.envloop.transcript(cid),
                      running=running, model=web.runner.model)


def var_index(request: Request) -> Response:
    web = _web(request)
    cid = web.envloop.resolve(_cid(request))
    return web.render(request, "vars.html", cid=cid, entries=web.envloop.vars(cid), stale=_stale(web.envloop, cid))


def _stale(envloop: Envloop, cid: int) -> dict[str, str]:
    """Name -> why it is stale (computed from a version of something that has changed since)."""
    return {name: str(getattr(mark, "reason", mark)) for name, mark in envloop.stale(cid).items()}


def name_page(request: Request) -> Response:
    web = _web(request)
    cid, name = web.envloop.resolve(_cid(request)), request.path_params["name"]
    versions = web.envloop.history(name, cid)
    newest = versions[-1].version
    diff, pair = None, None
    a, b = request.query_params.get("a"), request.query_params.get("b")
    if a and b and a.isdigit() and b.isdigit():
        by_number = {v.version: v for v in versions}
        if int(a) not in by_number or int(b) not in by_number:
            raise NotFoundError(f"{name!r} has versions 1 to {newest}")
        pair = (int(a), int(b))
        diff = diff_rows(_content(by_number[pair[0]]), _content(by_number[pair[1]]))
    if request.headers.get("hx-request") and pair is not None:
        return HTMLResponse(web.fragment("_diff.html", name=name, diff=diff, pair=pair))
    return web.render(request, "name.html", cid=cid, name=name, versions=list(reversed(versions)), newest=newest,
                      diff=diff, pair=pair, content=_content, stale=_stale(web.envloop, cid).get(name))


def _content(version: Any) -> str:
    """What a diff compares: a definition's source, else the value's preview."""
    if version.kind == "deleted":
        return ""
    return str(version.source if version.source is not None else (version.preview or ""))


def why_page(request: Request) -> Response:
    web = _web(request)
    cid, name = web.envloop.resolve(_cid(request)), request.path_params["name"]
    raw = request.query_params.get("v", "")
    version = int(raw) if raw.isdigit() else None
    chain = web.envloop.why(name, cid, version)
    current = {entry.name: entry.version for entry in web.envloop.vars(cid)}
    for info in web.envloop.history(name, cid)[-1:]:
        current.setdefault(info.name, info.version)

    def href(node_name: str, node_version: int) -> str:
        return f"{request.url_for('name_page', cid=cid, name=node_name)}#v{node_version}"

    lineage = build_lineage(chain, current, href, _stale(web.envloop, cid))
    lineage.title = f"where {name} v{chain[0].version} came from"
    if request.query_params.get("format") == "svg":
        svg = web.fragment("_lineage.svg", lineage=lineage, standalone=True)
        return Response(svg, media_type="image/svg+xml")
    return web.render(request, "why.html", cid=cid, name=name, chain=chain, lineage=lineage, standalone=False)


# -- actions --------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def send(request: Request) -> Response:
    web = _web(request)
    cid = await run_in_threadpool(web.envloop.resolve, _cid(request))
    text = (await _form(request)).get("text", "")
    await run_in_threadpool(web.runner.start, cid, text)
    return _done(request, str(request.url_for("conversation", cid=cid)))


async def cancel(request: Request) -> Response:
    web = _web(request)
    cid = _cid(request)
    await run_in_threadpool(web.runner.cancel, cid)
    return _done(request, str(request.url_for("conversation", cid=cid)))


async def approve(request: Request) -> Response:
    web = _web(request)
    cid, form = _cid(request), await _form(request)
    if not web.runner.answer(cid, form.get("key", ""), form.get("choice") == "allow"):
        raise EnvloopError("this question is no longer open")
    return _done(request, str(request.url_for("conversation", cid=cid)))


async def rollback(request: Request) -> Response:
    web = _web(request)
    cid, name = _cid(request), request.path_params["name"]
    raw = (await _form(request)).get("version", "")
    if not raw.isdigit():
        raise EnvloopError("rollback needs a version number")
    await run_in_threadpool(web.envloop.rollback, name, int(raw), cid)
    return RedirectResponse(str(request.url_for("name_page", cid=cid, name=name)), status_code=303)


async def undo(request: Request) -> Response:
    return await _timeline(request, "undo")


async def redo(request: Request) -> Response:
    return await _timeline(request, "redo")


async def _timeline(request: Request, operation: str) -> Response:
    """Undo or redo a turn (new versions, never deletions); the page sees it as a new entry in the transcript."""
    web = _web(request)
    cid = await run_in_threadpool(web.envloop.resolve, _cid(request))
    run = web.runner.current(cid)
    if run is not None and not run.finished.is_set():
        raise EnvloopError(f"a turn is running: wait for it or cancel it before {operation}")
    await run_in_threadpool(getattr(web.envloop, operation), cid)
    return _done(request, str(request.url_for("conversation", cid=cid)))


# -- the event stream -----------------------------------------------------------------


def _sse(event: str, html: str) -> str:
    data = "".join(f"data: {line}\n" for line in html.split("\n"))
    return f"event: {event}\n{data}\n"


async def events(request: Request) -> Response:
    web = _web(request)
    cid = await run_in_threadpool(web.envloop.resolve, _cid(request))
    return StreamingResponse(_stream(request, web, cid), media_type="text/event-stream",
                             headers={"x-accel-buffering": "no"})


async def _stream(request: Request, web: Web, cid: int) -> AsyncIterator[str]:
    """Live events of this server's runs, and a fresh transcript whenever the database changes."""
    watch = await changes.PageWatch.open(web.envloop, cid)
    try:
        async for message in _messages(request, web, cid, watch):
            yield message
    finally:
        watch.close()


async def _messages(request: Request, web: Web, cid: int, watch: changes.PageWatch) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    run: Run | None = web.runner.current(cid)
    if run is not None and run.finished.is_set():
        run = None  # its turn is in the transcript the page was rendered with
    shown, refresh, quiet_since = 0, False, loop.time()
    yield _sse("status", web.fragment("_status.html", request, cid=cid, running=run is not None))
    while not (web.stopping.is_set() or await request.is_disconnected()):
        newest = web.runner.current(cid)
        if newest is not None and newest is not run and not newest.finished.is_set():
            run, shown = newest, 0
            yield _sse("status", web.fragment("_status.html", request, cid=cid, running=True))
        if run is not None:
            finished = run.finished.is_set()  # read before the events, so none is missed
            events = run.since(shown)
            shown += len(events)
            for message in _live_messages(web, request, cid, events):
                yield message
            if not finished:
                await asyncio.sleep(LIVE_POLL_SECONDS)
                continue
            run, refresh = None, True  # show the finished turn as the database has it
        if refresh or await watch.wait(1.0):
            refresh = False
            transcript = await run_in_threadpool(web.envloop.transcript, cid)
            yield _sse("transcript", web.fragment("_transcript.html", request, cid=cid, transcript=transcript))
            yield _sse("status", web.fragment("_status.html", request, cid=cid, running=False))
            quiet_since = loop.time()
        elif loop.time() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = loop.time()
            yield ": keep-alive\n\n"


def _live_messages(web: Web, request: Request, cid: int, events: list[Event]) -> list[str]:
    """SSE messages for a run's new events: HTML fragments, and the reply's streamed text as plain text
    (consecutive pieces merged; the page sets it as text, never as HTML)."""
    messages: list[str] = []
    pending: list[str] = []
    for event in events:
        if event.kind == "model_delta":
            pending.append(str(event.data.get("text") or ""))
            continue
        if pending:
            messages.append(_sse("delta", str(scrub("".join(pending)))))
            pending = []
        html = web.fragment("_event.html", request, cid=cid, event=event)
        if html.strip():
            messages.append(_sse("live", html))
    if pending:
        messages.append(_sse("delta", str(scrub("".join(pending)))))
    return messages


# -- the app --------------------------------------------------------------------------


def _error_page(request: Request, exc: Exception) -> Response:
    status = 404 if isinstance(exc, NotFoundError) else 400
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if request.headers.get("hx-request") or request.method != "GET":
        return PlainTextResponse(str(scrub(message)), status_code=status)
    return _web(request).render(request, "error.html", status=status, code=status, message=message)


def create_app(envloop: Envloop, *, token: str, model: str | None = None, max_iterations: int = 8,
               approval_timeout: float = 120.0, cookie_name: str = "envloop_web",
               stopping: threading.Event | None = None) -> Guard:
    """The whole web channel as one ASGI app, guarded by ``token``; setting ``stopping`` ends its event streams."""
    runner = Runner(envloop, model=model, max_iterations=max_iterations, approval_timeout=approval_timeout)
    routes = [
        Route("/", conversations, name="conversations"),
        Route("/new", new_conversation, methods=["POST"], name="new_conversation"),
        Route("/c/{cid:int}", conversation, name="conversation"),
        Route("/c/{cid:int}/events", events, name="events"),
        Route("/c/{cid:int}/send", send, methods=["POST"], name="send"),
        Route("/c/{cid:int}/cancel", cancel, methods=["POST"], name="cancel"),
        Route("/c/{cid:int}/approve", approve, methods=["POST"], name="approve"),
        Route("/c/{cid:int}/undo", undo, methods=["POST"], name="undo"),
        Route("/c/{cid:int}/redo", redo, methods=["POST"], name="redo"),
        Route("/c/{cid:int}/vars", var_index, name="vars"),
        Route("/c/{cid:int}/name/{name}", name_page, name="name_page"),
        Route("/c/{cid:int}/name/{name}/rollback", rollback, methods=["POST"], name="rollback"),
        Route("/c/{cid:int}/why/{name}", why_page, name="why"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        runner.shutdown()  # a turn still running is cancelled, not cut off mid-write

    app = Starlette(routes=routes, exception_handlers={EnvloopError: _error_page}, lifespan=lifespan)
    guard = Guard(app, token, cookie_name=cookie_name)
    app.state.web = Web(envloop, runner, guard.csrf, stopping or threading.Event())
    return guard
