"""A signed-in browser over the in-process app: cookies are sent explicitly, so that the session-
wide TestClient never carries one admin's session into another test."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.console import auth
from tests.conftest import Api

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
PASSWORD = "correct horse battery"


def new_admin(api: Api, *, email: str | None = None, password: str = PASSWORD) -> str:
    email = email or f"admin-{secrets.token_hex(4)}@example.com"

    async def work(session: AsyncSession) -> None:
        data = auth.AdminUserCreate(email=email, password=password)
        await auth.create_user(session, api.workspace_id, data, datetime.now(UTC))

    api.run(work)
    return email


@dataclass
class Browser:
    client: TestClient
    cookies: dict[str, str]
    csrf: str = ""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {"Cookie": cookie} if cookie else {}
        response = self.client.request(
            method, path, headers=headers, follow_redirects=False, **kwargs
        )
        self.client.cookies.clear()
        for name, value in response.cookies.items():
            self.cookies[name] = value
        for header in response.headers.get_list("set-cookie"):
            if "Max-Age=0" in header or "expires=Thu, 01 Jan 1970" in header:
                self.cookies.pop(header.split("=", 1)[0], None)
        tokens = set(CSRF.findall(response.text))
        if tokens:
            # Every form of a page carries the same, non-empty token.
            assert len(tokens) == 1 and "" not in tokens, (path, tokens)
            self.csrf = tokens.pop()
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        return self.request("POST", path, data=form)

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/sign-in")
        return self.post("/sign-in", {"email": email, "password": password, "next": "/"})


def browser(client: TestClient) -> Browser:
    return Browser(client=client, cookies={})


def signed_in(api: Api) -> Browser:
    """An admin of `api`'s workspace, signed in, holding the CSRF token of its session."""
    b = browser(api.client)
    response = b.sign_in(new_admin(api))
    assert response.status_code == 303, response.text
    assert b.get("/").status_code == 200
    return b
