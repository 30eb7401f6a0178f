"""`bookd serve` believes X-Forwarded-For and X-Forwarded-Proto only from BOOKD_TRUSTED_PROXIES:
by default from no one (uvicorn's own default believes any loopback peer, and its
FORWARDED_ALLOW_IPS does not count). Seen through what the address decides: the console's limit
on failed sign-ins per client address, and the Secure flag of its cookie."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.console.support import CSRF
from tests.processes import bookd_env, serving

# Failed sign-ins allowed per client address (docs/security.md).
LIMIT_PER_ADDRESS = 20


def failed_sign_ins(base: str, count: int) -> list[int]:
    """`count` wrong sign-ins, each with an email and an X-Forwarded-For of its own."""
    with httpx.Client(base_url=base, timeout=30) as http:
        token = CSRF.findall(http.get("/sign-in").text)[0]
        return [
            http.post(
                "/sign-in",
                data={"email": f"nobody-{n}@example.com", "password": "wrong", "csrf_token": token},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
            ).status_code
            for n in range(count)
        ]


def cookie_over_https(base: str) -> str:
    response = httpx.get(f"{base}/sign-in", headers={"X-Forwarded-Proto": "https"}, timeout=30)
    cookie: str = response.headers["set-cookie"]
    return cookie


def test_forwarded_headers_count_only_from_trusted_proxies(
    tmp_path: Path, scratch_sqlite: str
) -> None:
    """On SQLite alone: which peer is believed is decided before any database is asked (the
    limit itself is counted on both in tests/console/test_auth.py)."""
    scratch_url = scratch_sqlite
    limit = LIMIT_PER_ADDRESS
    trusted = bookd_env(scratch_url, BOOKD_TRUSTED_PROXIES="127.0.0.1")
    with serving(tmp_path, trusted) as base:
        # Each try comes from the address the proxy vouches for: none reaches the limit.
        assert failed_sign_ins(base, limit + 1) == [401] * (limit + 1)
        assert "secure" in cookie_over_https(base).lower()

    untrusted = {**bookd_env(scratch_url), "FORWARDED_ALLOW_IPS": "*"}
    with serving(tmp_path, untrusted) as base:
        # Every try counts against the peer, 127.0.0.1, whatever the header says.
        assert failed_sign_ins(base, limit + 1) == [401] * limit + [429]
        assert "secure" not in cookie_over_https(base).lower()
