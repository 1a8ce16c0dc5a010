"""The API served by the long-running process (`yadockeri bot`, `up`, `reaper`): uvicorn on its
own thread and event loop, so that event streams are coroutines, not a thread each."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request

import uvicorn

from stacks.engine import Engine

from .app import create_app

log = logging.getLogger(__name__)


class ApiServer:
    def __init__(self, engine: Engine, *, host: str | None = None, port: int | None = None) -> None:
        settings = engine.settings
        self.host = host or settings.api_bind or "127.0.0.1"
        self.port = settings.api_port if port is None else port
        self.app = create_app(engine)
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                access_log=False, lifespan="off", timeout_graceful_shutdown=2,
                                timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="yadockeri-api", daemon=True)

    def start(self, timeout: float = 10.0) -> ApiServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the API did not start on {self.host}:{self.port} (is the port taken?)")
            time.sleep(0.02)
        if self.port == 0:
            self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self._warm()
        return self

    def _warm(self) -> None:
        """Ask the server twice before anyone else does: Starlette builds its middleware, FastAPI
        its OpenAPI document and anyio its worker threads on first use (about 100 ms on 2 cores),
        which would otherwise fall on the first caller, GitHub's first delivery say."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        for path in ("/api/v1/openapi.json", "/healthz"):
            try:
                urllib.request.urlopen(f"http://{host}:{self.port}{path}", timeout=5).close()
            except OSError as error:
                log.debug("warming the API up failed: %s", error)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        for stop in self.app.state.stoppers:
            stop()


def serve(engine: Engine) -> ApiServer | None:
    """Start the API as the settings say (YADOCKERI_API_PORT 0: not at all); a port taken by
    another yadockeri process on this host is a warning, not a failure."""
    if engine.settings.api_port == 0:
        return None
    try:
        server = ApiServer(engine).start()
    except OSError as error:
        log.warning("the HTTP API is not served: %s", error)
        return None
    log.info("HTTP API on %s/api/v1", server.url)
    return server
