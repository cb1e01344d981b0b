"""The upload page's routes (SPEC 12): each reads the request, asks the door or the
session store, and renders; the rules live in the door, the pipeline and the judge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sftp_watcher.calllist.template import template_csv
from sftp_watcher.errors import NotFound, UploadTooLarge, WebError
from sftp_watcher.state.models import FINAL_STATES, UploadState
from sftp_watcher.web.context import WebContext, log
from sftp_watcher.web.csrf import FIELD, SEED_COOKIE
from sftp_watcher.web.forms import read_upload_form
from sftp_watcher.web.passwords import verify_password
from sftp_watcher.web.sessions import COOKIE, SignedIn

_SMALL_FORM_BYTES = 8 * 1024
_UPLOAD_JS = files("sftp_watcher.web").joinpath("templates/upload.js").read_bytes()


def _context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _small_form(request: Request) -> dict[str, str]:
    """An urlencoded form of a few short fields; a bigger body is not read."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _SMALL_FORM_BYTES:
            raise HTTPException(413, "The form is too large.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _csrf_ok(request: Request, user: SignedIn | None, form: Mapping[str, str]) -> bool:
    seed = request.cookies.get(SEED_COOKIE)
    return _context(request).csrf.valid(seed, user.session_id if user else None, form.get(FIELD))


def _forbidden() -> HTTPException:
    return HTTPException(403, "The form has expired or did not come from this site: reload it.")


# -- signing in and out ---------------------------------------------------------------


async def home(request: Request) -> Response:
    signed_in = _context(request).signed_in(request)
    return _see("/upload" if signed_in else "/signin")


async def signin_page(request: Request) -> Response:
    if _context(request).signed_in(request):
        return _see("/upload")
    return _context(request).render(request, "signin.html.j2")


async def signin(request: Request) -> Response:
    context = _context(request)
    form = await _small_form(request)
    if not _csrf_ok(request, None, form):
        raise _forbidden()
    email = form.get("email", "").strip()[:320]
    address = request.client.host if request.client else "unknown"
    delay = context.throttle.delay(email, address)
    if delay:
        await context.sleep(delay)
    customer, user = context.users.get(email.lower(), (None, None))
    password_hash = user.password_hash if user else None
    ok = await run_in_threadpool(verify_password, password_hash, form.get("password", ""))
    if not ok or customer is None or user is None:
        context.throttle.failed(email, address)
        log_signin(ok=False, email=email, address=address, delayed=delay)
        return context.render(
            request,
            "signin.html.j2",
            status=401,
            error="Wrong email or password.",
            email=email,
        )
    context.throttle.succeeded(email)
    token = await run_in_threadpool(context.sessions.start, customer.id, user.email)
    log_signin(ok=True, email=user.email, address=address, delayed=delay, customer=customer.id)
    response = _see("/upload")
    context.set_cookie(response, COOKIE, token)
    return response


def log_signin(*, ok: bool, email: str, address: str, delayed: float, **extra: Any) -> None:

    event = "web.signed_in" if ok else "web.signin_failed"
    log.info(event, channel="web", email=email[:320], address=address, delayed_s=delayed, **extra)


async def signout(request: Request) -> Response:
    context = _context(request)
    form = await _small_form(request)
    signed_in = context.signed_in(request)
    if signed_in is None:
        return _see("/signin")
    user, _ = signed_in
    if not _csrf_ok(request, user, form):
        raise _forbidden()
    await run_in_threadpool(context.sessions.end, user.session_id)
    response = _see("/signin")
    response.delete_cookie(COOKIE, path="/")
    return response


# -- uploading --------------------------------------------------------------------------


def _require(request: Request) -> tuple[SignedIn, Any]:
    signed_in = _context(request).signed_in(request)
    if signed_in is None:
        raise HTTPException(303, headers={"Location": "/signin"})
    return signed_in


def _upload_page(request: Request, status: int = 200, **values: Any) -> Response:
    context = _context(request)
    _, customer = _require(request)
    limit = context.settings.limits.max_file_bytes
    return context.render(
        request,
        "upload.html.j2",
        status=status,
        flows=customer.flows,
        timezone=context.settings.customer_timezone(customer).key,
        limit=limit,
        limit_text=_size(limit),
        **values,
    )


async def upload_page(request: Request) -> Response:
    return _upload_page(request)


async def upload(request: Request) -> Response:
    context = _context(request)
    user, customer = _require(request)
    limit = context.settings.limits.max_file_bytes
    form = await read_upload_form(request, limit)
    if not _csrf_ok(request, user, form.fields):
        raise _forbidden()
    if not form.filename:
        return _upload_page(request, 400, error="Choose a call list file.")
    flow_id = form.fields.get("flow", "")
    try:
        preview = await run_in_threadpool(
            context.door.preview,
            customer,
            user.email,
            flow_id=flow_id,
            start_time=form.fields.get("start_time", ""),
            filename=form.filename,
            data=bytes(form.data),
        )
    except NotFound:
        raise
    except WebError as exc:  # a wrong type, an unreadable start time: say so on the form
        return _upload_page(
            request,
            400,
            error=exc.reason,
            chosen_flow=flow_id,
            start_time=form.fields.get("start_time", "")[:40],
        )
    return _see(f"/preview/{preview.token}")


async def preview_page(request: Request) -> Response:
    _, customer = _require(request)
    preview = _context(request).door.load_preview(customer, request.path_params["token"])
    if preview is None:
        raise NotFound("preview")
    return _context(request).render(request, "preview.html.j2", p=preview)


async def schedule(request: Request) -> Response:
    context = _context(request)
    user, customer = _require(request)
    form = await _small_form(request)
    if not _csrf_ok(request, user, form):
        raise _forbidden()
    token = request.path_params["token"]
    upload_id = await run_in_threadpool(context.door.schedule, customer, token)
    if upload_id is None:
        raise NotFound("preview")
    return _see(f"/uploads/{upload_id}")


async def result_page(request: Request) -> Response:
    context = _context(request)
    _, customer = _require(request)
    upload = context.door.upload(customer, request.path_params["upload_id"])
    if upload is None:
        raise NotFound("upload")
    finished = UploadState(upload.state) in FINAL_STATES
    outcome = context.door.outcome(customer, upload) if finished else None
    return context.render(
        request, "result.html.j2", upload=upload, finished=finished, outcome=outcome
    )


async def uploads_page(request: Request) -> Response:
    context = _context(request)
    _, customer = _require(request)
    tz = context.settings.customer_timezone(customer)
    rows = [
        {
            "id": u.id,
            "file": u.original_name,
            "channel": u.channel,
            "flow": u.flow_id or "",
            "time": u.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            "outcome": context.door.outcome_word(u),
            "rows_total": u.rows_total,
            "rows_valid": u.rows_valid,
            "rows_rejected": u.rows_rejected,
            "rows_triggered": u.rows_triggered,
            "errors": u.errors_csv is not None,
        }
        for u in context.door.recent(customer)
    ]
    return context.render(request, "uploads.html.j2", rows=rows, timezone=tz.key)


async def errors_file(request: Request) -> Response:
    _, customer = _require(request)
    upload = _context(request).door.upload(customer, request.path_params["upload_id"])
    if upload is None or upload.errors_csv is None:
        raise NotFound("errors file")
    name = f"{upload.original_name}.errors.csv"
    return _attachment(upload.errors_csv, name)


async def template(request: Request) -> Response:
    _, customer = _require(request)
    flow = customer.flow(request.path_params["flow_id"])
    if flow is None:
        raise NotFound("flow")
    return _attachment(template_csv(flow), f"{flow.id}.csv")


async def upload_js(request: Request) -> Response:
    return Response(_UPLOAD_JS, media_type="text/javascript")


def _attachment(data: bytes, name: str) -> Response:
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return Response(
        data,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{ascii_name}"'},
    )


def _size(limit: int) -> str:
    return f"{limit / 1024 / 1024:.1f} MiB ({limit:,} bytes)"


# -- errors -------------------------------------------------------------------------------


def error_handlers() -> dict[Any, Callable[[Request, Any], Any]]:
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 303 and exc.headers:
            return _see(exc.headers["Location"])
        if getattr(request.state, "user", None) is None:
            _context(request).signed_in(request)  # the page's links, for a signed-in user
        titles = {403: "Forbidden", 404: "Not found", 413: "Too large"}
        title = titles.get(exc.status_code, "Cannot do that")
        return _context(request).render(
            request, "error.html.j2", status=exc.status_code, title=title, message=exc.detail
        )

    async def not_found(request: Request, exc: NotFound) -> Response:
        return _context(request).render(
            request, "error.html.j2", status=404, title="Not found", message=f"{exc.reason}."
        )

    async def too_large(request: Request, exc: UploadTooLarge) -> Response:
        message = f"The file is larger than the limit of {_size(exc.limit)}; nothing was kept."
        response = _context(request).render(
            request, "error.html.j2", status=413, title="File too large", message=message
        )
        response.headers["Connection"] = "close"  # the rest of the body is not read
        return response

    async def bad_form(request: Request, exc: WebError) -> Response:
        return _context(request).render(
            request, "error.html.j2", status=400, title="Cannot read the form", message=exc.reason
        )

    return {
        HTTPException: http_error,
        NotFound: not_found,
        UploadTooLarge: too_large,
        WebError: bad_form,
    }


ROUTES = [
    Route("/", home),
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/upload", upload_page, methods=["GET"]),
    Route("/upload", upload, methods=["POST"]),
    Route("/upload.js", upload_js),
    Route("/preview/{token}", preview_page, methods=["GET"]),
    Route("/preview/{token}/schedule", schedule, methods=["POST"]),
    Route("/uploads", uploads_page),
    Route("/uploads/{upload_id}", result_page),
    Route("/uploads/{upload_id}/errors.csv", errors_file),
    Route("/template/{flow_id}.csv", template),
]
