"""`nerwin serve`: a trained model over HTTP (FastAPI on uvicorn), with a page that shows the
window classifier decide.

JSON API, versioned under /v1: POST /v1/tag, POST /v1/explain, POST /v1/graph, GET /v1/model; GET /healthz; the
OpenAPI schema at /openapi.json. The page at / is one self-contained file (inline CSS and JS):
nothing is fetched from elsewhere, so FastAPI's CDN-backed /docs pages are turned off. Bad input
gets a 4xx JSON error that says what is wrong; a body, batch or text over its limit gets 413.
Tagging runs in a worker thread, one request at a time (the GEMMs already use every core, and
requests in turn keep each one's memory bounded), so a slow request never stalls /healthz.
"""
from __future__ import annotations

import difflib
import json
import os
import socket
import sys
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from nerwin.model.checkpoint import load_history
from nerwin.apply.predict import brief_blas_spin
from nerwin.apply.tagger import Tagger
from nerwin.errors import NerwinError
from nerwin.tools.graph import STYLE, graph_dict, graph_svg, script
from nerwin.tools.report import curves, type_colors
from nerwin.version import __version__


DRAIN = 64 << 20       # bytes of an oversized body read and dropped, so that the client hears the 413
SHUTDOWN = 3           # seconds a stop waits for open requests: a stalled client never holds the server up


@dataclass(frozen=True)
class Limits:
    max_body: int = 1 << 20        # bytes of a request body
    max_texts: int = 256           # texts in one batch
    max_tokens: int = 512          # tokens in one text


def as_json(obj) -> Response:
    """A JSON response made by json.dumps: the documents are plain dicts and lists already, and
    FastAPI's own encoder walks every value again (it was most of a batch request's time)."""
    return Response(json.dumps(obj, ensure_ascii=False, allow_nan=False), media_type="application/json")


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Served:
    """What every handler reads: the model, its lock (one request at a time), the limits, the
    training history and the page."""
    tagger: Tagger
    limits: Limits
    history: dict | None
    page: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def kind(self) -> str:
        return f"{self.tagger.head.kind} {self.tagger.target}"


def served(request: Request) -> Served:
    return request.app.state.nerwin


# ---- errors -------------------------------------------------------------------------------
async def refused(_, e: Refused):
    return JSONResponse({"error": e.message}, status_code=e.status)


async def http_error(_, e: HTTPException):      # 404, 405, ...: nerwin's {"error"}, not {"detail"}
    return JSONResponse({"error": {404: "no such page or endpoint", 405: "method not allowed here"}.get(
        e.status_code, str(e.detail))}, status_code=e.status_code, headers=getattr(e, "headers", None))


async def unexpected(_, e: Exception):          # never a traceback in a response
    return JSONResponse({"error": "internal error"}, status_code=500)


async def body_limit(request: Request, call_next):
    limits = served(request).limits
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > limits.max_body):
        # urllib and requests send the whole body before they read the answer: read it (up to
        # DRAIN bytes) and drop it, so the 413 reaches them instead of a reset connection
        if size.isdigit() and int(size) <= DRAIN:
            async for _ in request.stream():
                pass
        return JSONResponse({"error": f"the body is larger than {limits.max_body:,} bytes"}, status_code=413,
                            headers={"connection": "close"})
    return await call_next(request)


# ---- reading a request --------------------------------------------------------------------
async def body(request: Request) -> dict:
    limits, raw = served(request).limits, b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limits.max_body:
            raise Refused(413, f"the body is larger than {limits.max_body:,} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the body is not JSON") from None
    except RecursionError:
        raise Refused(400, "the body nests too deeply") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


def known_fields(data: dict, path: str, fields: tuple[str, ...]) -> dict:
    """Refuse a field the endpoint does not read: a misspelt "min_confidence" would else be
    ignored, and the answer look like one that honoured it."""
    for k in data:
        if k not in fields:
            near = difflib.get_close_matches(k, fields, n=1)
            hint = f'did you mean "{near[0]}"? ' if near else ""
            raise Refused(422, f'unknown field "{k[:40]}"; {hint}{path} reads ' + ", ".join(f'"{f}"' for f in fields))
    return data


def text_or_tokens(data: dict, limits: Limits) -> list:
    """The sentences of a request: {"text": str}, {"tokens": [str]} or {"texts": [str]}."""
    keys = [k for k in ("text", "tokens", "texts") if k in data]
    if len(keys) != 1:
        raise Refused(422, 'give exactly one of "text", "tokens" or "texts"')
    key = keys[0]
    value = data[key]
    if key == "texts":
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise Refused(422, '"texts" must be a list of strings')
        if len(value) > limits.max_texts:
            raise Refused(413, f'"texts" holds {len(value):,} texts; the limit is {limits.max_texts:,}')
        items = value
    elif key == "text":
        if not isinstance(value, str):
            raise Refused(422, '"text" must be a string')
        items = [value]
    else:
        if not isinstance(value, list) or not all(isinstance(t, str) and t and not t.isspace() for t in value):
            raise Refused(422, '"tokens" must be a list of non-empty strings')
        items = [value]
    return items


def within_limit(tagger: Tagger, items: list, limits: Limits) -> list:
    """Refuse a text of more tokens than the limit, counted as the model tokenizes it: "a,a,a,..."
    is one whitespace chunk but a token per character. Runs in the worker: tokenizing a full body
    takes up to a second."""
    for i, x in enumerate(items):
        # a token holds at least one character, so a text no longer than the limit needs no count
        n = len(x) if isinstance(x, list) or len(x) <= limits.max_tokens else len(tagger.tokens(x))
        if n > limits.max_tokens:
            raise Refused(413, f"text {i} has {n:,} tokens; the limit is {limits.max_tokens:,}")
    return items


def one_sentence(data: dict, limits: Limits, what: str) -> list:
    if "texts" in data:
        raise Refused(422, f'{what} takes one "text" or "tokens", not "texts"')
    return text_or_tokens(data, limits)


def confidence(data: dict):
    p = data.get("min_confidence")
    if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1):
        raise Refused(422, '"min_confidence" must be a number between 0 and 1')
    return p


def integer(data: dict, key: str, required: bool = False):
    v = data.get(key)
    if (v is not None or required) and (isinstance(v, bool) or not isinstance(v, int)):
        raise Refused(422, f'"{key}" must be an integer')
    return v


async def in_worker(st: Served, fn, *args):
    """fn(*args) in a worker thread, holding the model's lock; a NerwinError is a 422."""
    def locked():
        with st.lock:
            return fn(*args)
    try:
        return await run_in_threadpool(locked)
    except NerwinError as e:
        raise Refused(422, str(e)) from None


# ---- the endpoints ------------------------------------------------------------------------
async def tag_endpoint(request: Request):
    """Tag {"text": str}, {"tokens": [str]} or a batch {"texts": [str]}; optional min_confidence."""
    st = served(request)
    data = known_fields(await body(request), "/v1/tag", ("text", "tokens", "texts", "min_confidence"))
    items, p = text_or_tokens(data, st.limits), confidence(data)
    docs = await in_worker(st, lambda: [d.to_dict() | {"text": d.text} for d in st.tagger.tag_many(
        within_limit(st.tagger, items, st.limits), min_confidence=p)])
    return as_json({"docs": docs} if "texts" in data else docs[0])


def explain_rows(tagger: Tagger, limits: Limits, item, token):
    within_limit(tagger, [item], limits)
    rows, dist = tagger.explain(item), tagger.distribution(item)
    if token is not None:
        if not 0 <= token < len(rows):
            raise Refused(422, f'"token" {token} is out of range; the sentence has {len(rows)} tokens')
        rows, dist = rows[token:token + 1], dist[token:token + 1]
    for r, d in zip(rows, dist):
        r["distribution"] = d
    return rows


async def explain_endpoint(request: Request):
    """explain's figures for every token of {"text": str} or {"tokens": [str]}, or one ("token": i)."""
    st = served(request)
    data = await body(request)
    items = one_sentence(data, st.limits, "explain")           # "texts" first: it has its own message
    known_fields(data, "/v1/explain", ("text", "tokens", "token"))
    token = integer(data, "token")
    return as_json(await in_worker(st, explain_rows, st.tagger, st.limits, items[0], token))


async def graph_endpoint(request: Request):
    """The computation graph of one token's window: {"text" or "tokens", "token": i}, optional
    "label" (J against it) and "step" (one SGD step's size)."""
    st = served(request)
    data = await body(request)
    items = one_sentence(data, st.limits, "graph")           # "texts" first: it has its own message
    known_fields(data, "/v1/graph", ("text", "tokens", "token", "label", "step"))
    token, label, step = integer(data, "token", required=True), data.get("label"), data.get("step")
    if label is not None and not isinstance(label, str):
        raise Refused(422, '"label" must be a string')
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float))):
        raise Refused(422, '"step" must be a number')
    g = await in_worker(st, lambda: st.tagger.graph(within_limit(st.tagger, items, st.limits)[0], token, label, step))
    return as_json({"graph": graph_dict(g, st.kind), "svg": graph_svg(g)})


async def model_endpoint(request: Request):
    """The model: kind, target, labels, settings, vectors, temperature, and its training run."""
    st = served(request)
    tagger, history, best = st.tagger, st.history, None
    if history:
        best = next((r for r in history["epochs"] if r["epoch"] == history.get("best_epoch")), None)
    return {"nerwin": __version__, "kind": tagger.head.kind, "target": tagger.target, "labels": tagger.labels,
            "settings": tagger.settings.to_dict(), "vectors": tagger.config.get("vectors"),
            "temperature": tagger.temperature, **tagger.head.describe(tagger.params),
            "colors": type_colors(tagger.labels),                  # the report's, so a type looks the same in both
            "training": {"best_epoch": history.get("best_epoch") if history else None,
                         "dev": best.get("dev") if best else None, "epochs": len(history["epochs"]) if history else 0,
                         "curves_svg": safe_curves(history)}}


async def healthz():
    return {"status": "ok"}


async def index(request: Request):
    return HTMLResponse(served(request).page)


def create_app(tagger: Tagger, model_dir: Path | None = None, limits: Limits = Limits()) -> FastAPI:
    app = FastAPI(title="nerwin", version=__version__, docs_url=None, redoc_url=None,
                  description="The CS224n window-based NER classifier, with backprop derived by hand.")
    page = files("nerwin.tools").joinpath("page.html").read_text(encoding="utf-8")
    app.state.nerwin = Served(tagger, limits, load_history(model_dir) if model_dir is not None else None,
                              page.replace("/*GRAPH_CSS*/", STYLE).replace("/*GRAPH_JS*/", script()))
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    app.middleware("http")(body_limit)
    app.post("/v1/tag")(tag_endpoint)
    app.post("/v1/explain")(explain_endpoint)
    app.post("/v1/graph")(graph_endpoint)
    app.get("/v1/model")(model_endpoint)
    app.get("/healthz")(healthz)
    app.get("/", response_class=HTMLResponse)(index)
    return app


def safe_curves(history: dict | None) -> str | None:
    """The report's learning curves, or None when the history cannot draw them."""
    try:
        return curves(history) if history else None
    except (KeyError, TypeError, ValueError):
        return None


def app_from_env() -> FastAPI:
    """For uvicorn's workers: the model and limits come from the environment `nerwin serve` sets."""
    model = Path(os.environ["NERWIN_SERVE_MODEL"])
    limits = Limits(**json.loads(os.environ.get("NERWIN_SERVE_LIMITS", "{}")))
    return create_app(Tagger.load(model).warm_up(), model, limits)


def serve(model_dir: Path, host: str, port: int, workers: int, limits: Limits) -> None:
    import uvicorn
    os.environ["NERWIN_SERVE_MODEL"] = str(Path(model_dir).resolve())
    os.environ["NERWIN_SERVE_LIMITS"] = json.dumps(limits.__dict__)
    Tagger.load(model_dir).warm_up()               # a bad model fails here, with one line, not in a worker;
                                                   # and the vectors' index or copy is made before any request
    try:                                           # and a taken port, before anything says it serves
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        raise NerwinError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host") from None
    print(f"nerwin: serving {model_dir} on http://{host}:{port}/", file=sys.stderr)
    with brief_blas_spin() if workers > 1 else nullcontext():      # workers' BLAS threads outnumber the cores
        uvicorn.run("nerwin.tools.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", timeout_graceful_shutdown=SHUTDOWN)
