"""HTTP hardening: security headers on every response, CSRF checks, 429 with ``Retry-After``.

CSRF: a state-changing request (POST, PUT, PATCH, DELETE) under ``/api/`` that is not
authenticated by ``Authorization: Bearer`` must not come from another origin (its ``Origin``,
or failing that its ``Referer``, if sent, names this server), and if it carries the session
cookie it must also carry ``X-Podium-CSRF: 1``, a header no cross-site form can send and no
cross-site script can add without a CORS preflight (which Podium never grants). The browser
client (``web/static/js/api.js``) and ``podium.client`` send it on every request.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium.api.deps import SESSION_COOKIE
from podium.config import Settings
from podium.services.errors import TooMany

CSRF_HEADER = "X-Podium-CSRF"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DOCS_PATH = "/api/v1/docs"
# Swagger UI (the interactive API docs) loads its code from this CDN; only that page may.
DOCS_CDN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(rb"<script(?:\s[^>]*)?>(.*?)</script>", re.S | re.I)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-case; empty if it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(origin: str, host: str, settings: Settings) -> bool:
    """Is ``origin`` this server: the public URL's origin, or the Host the request was sent to?"""
    origin = origin.strip().lower()
    if not origin or origin == "null":
        return False
    host = host.strip().lower()
    ours = {origin_of(settings.public_url)}
    if host:
        ours |= {f"http://{host}", f"https://{host}"}
    return origin in ours


def content_security_policy(settings: Settings) -> str:
    public = urlsplit(settings.public_url)
    scheme = "wss" if public.scheme == "https" else "ws"
    ws = f" {scheme}://{public.netloc}" if public.netloc else ""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; "
            f"connect-src 'self'{ws}; object-src 'none'; worker-src 'self'; "
            "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def docs_policy(html: bytes) -> str:
    """The API docs page: Swagger UI from its CDN, plus exactly its own inline scripts."""
    hashes = " ".join(
        "'sha256-%s'" % base64.b64encode(hashlib.sha256(body).digest()).decode()
        for body in _INLINE_SCRIPT.findall(html) if body.strip())
    return (f"default-src 'none'; script-src {DOCS_CDN} {hashes}; style-src {DOCS_CDN}; "
            "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": ("microphone=(self), camera=(), geolocation=(), payment=(), "
                               "usb=(), display-capture=(), interest-cohort=()"),
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if settings.public_url.startswith("https://"):
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def csrf_problem(scope: Scope, settings: Settings) -> str | None:
    """Why this request looks cross-site (a message), or None if it may go on."""
    if scope["method"] not in UNSAFE_METHODS or not scope["path"].startswith("/api/"):
        return None
    headers = Headers(scope=scope)
    if headers.get("authorization", "").lower().startswith("bearer "):
        return None  # a token is never sent by a browser on its own: nothing to forge
    source = headers.get("origin") or origin_of(headers.get("referer", ""))
    sent = "origin" in headers or "referer" in headers
    if sent and not same_origin(source, headers.get("host", ""), settings):
        return "Cross-site requests are not allowed."
    cookies = headers.get("cookie", "")
    if re.search(rf"(?:^|;)\s*{SESSION_COOKIE}=", cookies) and headers.get(CSRF_HEADER) != "1":
        return f"Send the {CSRF_HEADER}: 1 header with cookie-authenticated requests."
    return None


class SecurityMiddleware:
    """Adds the security headers to every HTTP response and refuses cross-site requests."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.headers = security_headers(settings)
        self.docs_csp: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = csrf_problem(scope, self.settings)
        if problem is not None:
            response = JSONResponse({"error": "csrf_failed", "message": problem}, 403)
            await response(scope, receive, self._with_headers(scope, send))
            return
        if scope["path"] == DOCS_PATH:
            await self.app(scope, receive, self._docs(send))
            return
        await self.app(scope, receive, self._with_headers(scope, send))

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        api = scope["path"].startswith("/api/")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        return wrapped

    def _docs(self, send: Send) -> Send:
        """Hold the docs page's start until its body is known: its CSP hashes its scripts."""
        start: Message | None = None
        body = b""

        async def wrapped(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                body += message.get("body", b"")
                if message.get("more_body", False):
                    return
                headers = MutableHeaders(scope=start)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if self.docs_csp is None:
                    self.docs_csp = docs_policy(body)
                headers["Content-Security-Policy"] = self.docs_csp
                await send(start)
                start = None
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        return wrapped


def install_security(app: FastAPI, settings: Settings) -> None:
    """Security headers and CSRF checks on every request; ``Retry-After`` on every 429."""

    @app.exception_handler(TooMany)
    async def too_many(_: Request, exc: TooMany) -> JSONResponse:
        retry_after = getattr(exc, "retry_after", 60)
        return JSONResponse({"error": exc.code, "message": exc.message}, 429,
                            headers={"Retry-After": str(retry_after)})

    app.add_middleware(SecurityMiddleware, settings=settings)
