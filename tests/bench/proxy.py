"""Processes and clients for the proxy measurements, all on 127.0.0.1.

`Processes` starts the upstream sink and mitmdump (plain, or with the DLP addon) in their own
process groups on free ports and ends every one of them, worker processes included, when the
run ends for whatever reason. The clients are plain asyncio HTTP/1.1 over persistent
connections, so what is measured is the proxy, not a client library.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MITMDUMP = Path(sys.executable).with_name("mitmdump")
ADDON = "dlp_addon/addon.py"
NULL_ADDON = "tests/bench/null_addon.py"  # the addon whose workers inspect nothing
START_TIMEOUT = 90.0


def _psutil():
    """Only the memory measurement needs psutil (the `bench` extra), so `make test` does not."""
    try:
        import psutil
    except ImportError:
        raise RuntimeError("the memory measurement needs psutil: .venv/bin/pip install psutil") from None
    return psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {port}:\n{tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


@dataclass
class Gateway:
    name: str
    proc: subprocess.Popen
    port: int
    state_dir: Path | None
    log: Path

    def tree(self) -> list:
        """mitmdump and every process under it (inspection workers, multiprocessing helpers)."""
        psutil = _psutil()
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.Error:
            return []

    def rss(self) -> int:
        psutil = _psutil()
        total = 0
        for p in self.tree():
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def incident(self, incident_id: str) -> tuple[dict | None, dict | None]:
        """(the incident, its "update": "complete" record if one was written) for an id."""
        first = complete = None
        for record in self.incidents():
            if record.get("id") == incident_id:
                if record.get("update") == "complete":
                    complete = record
                elif first is None:
                    first = record
        return first, complete

    async def settled(self, incident_id: str, timeout: float) -> dict | None:
        """Wait until an incident decided on the start of a body ("partial": true) has its full
        count on record: until then a worker is still inspecting the body. The completion record,
        or None (not partial, or no completion within `timeout`)."""
        deadline = time.monotonic() + timeout
        while incident_id:
            first, complete = self.incident(incident_id)
            if complete or (first is not None and not first.get("partial")):
                return complete
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)
        return None

    def incidents(self) -> list[dict]:
        path = self.state_dir / "incidents.jsonl" if self.state_dir else None
        if not path or not path.exists():
            return []
        # Only lines already ended are records: the last may still be being written (a full
        # count's completion can be megabytes).
        data = path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1].decode("utf-8")
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


class Processes:
    """Every subprocess of the run; `close()` ends them all (also from a signal handler's finally)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._procs: list[subprocess.Popen] = []
        self.upstream_port = 0
        self._count = 0

    def _spawn(self, cmd: list[str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            # Own process group: Ctrl-C reaches only the bench, which then ends the group, workers too.
            proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._procs.append(proc)
        return proc

    def start_upstream(self) -> int:
        log = self.workdir / "upstream.log"
        proc = self._spawn([sys.executable, "-m", "tests.bench.upstream", "--port", "0"], log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if text.startswith("listening "):
                self.upstream_port = int(text.split()[1])
                return self.upstream_port
            if proc.poll() is not None:
                raise RuntimeError(f"upstream exited: {text}")
            time.sleep(0.05)
        raise RuntimeError("upstream did not start")

    def start_gateway(self, name: str, policy: str | None, addon: str = ADDON) -> Gateway:
        """`policy=None`: plain mitmdump, no addon. Otherwise the DLP addon (`addon`) with that policy."""
        self._count += 1
        base = self.workdir / f"gw{self._count}-{name}"
        base.mkdir(parents=True)
        port = free_port()
        cmd = [str(MITMDUMP), "--listen-host", "127.0.0.1", "--listen-port", str(port),
               "--set", f"confdir={base / 'conf'}", "--set", "flow_detail=0", "--set", "termlog_verbosity=warn"]
        state = None
        if policy is not None:
            state = base / "state"
            cmd[1:1] = ["-s", addon]
            cmd += ["--set", f"dlp_policy={policy}", "--set", f"dlp_state_dir={state}"]
        log = base / "mitmdump.log"
        proc = self._spawn(cmd, log)
        gateway = Gateway(name, proc, port, state, log)
        _wait_port(port, proc, START_TIMEOUT, log)
        if policy is not None:
            asyncio.run(_warm_up(gateway, self.upstream_port))
            _wait_idle(gateway)
        return gateway

    def stop(self, gateway: Gateway) -> None:
        self._end(gateway.proc)

    def _end(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:  # the group may outlive its leader (a worker mitmdump did not reap)
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if proc in self._procs:
            self._procs.remove(proc)

    def close(self) -> None:
        for proc in list(reversed(self._procs)):
            self._end(proc)


async def _warm_up(gateway: Gateway, upstream_port: int) -> None:
    """Until every inspection worker has answered: the first request of each pays its start-up."""
    deadline = time.monotonic() + START_TIMEOUT
    # Something for the workers to look at: a body the gate passes would be answered without them.
    body = b"warm-up order 17000000123, nothing personal"
    rounds = 0
    while True:
        conns = [await Conn.open(gateway.port, upstream_port) for _ in range(4)]
        try:
            results = await asyncio.gather(*(c.request("POST", "/warm-up", body, "text/plain; charset=utf-8")
                                             for c in conns))
        finally:
            for c in conns:
                c.close()
        rounds += 1
        if rounds >= 2 and all(r.status == 200 for r in results):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"gateway {gateway.name} did not warm up: answers {[r.status for r in results]}")


def _wait_idle(gateway: Gateway, window: float = 0.3, busy: float = 0.05, timeout: float = 20.0) -> None:
    """Until the gateway's processes use less than `busy` seconds of CPU in `window`: the
    warm-up requests may all have been answered by one worker while another is still starting
    (compiling its patterns), and a measurement taken then shares the cores with it.
    Plain mitmdump is measured idle too. Without psutil (the `bench` extra) it cannot tell,
    and does not wait."""
    try:
        _psutil()
    except RuntimeError:
        return
    deadline = time.monotonic() + timeout
    used = _cpu_seconds(gateway)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = _cpu_seconds(gateway)
        if now - used < busy:
            return
        used = now


def _cpu_seconds(gateway: Gateway) -> float:
    return sum(cpu_split(gateway))


def cpu_split(gateway: Gateway) -> tuple[float, float]:
    """CPU seconds used so far by mitmdump's own process and by every process under it (the
    inspection workers): which of them bounds a load is what a change to the speed should aim
    at. (0, 0) without psutil."""
    try:
        _psutil()
    except RuntimeError:
        return 0.0, 0.0
    main = others = 0.0
    for process in gateway.tree():
        try:
            times = process.cpu_times()
        except Exception:  # noqa: BLE001 - a helper process that just ended
            continue
        if process.pid == gateway.proc.pid:
            main += times.user + times.system
        else:
            others += times.user + times.system
    return main, others


# -- client ---------------------------------------------------------------------------------------


@dataclass
class Result:
    status: int
    seconds: float
    sent: int
    headers: dict[str, str] = field(default_factory=dict)


class Conn:
    """One persistent HTTP/1.1 connection to the proxy, requests in absolute form."""

    def __init__(self, reader, writer, upstream_port: int):
        self.reader, self.writer, self.upstream_port = reader, writer, upstream_port
        self.closed = False

    @classmethod
    async def open(cls, proxy_port: int, upstream_port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port, limit=1 << 20)
        return cls(reader, writer, upstream_port)

    def close(self) -> None:
        self.closed = True
        self.writer.close()

    async def request(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> Result:
        head = [f"{method} http://127.0.0.1:{self.upstream_port}{path} HTTP/1.1",
                f"Host: 127.0.0.1:{self.upstream_port}", "User-Agent: dlp-bench", "Accept: */*"]
        if body or method in ("POST", "PUT"):
            head.append(f"Content-Length: {len(body)}")
        if content_type:
            head.append(f"Content-Type: {content_type}")
        start = time.perf_counter()
        sending = asyncio.ensure_future(self._send(("\r\n".join(head) + "\r\n\r\n").encode(), body))
        try:
            status, headers = await self._response()
            seconds = time.perf_counter() - start
        finally:
            if not sending.done():
                # Usually just the last drain; but a proxy that answered before reading the whole
                # body (a 403 at the headers) may never read the rest: then the connection is spent.
                await asyncio.wait({sending}, timeout=1.0)
            if not sending.done():
                sending.cancel()
                self.close()
            elif sending.exception() is not None:  # retrieved here so asyncio does not warn about it
                self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Result(status, seconds, len(body), headers)

    async def _send(self, head: bytes, body: bytes) -> None:
        self.writer.write(head)
        view = memoryview(body)
        for i in range(0, len(body), 1 << 20):
            self.writer.write(view[i:i + (1 << 20)])
            await self.writer.drain()
        await self.writer.drain()

    async def _response(self) -> tuple[int, dict[str, str]]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await self.reader.read()
            self.close()
        return status, headers


@dataclass
class Load:
    seconds: float
    latencies: list[float]  # seconds, completed requests only
    statuses: dict[int, int]
    sent_bytes: int
    errors: int

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def mbps(self) -> float:
        return self.sent_bytes / self.seconds / 1e6 if self.seconds else 0.0


async def keep_alive_load(proxy_port: int, upstream_port: int, bodies: list[tuple[str, bytes]], connections: int,
                          max_requests: int, max_seconds: float, offset: int = 0) -> Load:
    """`connections` persistent connections sending POSTs back to back (bodies in turn from
    `offset`) until `max_requests` have been sent or `max_seconds` have passed."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    state = {"next": 0, "sent": 0, "errors": 0}
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        conn = await Conn.open(proxy_port, upstream_port)
        try:
            while state["next"] < max_requests and time.perf_counter() < deadline:
                i = state["next"]
                state["next"] += 1
                content_type, body = bodies[(offset + i) % len(bodies)]
                if conn.closed:
                    conn = await Conn.open(proxy_port, upstream_port)
                try:
                    result = await conn.request("POST", f"/ka/{i % 1000}", body, content_type)
                except (ConnectionError, asyncio.IncompleteReadError):
                    state["errors"] += 1
                    conn.close()
                    continue
                latencies.append(result.seconds)
                statuses[result.status] = statuses.get(result.status, 0) + 1
                state["sent"] += len(body)
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return Load(time.perf_counter() - start, latencies, statuses, state["sent"], state["errors"])


async def upload(proxy_port: int, upstream_port: int, body: bytes, content_type: str, path: str) -> Result:
    conn = await Conn.open(proxy_port, upstream_port)
    try:
        return await conn.request("POST", path, body, content_type)
    finally:
        conn.close()


@dataclass
class HeadOfLine:
    uploads: list[Result]
    latencies: list[float]  # small GETs started and answered while an upload was in flight
    before: list[float]
    seconds: float  # how long uploads (and the inspections that went on after their answers) lasted

    @property
    def upload_seconds(self) -> float:
        return sum(u.seconds for u in self.uploads) / len(self.uploads)


async def head_of_line(proxy_port: int, upstream_port: int, body: bytes, content_type: str, path: str,
                       connections: int = 4, interval: float = 0.01, min_gets: int = 100, max_uploads: int = 20,
                       max_gets: int = 5000, timeout: float = 120.0, settle=None) -> HeadOfLine:
    """Uploads of `body`, one after the other, while `connections` other keep-alive connections
    send a small GET every `interval` s between them; each connection waits for its answer, so a
    stalled proxy shows as latency rather than as a queue the client builds. Uploads repeat until
    `min_gets` GETs fell inside them (a fast relay is over in a few GETs) or `max_uploads`.
    `settle(result)`, when given, is awaited after each upload with the GETs still counted: the
    inspection of a body can go on after its answer (a block decided on the start of a body)."""
    conns = [await Conn.open(proxy_port, upstream_port) for _ in range(connections)]
    during: list[float] = []
    before: list[float] = []
    phase = {"bucket": before, "stop": False}

    async def pinger(k: int, conn: Conn) -> None:
        await asyncio.sleep(k * interval)
        while not phase["stop"] and len(during) < max_gets:
            bucket = phase["bucket"]
            if conn.closed:
                conn = await Conn.open(proxy_port, upstream_port)
            t = time.perf_counter()
            result = await conn.request("GET", "/ping")
            if result.status == 200 and bucket is phase["bucket"]:  # answered in the phase it started in
                bucket.append(time.perf_counter() - t)
            await asyncio.sleep(max(0.0, connections * interval - (time.perf_counter() - t)))
        conn.close()

    pingers = [asyncio.ensure_future(pinger(k, c)) for k, c in enumerate(conns)]
    uploads: list[Result] = []
    window = 0.0
    try:
        await asyncio.sleep(0.3)
        while len(uploads) < max_uploads and (not uploads or len(during) < min_gets):
            phase["bucket"] = during
            began = time.perf_counter()
            uploads.append(await asyncio.wait_for(
                upload(proxy_port, upstream_port, body, content_type, f"{path}/{len(uploads)}"), timeout))
            if settle is not None:
                await settle(uploads[-1])
            phase["bucket"] = []
            window += time.perf_counter() - began
            await asyncio.sleep(2 * connections * interval)  # let GETs of the last phase drain
    finally:
        phase["stop"] = True
        await asyncio.gather(*pingers, return_exceptions=True)
    return HeadOfLine(uploads, during, before, window)


class RssSampler:
    """Peak summed RSS of a gateway's process tree, sampled every `interval` s on a thread."""

    def __init__(self, gateway: Gateway, interval: float = 0.005):
        self.gateway, self.interval = gateway, interval
        self.idle = gateway.rss()
        self.peak = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.gateway.rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
