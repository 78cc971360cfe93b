"""The lab's HTTP server: moto behind a WSGI layer that adds what AWS does and moto lacks.

Runs in its own process (``python -m phantomkeys.lab.server``), started by
:class:`phantomkeys.lab.Lab`; moto's global state therefore never mixes with a
test process that uses ``moto.mock_aws`` itself, and a stopped lab leaves
nothing behind. It binds 127.0.0.1 only.

The WSGI layer, per AWS request:

1. identifies service, operation, region and access key from the SigV4
   ``Authorization`` header and the body (``Action=`` or ``X-Amz-Target``);
2. routes the request to the account that owns the access key (moto would use
   its default account for keys it does not know; the lab uses the management
   account);
3. counts it (``GET /_phantomkeys/stats``);
4. applies the fault rules (``POST /_phantomkeys/faults``);
5. answers what moto cannot: ``cloudtrail:LookupEvents`` from the lab's event
   store, and the ``sts:AssumeRole`` trust check (a role that does not exist or
   does not trust the caller -> 403 AccessDenied, as in AWS);
6. records IAM write calls as CloudTrail events (eventSource iam.amazonaws.com,
   region us-east-1, docs/aws-facts.md "CloudTrail").

Control endpoints (JSON, no AWS signature): ``GET /_phantomkeys/health``,
``GET|POST /_phantomkeys/faults``, ``GET /_phantomkeys/stats``,
``POST /_phantomkeys/stats/reset``, ``POST /_phantomkeys/snapshot``,
``POST /_phantomkeys/reset``, ``POST /_phantomkeys/recording``,
``GET|POST /_phantomkeys/trail``, ``POST /_phantomkeys/backdate``,
``POST /_phantomkeys/shutdown``.
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote

from phantomkeys.lab.accounts import DEFAULT_REGION, MANAGEMENT_ACCOUNT_ID
from phantomkeys.lab.cloudtrail_store import EventStore, LookupError_
from phantomkeys.lab.faults import FaultInjector, FaultKind, FaultSpecError

LOOPBACK = "127.0.0.1"
CONTROL_PREFIX = "/_phantomkeys/"

_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

_QUERY_NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}
_READ_PREFIXES = ("Get", "List", "Simulate")


class Stats:
    """Request counters by operation and by account (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_operation: Counter[str] = Counter()
            self.by_account: Counter[str] = Counter()
            self.by_account_operation: Counter[str] = Counter()
            self.faults_injected = 0

    def count(self, operation: str, account_id: str) -> None:
        with self._lock:
            self.total += 1
            self.by_operation[operation] += 1
            self.by_account[account_id] += 1
            self.by_account_operation[f"{account_id}/{operation}"] += 1

    def fault(self) -> None:
        with self._lock:
            self.faults_injected += 1

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "by_operation": dict(sorted(self.by_operation.items())),
                "by_account": dict(sorted(self.by_account.items())),
                "by_account_operation": dict(sorted(self.by_account_operation.items())),
                "faults_injected": self.faults_injected,
            }


class RequestInfo:
    __slots__ = (
        "access_key",
        "account_id",
        "body",
        "json_protocol",
        "operation",
        "region",
        "service",
    )

    def __init__(
        self,
        service: str,
        operation: str,
        region: str,
        access_key: str | None,
        body: bytes,
        json_protocol: bool,
    ) -> None:
        self.service = service
        self.operation = operation
        self.region = region
        self.access_key = access_key
        self.body = body
        self.json_protocol = json_protocol
        self.account_id = MANAGEMENT_ACCOUNT_ID

    @property
    def op_name(self) -> str:
        return f"{self.service}:{self.operation}"


def identify(environ: Environ) -> RequestInfo | None:
    """Service, operation, region and access key of an AWS request (None: not AWS)."""
    body = b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length:
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _CREDENTIAL_RE.search(auth)
    access_key = region = service = None
    if m:
        access_key, _, region, service = m.group(1), m.group(2), m.group(3), m.group(4)
    target = environ.get("HTTP_X_AMZ_TARGET")
    operation = None
    if target:
        operation = target.rsplit(".", 1)[-1]
    else:
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        if not params.get("Action") and body:
            try:
                params = dict(parse_qsl(body.decode("utf-8")))
            except UnicodeDecodeError:
                params = {}
        operation = params.get("Action")
    if not service:
        return None
    rest = not operation
    if rest:
        # REST protocols (e.g. bedrock) name the operation by method and path only.
        operation = f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"
    return RequestInfo(
        service=service.lower(),
        operation=str(operation),
        region=region or DEFAULT_REGION,
        access_key=access_key,
        body=body,
        json_protocol=bool(target) or rest,
    )


_ROLE_ACCOUNT_RE = re.compile(r"RoleArn=arn%3Aaws[\w-]*%3Aiam%3A%3A(\d{12})%3A")


def _fault_account(info: RequestInfo) -> str:
    """The account a fault rule's ``@ACCOUNT`` is matched against.

    The caller's account, except for ``sts:AssumeRole``: there it is the account of
    the role being assumed (``sts:AssumeRole@222222222222=denied`` makes that member
    unreachable).
    """
    if info.service == "sts" and info.operation == "AssumeRole":
        m = _ROLE_ACCOUNT_RE.search(info.body.decode("utf-8", "replace"))
        if m:
            return m.group(1)
    return info.account_id


def error_response(
    info: RequestInfo, status: int, code: str, message: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    request_id = str(uuid.uuid4())
    if info.json_protocol:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ]
    else:
        ns = _QUERY_NAMESPACES.get(info.service, f"https://{info.service}.amazonaws.com/doc/")
        err_type = "Receiver" if status >= 500 else "Sender"
        body = (
            f'<ErrorResponse xmlns="{ns}"><Error><Type>{err_type}</Type><Code>{code}</Code>'
            f"<Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(body))))
    reason = {
        400: "Bad Request",
        403: "Forbidden",
        500: "Internal Server Error",
        501: "Not Implemented",
    }.get(status, "")
    return f"{status} {reason}".strip(), headers, body


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fault_error(info: RequestInfo, kind: FaultKind, caller_arn: str) -> tuple[int, str, str]:
    json_proto = info.json_protocol
    if kind is FaultKind.THROTTLE:
        code = {"organizations": "TooManyRequestsException"}.get(
            info.service, "ThrottlingException" if json_proto else "Throttling"
        )
        return 400, code, "Rate exceeded"
    if kind is FaultKind.SERVER_ERROR:
        code = {"iam": "ServiceFailure", "organizations": "ServiceException"}.get(
            info.service, "InternalFailure"
        )
        return 500, code, "We encountered an internal error. Please try again."
    code = "AccessDeniedException" if json_proto else "AccessDenied"
    return (
        403,
        code,
        (
            f"User: {caller_arn} is not authorized to perform: "
            f"{info.service}:{info.operation} on resource: *"
        ),
    )


# ---------------------------------------------------------------- the app


class LabApp:
    """WSGI application: control endpoints + AWS requests through moto."""

    def __init__(self, *, seed: int = 0, faults: str | None = None) -> None:
        from phantomkeys.lab import extensions

        extensions.install()
        extensions.set_seed(seed)
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )

        class _Dispatcher(DomainDispatcherApplication):
            # moto stats ~175 directories per request to map a host to a backend;
            # the answer never changes, so cache it.
            _host_cache: ClassVar[dict[str | None, Any]] = {}

            def get_backend_for_host(self, host: str | None) -> Any:
                if host not in self._host_cache:
                    self._host_cache[host] = super().get_backend_for_host(host)
                return self._host_cache[host]

        self.ext = extensions
        self.moto_app = _Dispatcher(create_backend_app)
        self.seed = seed
        self.faults = FaultInjector(faults, seed=seed)
        self.stats = Stats()
        self.trail = EventStore()
        self.recording = True
        self._snapshot: bytes | None = None
        self._snapshot_faults: str | None = faults
        # moto is not thread-safe; requests run one at a time inside moto (HTTP
        # parsing, faults and latency stay concurrent).
        self.moto_lock = threading.RLock()
        self.shutdown_requested = threading.Event()

    # -------------------------------------------------------------- WSGI

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        _drain_body(environ)
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path[len(CONTROL_PREFIX) :])
        if path.startswith("/moto-api"):
            # moto's own reset/seed API would bypass the lab's snapshot: not offered.
            return _json(start_response, 404, {"error": "not available in the lab"})
        info = identify(environ)
        if info is None:
            with self.moto_lock:
                return list(self.moto_app(environ, start_response))
        with self.moto_lock:
            info.account_id = (
                self.ext.account_for_access_key(info.access_key) or MANAGEMENT_ACCOUNT_ID
            )
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = info.account_id
        self.stats.count(info.op_name, info.account_id)

        decision = self.faults.decide(info.service, info.operation, _fault_account(info))
        if decision.latency_seconds:
            time.sleep(decision.latency_seconds)
        if decision.error is not None:
            self.stats.fault()
            with self.moto_lock:
                caller = self.ext.caller_for(info.access_key, info.account_id)
            status, code, message = _fault_error(info, decision.error, caller.arn)
            return _send(start_response, *error_response(info, status, code, message))

        if info.service == "cloudtrail" and info.operation == "LookupEvents":
            return self._lookup_events(info, start_response)
        if info.service == "sts" and info.operation == "AssumeRole":
            denied = self._assume_role_denied(info)
            if denied is not None:
                return _send(start_response, *error_response(info, 403, "AccessDenied", denied))

        captured: dict[str, Any] = {}

        def _start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = status
            return start_response(status, headers, exc_info)

        with self.moto_lock:
            try:
                body_parts = list(self.moto_app(environ, _start))
            except NotImplementedError:
                return _send(
                    start_response,
                    *error_response(
                        info,
                        501,
                        "NotImplemented",
                        f"the phantomkeys lab does not emulate {info.op_name}",
                    ),
                )
            except Exception as exc:  # moto bug: answer like a service failure would
                return _send(
                    start_response,
                    *error_response(info, 500, "InternalFailure", f"{type(exc).__name__}: {exc}"),
                )
            if (
                self.recording
                and info.service == "iam"
                and not info.operation.startswith(_READ_PREFIXES)
            ):
                self._record_iam_call(info, captured.get("status", "200"), b"".join(body_parts))
        return body_parts

    # -------------------------------------------------------------- AWS extras
    # The AWS behaviour itself lives in lab/extensions/ (sections 8-10).

    def _lookup_events(self, info: RequestInfo, start_response: StartResponse) -> Iterable[bytes]:
        try:
            result = self.ext.lookup_events(self.trail, info.account_id, info.region, info.body)
        except LookupError_ as exc:
            return _send(start_response, *error_response(info, 400, exc.code, exc.message))
        body = json.dumps(result).encode()
        return _send(
            start_response,
            "200 OK",
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-RequestId", str(uuid.uuid4())),
                ("Content-Length", str(len(body))),
            ],
            body,
        )

    def _assume_role_denied(self, info: RequestInfo) -> str | None:
        with self.moto_lock:
            message: str | None = self.ext.assume_role_denial(
                info.access_key, info.account_id, info.body
            )
        return message

    def _record_iam_call(self, info: RequestInfo, status: str, response: bytes) -> None:
        self.trail.add(
            self.ext.iam_call_record(
                info.access_key, info.account_id, info.operation, info.body, status, response
            )
        )

    # -------------------------------------------------------------- control

    def _control(
        self, environ: Environ, start_response: StartResponse, route: str
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            return _json(start_response, 400, {"error": "body must be JSON"})
        try:
            return self._route(start_response, method, route.rstrip("/"), payload)
        except FaultSpecError as exc:
            return _json(start_response, 400, {"error": str(exc)})
        except Exception as exc:  # a control call must never kill the server
            return _json(start_response, 500, {"error": f"{type(exc).__name__}: {exc}"})

    def _route(
        self, start_response: StartResponse, method: str, route: str, payload: Any
    ) -> Iterable[bytes]:
        match (method, route):
            case ("GET", "health"):
                return _json(
                    start_response,
                    200,
                    {
                        "ok": True,
                        "pid": os.getpid(),
                        "seed": self.seed,
                        "management_account_id": MANAGEMENT_ACCOUNT_ID,
                        "faults": self.faults.spec,
                        "events": len(self.trail),
                    },
                )
            case ("GET", "faults"):
                return _json(start_response, 200, {"spec": self.faults.spec})
            case ("POST", "faults"):
                self.faults.set_spec(payload.get("spec"))
                return _json(start_response, 200, {"spec": self.faults.spec})
            case ("GET", "stats"):
                return _json(start_response, 200, self.stats.to_dict())
            case ("POST", "stats/reset") | ("DELETE", "stats"):
                self.stats.reset()
                return _json(start_response, 200, self.stats.to_dict())
            case ("POST", "recording"):
                self.recording = bool(payload.get("enabled", True))
                return _json(start_response, 200, {"enabled": self.recording})
            case ("GET", "trail"):
                return _json(start_response, 200, {"records": self.trail.records()})
            case ("POST", "trail"):
                added = self.trail.extend(payload.get("records", []))
                return _json(start_response, 200, {"added": added})
            case ("POST", "backdate"):
                with self.moto_lock:
                    for item in payload.get("items", []):
                        self.ext.backdate(item.get("account_id", MANAGEMENT_ACCOUNT_ID), item)
                return _json(start_response, 200, {"ok": True})
            case ("POST", "snapshot"):
                with self.moto_lock:
                    self._snapshot = self.ext.snapshot_state(self.trail)
                    self._snapshot_faults = self.faults.spec
                return _json(start_response, 200, {"bytes": len(self._snapshot)})
            case ("POST", "reset"):
                if self._snapshot is None:
                    return _json(start_response, 409, {"error": "no snapshot taken yet"})
                started = time.perf_counter()
                with self.moto_lock:
                    self.trail = self.ext.restore_state(self._snapshot)
                    self.faults.set_spec(self._snapshot_faults)
                    self.stats.reset()
                    self.recording = True
                return _json(
                    start_response, 200, {"seconds": round(time.perf_counter() - started, 4)}
                )
            case ("POST", "athena/query-results"):
                # What the next Athena queries return (moto runs no SQL): a list of
                # {"rows": [{"Data": [{"VarCharValue": ...}]}], "column_info": [...]}.
                from moto.athena.models import QueryResults, athena_backends

                account = payload.get("account_id", MANAGEMENT_ACCOUNT_ID)
                region = payload.get("region", DEFAULT_REGION)
                with self.moto_lock:
                    queue = athena_backends[account][region].query_results_queue
                    for item in payload.get("results", []):
                        queue.append(
                            QueryResults(
                                rows=item.get("rows", []), column_info=item.get("column_info", [])
                            )
                        )
                return _json(start_response, 200, {"queued": len(queue)})
            case ("POST", "shutdown"):
                self.shutdown_requested.set()
                return _json(start_response, 200, {"ok": True})
        return _json(start_response, 404, {"error": f"no control endpoint {method} {route}"})


def _drain_body(environ: Environ) -> None:
    """Read the whole request body now, so a kept-alive connection stays in sync."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _send(
    start_response: StartResponse, status: str, headers: list[tuple[str, str]], body: bytes
) -> list[bytes]:
    start_response(status, headers)
    return [body]


def _json(start_response: StartResponse, status: int, document: Any) -> list[bytes]:
    body = json.dumps(document, default=str).encode()
    reason = {
        200: "OK",
        400: "Bad Request",
        404: "Not Found",
        409: "Conflict",
        500: "Internal Server Error",
    }.get(status, "")
    return _send(
        start_response,
        f"{status} {reason}".strip(),
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        body,
    )


# ---------------------------------------------------------------- serving


class _KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """A small HTTP/1.1 WSGI front with keep-alive.

    SDK connection pools reuse sockets, which halves the cost of a request.
    werkzeug's development server closes every connection (and drains the socket
    after each response, which would eat a pipelined next request), so the lab
    serves its WSGI app itself: read exactly Content-Length bytes, answer with a
    Content-Length, keep the connection unless the client says otherwise.
    """

    protocol_version = "HTTP/1.1"
    server_version = "phantomkeys-lab"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle(self) -> None:
        app: Callable[..., Iterable[bytes]] = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        environ: Environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": LOOPBACK,
            "SERVER_PORT": str(getattr(self.server, "server_port", 0)),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": LOOPBACK,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "werkzeug.preserved_header_names": {},
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        result: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            result["status"], result["headers"] = status, headers
            return lambda data: None

        try:
            chunks = app(environ, start_response)
            try:
                payload = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # never drop the connection without an answer
            payload = f"lab server error: {type(exc).__name__}: {exc}".encode()
            result["status"], result["headers"] = (
                "500 Internal Server Error",
                [("Content-Type", "text/plain")],
            )
        code, _, reason = result.get("status", "500 Internal Server Error").partition(" ")
        self.send_response(int(code), reason or None)
        for name, value in result.get("headers", []):
            if name.lower() not in (
                "content-length",
                "connection",
                "transfer-encoding",
                "server",
                "date",
            ):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _LabHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        super().__init__((LOOPBACK, port), _KeepAliveHandler)


def make_http_server(app: LabApp, port: int = 0) -> _LabHTTPServer:
    """An HTTP server for ``app`` on 127.0.0.1 (never another interface)."""
    return _LabHTTPServer(port, app)


def serve(port: int, seed: int, faults: str | None, *, watch_stdin: bool) -> int:
    """Serve until SIGINT/SIGTERM, ``POST /_phantomkeys/shutdown`` or (child mode) stdin EOF."""
    app = LabApp(seed=seed, faults=faults)
    server = make_http_server(app, port)
    stop = app.shutdown_requested

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if watch_stdin:

        def _watch() -> None:
            # The parent holds our stdin open; EOF means it is gone: stop with it.
            try:
                while sys.stdin.buffer.read(1):
                    pass
            except (OSError, ValueError):
                pass
            stop.set()

        threading.Thread(target=_watch, name="lab-parent-watch", daemon=True).start()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="lab-http", daemon=True
    )
    thread.start()
    host, bound_port = server.server_address[:2]
    print(
        json.dumps({"event": "ready", "host": host, "port": bound_port, "pid": os.getpid()}),
        flush=True,
    )
    if watch_stdin:
        # Nobody reads our stdout after the ready line: send anything moto prints
        # there to stderr (the parent's log file), so a full pipe never blocks us.
        os.dup2(2, 1)
    try:
        while not stop.wait(0.1):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phantomkeys.lab.server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", default=None)
    parser.add_argument("--watch-stdin", action="store_true")
    args = parser.parse_args(argv)
    return serve(args.port, args.seed, args.faults, watch_stdin=args.watch_stdin)


if __name__ == "__main__":  # pragma: no cover - exercised through Lab.start
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: freeing moto's state (thousands of policy objects
    # per account) takes seconds and there is nothing left to clean up.
    os._exit(code)
