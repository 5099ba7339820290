"""Running the studio: bind first (so port 0 and a busy port are handled before anything prints),
print the address with its token, then serve until Ctrl-C."""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path
import socket
import threading
import webbrowser

import uvicorn

from dreamvid.errors import UserError
from dreamvid.studio.app import create_app
from dreamvid.studio.bounds import DEFAULT_MAX_STORAGE_MB, MAX_STREAMS
from dreamvid.studio.guard import new_token
from dreamvid.studio.workfolder import WorkFolder, default_work_folder


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind((host, port))
    except OSError as error:
        server.close()
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror}); try another --port") from None
    return server


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


MAX_CONNECTIONS = MAX_STREAMS + 64  # uvicorn answers 503 past this: file descriptors stay bounded


def page_url(host: str, port: int, token: str = "") -> str:
    """The page's address; with the token, the one to open (it becomes the session's cookie)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def server_config(app, timeout_s: float) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=timeout_s,
                          limit_concurrency=MAX_CONNECTIONS)


def serve(host: str, port: int, open_browser: bool, max_upload_mb: float, work_folder: str | None,
          max_storage_mb: float = DEFAULT_MAX_STORAGE_MB) -> int:
    folder = WorkFolder(Path(work_folder) if work_folder else default_work_folder())
    listener = bind(host, port)
    token, port = new_token(), listener.getsockname()[1]
    url = page_url(host, port, token)
    print(f"dreamvid studio: open {url}  (work folder {folder.root}; Ctrl-C stops)", flush=True)
    if not is_loopback(host):
        print(f"dreamvid studio: listening on {host}: anyone on this network who learns the address with its "
              "token can use the studio (and the traffic is not encrypted): for trusted networks only", flush=True)
    app = create_app(folder, int(max_upload_mb * 1e6), host=host, port=port, token=token,
                     max_storage_bytes=int(max_storage_mb * 1e6))
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    uvicorn.Server(server_config(app, 5)).run(sockets=[listener])
    return 0


class ServerThread:
    """The studio served from a thread on a free loopback port (tests and benchmarks): `with ServerThread(folder)
    as url: ...` (the URL with its token); leaving the block stops the server and its queue."""

    def __init__(self, folder: Path, max_upload_mb: float = 200.0):
        self.listener = bind("127.0.0.1", 0)
        self.token = new_token()
        self.app = create_app(WorkFolder(Path(folder)), int(max_upload_mb * 1e6),
                              port=self.listener.getsockname()[1], token=self.token)
        self.server = uvicorn.Server(server_config(self.app, 2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.listener]}, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    @contextlib.contextmanager
    def session(self, **options):
        """An httpx client signed in as the page is (the token's cookie, the page's Origin): tests, benchmarks."""
        import httpx

        with httpx.Client(base_url=self.origin, headers={"origin": self.origin}, **options) as client:
            if client.get("/", params={"token": self.token}).status_code != 303:
                raise RuntimeError("the studio refused its own token")
            yield client

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            threading.Event().wait(0.02)
        return page_url("127.0.0.1", self.listener.getsockname()[1], self.token)

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.listener.close()
