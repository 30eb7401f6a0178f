"""Sign-in and sign-out."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from bookd.console import auth
from bookd.console.web import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    ConsoleRoute,
    SignedIn,
    new_sign_in_token,
    render,
)
from bookd.kit.db import AsyncSession
from bookd.kit.pages import (
    CSRF_FIELD,
    CsrfRefused,
    field_errors,
    form_data,
    parse,
    read_form,
    same_token,
    set_cookie,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
SIGN_IN_TOKEN_LIFETIME = timedelta(hours=2)


def _safe_next(value: str | None) -> str:
    # Only a path of this console: never an absolute URL (no open redirect).
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and "\x00" not in value
    ):
        return value
    return "/"


def _sign_in_page(
    request: Request,
    *,
    token: str,
    next_url: str,
    email: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    html = render(
        "sign_in.html",
        page=None,
        title="Sign in",
        sign_in_token=token,
        next=next_url,
        email=email,
        errors=errors or {},
    )
    response = HTMLResponse(html, status_code=status)
    set_cookie(response, request, SIGN_IN_COOKIE, token, SIGN_IN_TOKEN_LIFETIME)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    token = request.cookies.get(SIGN_IN_COOKIE) or new_sign_in_token()
    return _sign_in_page(
        request, token=token, next_url=_safe_next(request.query_params.get("next"))
    )


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    session: AsyncSession = request.state.session
    now = request.app.state.clock()
    form = await read_form(request)
    cookie_token = request.cookies.get(SIGN_IN_COOKIE)
    if not same_token(form.get(CSRF_FIELD), cookie_token):
        raise CsrfRefused()
    assert cookie_token is not None
    try:
        data = parse(auth.SignInForm, form_data(form, ("email", "password", "next")))
    except ValidationError as exc:
        # Bad input (a NUL, an impossible length) is not a try: nothing is counted or written.
        errors = field_errors(exc)
        if "next" in errors:  # a hidden field: its error is the form's
            errors.setdefault("form", errors.pop("next"))
        return _sign_in_page(
            request,
            token=cookie_token,
            next_url=_safe_next(form.get("next")),
            email=form.get("email", "").replace("\x00", "")[:320],
            errors=errors,
            status=422,
        )
    next_url = _safe_next(data.next)
    address = request.client.host if request.client else "unknown"
    try:
        signed_in = await auth.sign_in(session, data.email, data.password, address, now)
    except (auth.SignInRefused, auth.TooManyAttempts) as exc:
        # A failure is counted and committed, like a success: it counts towards the limit.
        return _sign_in_page(
            request,
            token=cookie_token,
            next_url=next_url,
            email=data.email,
            errors={"form": exc.message},
            status=exc.status_code,
        )
    response = RedirectResponse(next_url, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, signed_in.token, auth.SESSION_LIFETIME)
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


@router.post("/sign-out")
async def sign_out(page: SignedIn) -> Response:
    await auth.sign_out(page.session, page.current.session.id)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
