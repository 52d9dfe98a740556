"""Real processes and servers for the end-to-end tests: mitmdump, upstreams, clients.

Everything binds to 127.0.0.1 and every socket has a timeout, so a broken gateway fails a
test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import http.client
import http.server
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MITMDUMP = Path(sys.executable).with_name("mitmdump")
DEFAULT_POLICY = REPO / "policies" / "default.yaml"
# The deployed entry point. DLP_E2E_SCRIPT runs the same tests against another entry (say, a
# shim around an installed dlp_addon) when bisecting a start-up problem.
SCRIPT = os.environ.get("DLP_E2E_SCRIPT", "dlp_addon/addon.py")

START_TIMEOUT = 90  # worker processes load the phone metadata before "ready"; 2 slow cores
IO_TIMEOUT = 30


# -- the gateway ---------------------------------------------------------------------------------


class Output:
    """mitmdump's merged stdout/stderr, drained continuously so a chatty proxy never blocks."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match | None:
        """First match of `pattern` in the output so far or to come; None at EOF or timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if m := regex.search("".join(self.lines)):
                    return m
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    return None
                self._changed.wait(min(left, 0.5))

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def mitmdump_command(tmp: Path, policy: Path | str, *extra: str) -> list[str]:
    return [
        str(MITMDUMP), "-s", SCRIPT,
        "--listen-host", "127.0.0.1", "--listen-port", "0",
        "--set", f"confdir={tmp / 'conf'}",
        "--set", f"dlp_policy={policy}",
        "--set", f"dlp_state_dir={tmp / 'state'}",
        "--set", "flow_detail=0",
        # Tests only: the upstreams' certificates are self-signed.
        "--set", "ssl_insecure=true",
        "--set", "dlp_workers=1",
        *extra,
    ]


def spawn(command: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")


@dataclass
class Gateway:
    proc: subprocess.Popen
    output: Output
    port: int
    confdir: Path
    state_dir: Path

    @property
    def ca(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def incidents_path(self) -> Path:
        return self.state_dir / "incidents.jsonl"

    def incidents(self) -> list[dict]:
        return read_incidents(self.state_dir)

    def incident(self, incident_id: str) -> dict:
        found = [i for i in self.incidents() if i.get("id") == incident_id]
        assert len(found) == 1, f"expected one incident with id {incident_id}, found {len(found)}"
        return found[0]

    def incidents_for(self, path_prefix: str) -> list[dict]:
        return [i for i in self.incidents() if str(i.get("path", "")).startswith(path_prefix)]

    def log(self) -> str:
        return self.output.text()

    def worker_pids(self) -> list[int]:
        """The inspection worker processes (Linux /proc): the children that run the workers' module."""
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"dlp_addon.workers" in cmdline:
                    pids.append(int(child))
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.output.join(10)


def process_gone(pid: int) -> bool:
    """Exited and reaped, or a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process, in clock ticks; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def read_incidents(state_dir: Path) -> list[dict]:
    path = Path(state_dir) / "incidents.jsonl"
    if not path.exists():
        return []
    # Only lines already ended are records: the gateway may be writing the last one (a full
    # count's completion is megabytes), and a reader can see part of it.
    data = path.read_bytes()
    complete = data[:data.rfind(b"\n") + 1].decode("utf-8")
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def start_gateway(tmp: Path, policy: Path | str = DEFAULT_POLICY, extra: tuple[str, ...] = ()) -> Gateway:
    proc = spawn(mitmdump_command(tmp, policy, *extra))
    output = Output(proc.stdout)
    gateway = None
    try:
        listening = output.wait_for(r"HTTP\(S\) proxy listening at 127\.0\.0\.1:(\d+)", START_TIMEOUT)
        ready = listening and output.wait_for(r"DLP gateway ready\.", START_TIMEOUT)
        if not ready:
            raise RuntimeError("mitmdump did not become ready; its output (no customer data sent yet):\n"
                               + output.text()[-4000:])
        gateway = Gateway(proc, output, int(listening.group(1)), tmp / "conf", tmp / "state")
        return gateway
    finally:
        if gateway is None:
            Gateway(proc, output, 0, tmp / "conf", tmp / "state").stop()


def run_until_exit(tmp: Path, policy: Path | str, *extra: str) -> subprocess.Popen:
    """Start a mitmdump that is expected to refuse to start; `finish_exit` collects it."""
    return spawn(mitmdump_command(tmp, policy, *extra))


def finish_exit(proc: subprocess.Popen, timeout: float = START_TIMEOUT) -> tuple[int | None, str]:
    """(exit code, output); exit code None if it was still running after `timeout` (then killed)."""
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=10)
        return None, out


# -- upstream servers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    version: str


@dataclass
class Recorder:
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def at(self, path_prefix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]


def _handler(recorder: Recorder):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = IO_TIMEOUT

        def _answer(self):
            body = self._read_body()
            recorder.add(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  body, self.request_version))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args):
            pass

    return Handler


class HttpUpstream:
    """Records every request and answers `200 ok`; over TLS when given a context."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.recorder = Recorder()
        tls_context = tls

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                # Handshake in the connection's own thread, not in the accept loop.
                request.settimeout(IO_TIMEOUT)
                if tls_context is not None:
                    try:
                        request = tls_context.wrap_socket(request, server_side=True)
                    except (ssl.SSLError, OSError):
                        return
                super().finish_request(request, client_address)

        self.server = Server(("127.0.0.1", 0), _handler(self.recorder))
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def at(self, path_prefix: str) -> list[Received]:
        return self.recorder.at(path_prefix)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class H2Upstream:
    """An HTTP/2-only TLS server (ALPN h2), so mitmproxy's default eager strategy speaks h2 to
    the client as well, the way it does with real h2 sites."""

    def __init__(self, tls: ssl.SSLContext):
        import h2.config
        import h2.connection
        import h2.events
        self._h2 = (h2.config, h2.connection, h2.events)
        tls.set_alpn_protocols(["h2"])
        self._tls = tls
        self.recorder = Recorder()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def at(self, path_prefix: str) -> list[Received]:
        return self.recorder.at(path_prefix)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        config, connection, events = self._h2
        conn.settimeout(IO_TIMEOUT)
        try:
            with self._tls.wrap_socket(conn, server_side=True) as tls:
                if tls.selected_alpn_protocol() != "h2":
                    return
                h2conn = connection.H2Connection(config.H2Configuration(client_side=False, header_encoding="utf-8"))
                h2conn.initiate_connection()
                tls.sendall(h2conn.data_to_send())
                streams: dict[int, tuple[dict, bytearray]] = {}
                while not self._stop.is_set():
                    data = tls.recv(65536)
                    if not data:
                        return
                    for event in h2conn.receive_data(data):
                        if isinstance(event, events.RequestReceived):
                            streams[event.stream_id] = (dict(event.headers), bytearray())
                        elif isinstance(event, events.DataReceived):
                            streams[event.stream_id][1].extend(event.data)
                            h2conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        elif isinstance(event, events.StreamEnded):
                            headers, body = streams.pop(event.stream_id)
                            self.recorder.add(Received(headers.get(":method", ""), headers.get(":path", ""),
                                                       {k.lower(): v for k, v in headers.items()}, bytes(body), "HTTP/2"))
                            h2conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "text/plain"),
                                                                  ("content-length", "2")])
                            h2conn.send_data(event.stream_id, b"ok", end_stream=True)
                        elif isinstance(event, events.ConnectionTerminated):
                            tls.sendall(h2conn.data_to_send())
                            return
                    tls.sendall(h2conn.data_to_send())
        except Exception:  # noqa: BLE001 - a broken connection (timeout, TLS, h2 protocol) ends only itself
            return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


class WebSocketEcho:
    """An asyncio `websockets` server in its own thread: echoes and records client messages."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        from websockets.asyncio.server import serve
        self.scheme = "wss" if tls else "ws"
        self.messages: list[tuple[str, str | bytes]] = []
        self.closes: list[tuple[str, int | None, str | None]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def start():
            return await serve(self._handle, "127.0.0.1", 0, ssl=tls, open_timeout=IO_TIMEOUT, close_timeout=5)

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(IO_TIMEOUT)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed
        path = ws.request.path
        try:
            async for message in ws:
                with self._lock:
                    self.messages.append((path, message))
                await ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self.closes.append((path, ws.close_code, ws.close_reason))

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def received(self, path: str) -> list[str | bytes]:
        with self._lock:
            return [m for p, m in self.messages if p == path]

    def closed(self, path: str) -> list[tuple[int | None, str | None]]:
        with self._lock:
            return [(code, reason) for p, code, reason in self.closes if p == path]

    def close(self) -> None:
        async def stop():
            self._server.close()
            await self._server.wait_closed()
        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, made fresh for this run."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "upstream-cert.pem", directory / "upstream-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


# -- clients -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def incident_id(self) -> str:
        return self.headers.get("X-DLP-Incident", "")

    def json(self) -> dict:
        return json.loads(self.body)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def via_proxy(gateway: Gateway, method: str, url: str, body=None, headers: dict | None = None,
              timeout: float = IO_TIMEOUT) -> Reply:
    """An explicit-proxy request: absolute-form URL sent to the gateway."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=timeout)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def client_tls(gateway: Gateway) -> ssl.SSLContext:
    """What an employee's machine has: the gateway's CA installed, verification on."""
    return ssl.create_default_context(cafile=str(gateway.ca))


def via_tunnel(gateway: Gateway, port: int, method: str, path: str, body=None, headers: dict | None = None,
               proxy_headers: dict | None = None, timeout: float = IO_TIMEOUT) -> Reply:
    """HTTPS through CONNECT, with the TLS session intercepted by the gateway."""
    conn = http.client.HTTPSConnection("127.0.0.1", gateway.port, timeout=timeout, context=client_tls(gateway))
    conn.set_tunnel("127.0.0.1", port, headers=proxy_headers)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


@dataclass(frozen=True)
class CurlReply:
    status: int
    http_version: str
    headers: dict[str, str]  # lower-cased names, last response only
    body: bytes


def curl_path() -> str | None:
    return shutil.which("curl")


def curl(gateway: Gateway, url: str, tmp: Path, *, data: bytes | None = None, headers: dict | None = None,
         http2: bool = True) -> CurlReply:
    tmp.mkdir(parents=True, exist_ok=True)
    body_file, header_file, data_file = tmp / "body", tmp / "headers", tmp / "data"
    command = [curl_path(), "-q", "--silent", "--show-error",
               "--proxy", gateway.proxy_url, "--noproxy", "",
               "--cacert", str(gateway.ca),
               "--connect-timeout", "10", "--max-time", str(IO_TIMEOUT),
               "--output", str(body_file), "--dump-header", str(header_file),
               "--write-out", "%{http_code} %{http_version}"]
    if http2:
        command.append("--http2")
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    if data is not None:
        data_file.write_bytes(data)
        command += ["--data-binary", f"@{data_file}"]
    command.append(url)
    # Keep curl off any proxy configured in the environment: only the gateway is under test.
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=IO_TIMEOUT + 15)
    assert done.returncode == 0, f"curl failed with exit code {done.returncode}: {done.stderr[-500:]}"
    status, version = done.stdout.split()
    header_lines = header_file.read_text(errors="replace").split("\r\n\r\n")
    last = [h for h in header_lines if h.strip()][-1].splitlines()[1:]
    parsed = {}
    for line in last:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return CurlReply(int(status), version, parsed, body_file.read_bytes())
