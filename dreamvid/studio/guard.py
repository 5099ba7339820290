"""The studio's one protective layer, around the whole app (as Jupyter Server's checks, or datasette's
asgi-csrf): every request passes it, so a route added later is protected by default; the exceptions are
named here. It refuses, in one line each:

- a `Host` that is not an address the studio serves (DNS rebinding: a foreign name pointed at 127.0.0.1);
- a cross-site request: an `Origin` not the studio's own (required on every POST), or `Sec-Fetch-Site`
  other than same-origin / none (another port of 127.0.0.1 is same-site, not same-origin);
- a request without the session cookie, which only the printed URL's token gives (a foreign page cannot
  know it; SameSite=Strict keeps browsers from sending it along with a foreign page's requests);
- a POST whose body is not the route's type (JSON; raw bytes for uploads): the types a foreign form or
  no-cors fetch can send without the browser asking first (text/plain, forms) are never accepted;
- every WebSocket: any page may open one to any address (no CORS), and the studio serves none (a server
  with a WebSocket library installed would otherwise hand them to the app past every check above).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from typing import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect

LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")
PAGE = "/"  # the only route a foreign page may navigate to: it shows nothing without the cookie
BODY_TYPES = {"/api/uploads": "application/octet-stream"}  # every other POST takes application/json
SAFE_METHODS = ("GET", "HEAD")
SAME_ORIGIN_FETCH = ("same-origin", "none")  # none: the user typed or opened the address
PAGE_HEADERS = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"),
                (b"referrer-policy", b"no-referrer"), (b"x-content-type-options", b"nosniff")]

Send = Callable[[dict], Awaitable[None]]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def host_name(host: str) -> str:
    """An address as it appears in a Host header: IPv6 in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def split_host(header: str) -> tuple[str, str]:
    """(name, port) of a Host or Origin authority; the name lower-cased, IPv6 kept in brackets."""
    name, port = header.lower(), ""
    if name.startswith("["):
        end = name.find("]")
        name, port = name[:end + 1], name[end + 2:] if name[end + 1:end + 2] == ":" else ""
    elif ":" in name:
        name, _, port = name.rpartition(":")
    return name, port


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware: Host allowlist, same-origin check, token cookie, body types (see the module's doc)."""

    def __init__(self, app, host: str, port: int, token: str):
        self.app, self.port, self.token = app, str(port), token
        self.cookie = f"dreamvid-studio-{port}"  # cookies ignore ports: one name per studio on this machine
        self.names = {*LOCAL_NAMES, host_name(host.lower())} - {""}
        self.any_ip = host in WILDCARDS  # served on every interface: the machine's addresses, which rebinding cannot fake

    def host_allowed(self, host: str) -> bool:
        name, port = split_host(host)
        return port == self.port and (name in self.names or (self.any_ip and is_ip_literal(name)))

    async def __call__(self, scope: dict, receive, send: Send) -> None:
        if scope["type"] == "websocket":  # a page may open one to any address, with no CORS: the studio has none
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":  # lifespan: the server's own start and stop
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        refusal = self.refusal(scope, headers)
        if refusal is not None:
            return await refuse(send, *refusal)
        if scope["path"] == PAGE and scope["method"] in SAFE_METHODS and self.query_token(scope) is not None:
            return await self.exchange(scope, send)
        try:
            await self.app(scope, receive, self.with_page_headers(send))
        except ClientDisconnect:  # the page went away while sending: nobody to answer, nothing to log
            return

    def refusal(self, scope: dict, headers: dict) -> tuple[int, str] | None:
        """(status, one line) when the request is refused; None when it may pass."""
        method, path = scope["method"], scope["path"]
        if not self.host_allowed(headers.get("host", "")):
            return 421, "this studio answers only at the address it printed (Host not allowed)"
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{headers['host'].lower()}":
            return 403, "cross-origin request refused"
        fetch_site = headers.get("sec-fetch-site")
        if path != PAGE and fetch_site is not None and fetch_site not in SAME_ORIGIN_FETCH:
            return 403, f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
        if method not in SAFE_METHODS and origin is None:
            return 403, "a POST must come from the studio's page (no Origin header)"
        if path == PAGE and method in SAFE_METHODS and self.query_token(scope) is not None:
            return None if self.token_matches(self.query_token(scope)) else (403, "wrong token")
        if not self.token_matches(self.cookie_token(headers)):
            return 403, "open the address that `dreamvid studio` printed (with its token)"
        if method not in SAFE_METHODS:
            wanted = BODY_TYPES.get(path, "application/json")
            if headers.get("content-type", "").split(";")[0].strip().lower() != wanted:
                return 415, f"this route takes {wanted}"
        return None

    def token_matches(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    def query_token(scope: dict) -> str | None:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        return values[0] if values else None

    def cookie_token(self, headers: dict) -> str | None:
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie:
                return value
        return None

    async def exchange(self, scope: dict, send: Send) -> None:
        """The printed URL's token becomes the session cookie, and the page is loaded without it in the address."""
        cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode()),
                                (b"cache-control", b"no-store"), *PAGE_HEADERS]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def with_page_headers(send: Send) -> Send:
        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *PAGE_HEADERS]}
            await send(message)

        return sending


async def refuse(send: Send, status: int, line: str) -> None:
    body = json.dumps({"error": line}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *PAGE_HEADERS]})
    await send({"type": "http.response.body", "body": body})
