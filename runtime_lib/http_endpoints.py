"""A job's HTTP endpoints on 127.0.0.1: ``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz`` (JSON).

``/healthz`` answers 200 while the process serves requests at all; ``/readyz`` answers 200 when
the job is running with its sources connected and its sinks writing, else 503 with the reasons
(:mod:`.readiness`). Other paths are 404 and other methods than GET and HEAD 405, both with a
JSON body. Requests are served on their own threads, off the job's event loop.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .errors import JobError

log = logging.getLogger("mdp.job")
PATHS = ("/metrics", "/healthz", "/readyz")


class Endpoints(ThreadingHTTPServer):
    """The server: ``registry`` for ``/metrics``, ``reasons()`` for ``/readyz``, ``about`` in the JSON."""

    daemon_threads = True

    def __init__(
        self, port: int, registry: CollectorRegistry, reasons: Callable[[], list[str]], about: dict
    ) -> None:
        self.registry = registry
        self.reasons = reasons
        self.about = about
        self.started = time.monotonic()
        super().__init__(("127.0.0.1", port), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, name="mdp-endpoints", daemon=True)

    def close(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Endpoints
    timeout = 10  # seconds a client may stay silent before its connection is dropped

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._json(200, {"status": "ok", **self._about()})
        elif path == "/readyz":
            reasons = self.server.reasons()
            self._json(503 if reasons else 200, {"ready": not reasons, "reasons": reasons, **self._about()})
        else:
            self._json(404, {"error": f"no such path {path!r}", "paths": list(PATHS)})

    def do_HEAD(self) -> None:
        self.do_GET()

    def _refuse_method(self) -> None:
        self._json(405, {"error": f"method {self.command} is not allowed", "allowed": ["GET", "HEAD"]})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _about(self) -> dict:
        return {
            **self.server.about,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.server.started, 3),
        }

    def _json(self, status: int, body: dict) -> None:
        self._send(status, (json.dumps(body) + "\n").encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 405:
            self.send_header("Allow", "GET, HEAD")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        log.debug("endpoint %s: " + format, self.address_string(), *args)


def serve_endpoints(
    port: int, registry: CollectorRegistry, reasons: Callable[[], list[str]], about: dict
) -> Endpoints:
    """Serve the endpoints on 127.0.0.1:``port`` from a thread; a port in use is a :class:`JobError`."""
    try:
        server = Endpoints(port, registry, reasons, about)
    except OSError as exc:
        raise JobError(f"cannot serve metrics on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    server.thread.start()
    return server
