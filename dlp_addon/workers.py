"""Inspection off the event loop, in worker processes.

mitmproxy serves every connection from one asyncio loop. Detection is mostly Python holding
the GIL, so a thread does not free the loop (measured in ../shared/PERFORMANCE.md: a 2 MiB
scan in `asyncio.to_thread` still delayed every other request to p50 2.3 s); a process does.
Each worker builds its own `Engine` once. The key travels to the workers so that plain-text
identifiers never cross back to the proxy process: results are hashes and masked samples.

Each worker is a process with one end of a socket pair; the event loop holds the other and
reads the answers itself, so no thread of the proxy waits on a worker (a process pool's
feeder and result threads cost the proxy about 2 ms of CPU per request while its loop was
busy: more than relaying the request did). Queueing happens in an asyncio semaphore, so the
hard timeout measures a worker's own time rather than its wait in line (one watchdog timer
serves every call in flight). Work nobody waits on
(the full count of a request already answered) queues first for a smaller semaphore, so that
it never holds every worker. A worker that overruns the hard timeout (the engine has its own,
softer deadline) or dies is killed and another started in its place, and that message gets a
`timeout` or `error` problem, which the policy turns into a decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from dlp_addon import full_count
from dlp_addon.engine import Engine
from dlp_addon.extract.content import parse_content_type
from dlp_addon.model import Inspection, Problem, RequestData
from dlp_addon.policy import Policy

logger = logging.getLogger(__name__)

_engine: Engine | None = None


# Allocations between young-generation collections (CPython's default is 700).
_YOUNG_COLLECTION_EVERY = 20_000


def _start_worker(policy: Policy, key: bytes) -> None:
    global _engine
    _engine = Engine(policy, key)
    _engine.warm_up()
    tune_garbage_collector()


def tune_garbage_collector() -> None:
    """Set the cyclic collector for a process that inspects for its whole life. Detection
    allocates millions of short-lived objects that reference counting frees anyway, while
    the heap that each collection walks keeps growing: the phone detector's caches hold
    tens of thousands of parsed numbers once a few lists have passed. With the default
    thresholds, benign traffic inspected after a 4 MiB list ran at about two thirds of the
    speed it had before it. What exists after the warm-up (metadata, compiled patterns) is
    moved out of the collector's sight for good, and collections run less often."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, middle, old)


@contextlib.contextmanager
def collections_deferred() -> Iterator[None]:
    """No cyclic collection while one call runs. What an inspection allocates (the parsed
    document, its segments, the detectors' candidates) lives until the call ends and is
    then freed by reference counting, so a collection in between walks all of it for
    nothing: about a tenth of the time of an API JSON body. Whatever cycles a call leaves
    are collected after it, as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _inspect_request(request: RequestData) -> Inspection:
    return _engine.inspect(request)


def _inspect_start(head: RequestData) -> Inspection:
    return _engine.inspect_start(head)


def _inspect_message(content: bytes, is_text: bool | None) -> Inspection:
    return _engine.inspect_message(content, is_text=is_text)


def _window_plan(head: RequestData) -> full_count.Plan | None:
    return _engine.window_plan(head)


def _inspect_window(window: full_count.Window) -> Inspection:
    return _engine.inspect_window(window)


# A worker is a new interpreter, not a fork: forking a process that runs an event loop and
# threads copies its locks in whatever state they happen to be. Nor is it started through
# multiprocessing: its spawn imports the parent's main script in the child (under mitmdump,
# all of mitmproxy: 45 of a worker's 80 MiB) and starts a resource tracker process (13 MiB)
# for semaphores the workers never make. The child imports this module only, and reads its
# policy and key as the first message on its socket.
_CHILD = "import sys; from dlp_addon.workers import _child_main; _child_main(int(sys.argv[1]))"


def default_worker_count() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class WorkerDied(Exception):
    """The worker's end of its socket closed: it died, or was killed."""


class _Link(asyncio.Protocol):
    """The event loop's end of one worker's socket: a call is framed as `_CALL` says (a pickle
    and the large bodies it leaves out), an answer is its length (8 bytes) and a pickle, one
    call at a time. The loop reads replies as they arrive, so no thread of the
    proxy ever waits on a worker, and none holds the GIL while the loop has work."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.alive = True
        # True once the worker's first message says that its engine is up; False if it died first.
        self.started: asyncio.Future = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._reply: asyncio.Future | None = None
        self._writable: asyncio.Future | None = None  # set while the transport's buffer is full

    def connection_made(self, transport) -> None:
        self.transport = transport

    async def call(self, message: bytes, buffers: list[memoryview] | tuple = ()) -> bytes:
        """Send one call (its pickle, then the buffers the pickle left out, as `_CALL` frames
        them) and wait for its answer."""
        # The frame's head goes with the first piece, in one write: a write of its own would
        # wake the worker for a few bytes. The rest in pieces, waiting while the worker reads:
        # the transport copies whatever the socket does not take at once, and a 60 MiB body
        # would otherwise be held twice more.
        head = _CALL.pack(len(message), len(buffers)) + b"".join(_LENGTH.pack(len(b)) for b in buffers)
        view = memoryview(message)
        self.transport.write(head + view[:_SEND_PIECE])
        pieces = [view[start:start + _SEND_PIECE] for start in range(_SEND_PIECE, len(view), _SEND_PIECE)]
        for buffer in buffers:
            pieces.extend(buffer[start:start + _SEND_PIECE] for start in range(0, len(buffer), _SEND_PIECE))
        for piece in pieces:
            if self._writable is not None:
                await self._writable
            if not self.alive:
                raise WorkerDied()
            self.transport.write(piece)
        if not self.alive:
            raise WorkerDied()
        # Made only now, with nothing awaited since the last write: no answer can come before
        # the whole call has been read, and a future made earlier could be left failed unread.
        self._reply = reply = asyncio.get_running_loop().create_future()
        return await reply

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if len(self._buffer) < _LENGTH.size + length:
                return
            message = bytes(memoryview(self._buffer)[_LENGTH.size:_LENGTH.size + length])
            del self._buffer[:_LENGTH.size + length]
            if not self.started.done():
                self.started.set_result(True)
                continue
            reply, self._reply = self._reply, None
            if reply is not None and not reply.done():
                reply.set_result(message)

    def connection_lost(self, exc) -> None:
        self.alive = False
        if not self.started.done():
            self.started.set_result(False)
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(WorkerDied())
        self.resume_writing()  # a call still sending finds the link dead


_LENGTH = struct.Struct("!Q")
# A call's frame: the length of its pickle and how many buffers follow it, each buffer's
# length (_LENGTH), the pickle, the buffers. Answers and the first message are one pickle
# after its _LENGTH.
_CALL = struct.Struct("!QI")
# Bodies from this size on travel beside the pickle, as pickle's out-of-band buffers: written
# to the socket as they are rather than copied into the pickle first (pickling a 1 MiB body
# cost mitmdump's own process 0.3 ms, most of it faulting in the pages of the fresh copy).
_APART_FROM = 64 * 1024
_START_TIMEOUT = 60.0  # seconds; a worker starts in one or two
_SEND_PIECE = 256 * 1024


class _Worker:
    """One inspection process and the loop's link to it (made on first use: the pool may be
    built before the event loop runs)."""

    def __init__(self, policy: Policy, key: bytes):
        ours, theirs = socket.socketpair()
        try:
            # -P: the current directory is not on the child's path (see _child_environment).
            self.process = subprocess.Popen([sys.executable, "-P", "-c", _CHILD, str(theirs.fileno())],
                                            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                            env=_child_environment())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        # A policy is a few KiB, well within the socket's buffer: sent now, before the child
        # reads it, without waiting.
        try:
            _send(ours, pickle.dumps((policy, key), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # the child is gone already: its link finds it dead, as for any worker that dies
        self._socket: socket.socket | None = ours
        self._link: _Link | None = None
        self.deadline: float | None = None  # loop time by which the call in progress must be answered
        self.overran = False
        self._killed = False

    @property
    def alive(self) -> bool:
        return self._link.alive if self._link is not None else self.process.poll() is None

    async def started(self) -> None:
        """Wait until the worker's engine is up (bounded, and not counted against an
        inspection's time: a worker started for a request takes a second or two)."""
        if self._link is None:
            sock, self._socket = self._socket, None
            _, self._link = await asyncio.get_running_loop().create_unix_connection(_Link, sock=sock)
        started = self._link.started
        if not started.done():
            try:
                await asyncio.wait_for(asyncio.shield(started), _START_TIMEOUT)
            except asyncio.TimeoutError:
                raise WorkerDied() from None
        if not started.result():
            raise WorkerDied()

    async def call(self, message: bytes, buffers: list[memoryview]) -> bytes:
        if not self._link.alive:
            raise WorkerDied()
        return await self._link.call(message, buffers)

    def kill(self) -> None:
        # A stuck worker never answers: end the process, and reap it off the event loop.
        if self._killed:
            return
        self._killed = True
        self.process.kill()
        if self._link is not None and self._link.transport is not None:
            self._link.transport.close()
        elif self._socket is not None:
            self._socket.close()
        threading.Thread(target=self.process.wait, name="dlp-reap", daemon=True).start()


def _child_environment() -> dict[str, str]:
    # The child imports the very package this process runs, wherever it was imported from.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (root, environment.get("PYTHONPATH")) if p)
    return environment


def _child_main(fd: int) -> None:
    """A worker process's entry point: its end of the socket pair, then its policy and key."""
    sock = socket.socket(fileno=fd)
    message = _receive(sock)
    if message is None:
        return  # the proxy went away before the worker started
    policy, key = pickle.loads(message)
    _serve(sock, policy, key)


def _serve(sock: socket.socket, policy: Policy, key: bytes) -> None:
    """A worker's life: start the engine, then answer calls until the proxy's end closes."""
    # Ctrl-C reaches the whole process group; the proxy ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start_worker(policy, key)
    with sock:
        try:
            _send(sock, pickle.dumps(os.getpid()))
            while (call := _receive_call(sock)) is not None:
                try:
                    message, buffers = call
                    function, args = pickle.loads(message, buffers=buffers)
                    del call, message, buffers
                    with collections_deferred():
                        result = function(*args)
                    reply = pickle.dumps((True, result), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as e:  # noqa: BLE001 - the caller turns it into an error problem
                    reply = pickle.dumps((False, type(e).__name__), protocol=pickle.HIGHEST_PROTOCOL)
                _send(sock, reply)
        except ConnectionError:
            pass  # the proxy is gone


def _send(sock: socket.socket, message: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(message)))
    sock.sendall(message)


def _receive(sock: socket.socket) -> bytearray | None:
    header = _receive_exactly(sock, _LENGTH.size)
    if header is None:
        return None
    return _receive_exactly(sock, _LENGTH.unpack(header)[0])


def _receive_call(sock: socket.socket) -> tuple[bytearray, list[bytes]] | None:
    """A call as `_Link.call` frames it: its pickle and the buffers pickled apart, each as
    bytes (what the pickle was given: a body unpickles as the bytes it was)."""
    head = _receive_exactly(sock, _CALL.size)
    if head is None:
        return None
    size, count = _CALL.unpack(head)
    lengths = _receive_exactly(sock, _LENGTH.size * count) if count else b""
    message = _receive_exactly(sock, size) if lengths is not None else None
    if message is None:
        return None
    buffers = []
    for (length,) in _LENGTH.iter_unpack(lengths):
        buffer = _receive_exactly(sock, length)
        if buffer is None:
            return None
        buffers.append(bytes(buffer))
        del buffer
    return message, buffers


def _carried_apart(value):
    """The call's argument with a large body wrapped for pickling out of band (`_APART_FROM`)."""
    if type(value) is bytes and len(value) >= _APART_FROM:
        return pickle.PickleBuffer(value)
    if type(value) is RequestData and value.body is not None and len(value.body) >= _APART_FROM:
        return replace(value, body=pickle.PickleBuffer(value.body))
    if type(value) is full_count.Window and len(value.data) >= _APART_FROM:
        return replace(value, data=pickle.PickleBuffer(value.data))
    return value


def _receive_exactly(sock: socket.socket, size: int) -> bytearray | None:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        count = sock.recv_into(view[got:])
        if count == 0:
            return None
        got += count
    return buffer


class InspectionPool:
    def __init__(self, policy: Policy, key: bytes, workers: int):
        self.policy = policy
        self._key = key
        self.workers = workers
        self._slots = asyncio.Semaphore(workers)
        # Full counts of requests already answered wait here first: they can take a worker's
        # whole time limit, and must never hold every worker while requests wait for theirs.
        self._background = asyncio.Semaphore(max(1, workers - 1))
        self._idle: list[_Worker] = []
        self._running: set[_Worker] = set()
        self.processes_started = 0  # replacements included
        self._closed = False
        self._watchdog: asyncio.TimerHandle | None = None

    def warm_up(self) -> None:
        """Start every worker now so that the first requests do not pay for it."""
        while not self._closed and len(self._running) < self.workers:
            self._idle.append(self._start())

    def _start(self) -> _Worker:
        worker = _Worker(self.policy, self._key)
        self._running.add(worker)
        self.processes_started += 1
        return worker

    def _take(self) -> _Worker:
        # A slot is held, so a worker is idle or not started yet.
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            self._retire(worker, "an inspection worker died while idle")
        return self._start()

    def _retire(self, worker: _Worker, why: str) -> None:
        """Kill the worker and start another in its place now, so that the next request
        does not wait for a worker to start."""
        worker.kill()
        if worker not in self._running:
            return
        self._running.discard(worker)
        if not self._closed:
            logger.warning("DLP: %s; starting another", why)
            self._idle.append(self._start())

    @property
    def hard_timeout(self) -> float:
        return self.policy.limits.max_seconds * 2 + 5

    async def inspect(self, request: RequestData) -> Inspection:
        return await self._run(_inspect_request, request)

    async def inspect_in_background(self, request: RequestData) -> Inspection:
        """`inspect` for work nobody waits on (the full count of a request already blocked
        on its start): with two workers or more, one is always left for requests."""
        return await self._run_in_background(_inspect_request, request)

    async def inspect_start(self, head: RequestData) -> Inspection:
        """The start of a large body (`engine.probe_request`), read until it is certain to block."""
        return await self._run(_inspect_start, head)

    async def inspect_message(self, content: bytes, is_text: bool | None) -> Inspection:
        return await self._run(_inspect_message, content, is_text)

    async def count_in_windows(self, request: RequestData, seconds: float | None = None) -> Inspection | None:
        """The full count of a large free-text body, one window after another in the
        background (see `full_count`), until the windows have taken `seconds` (the policy's
        time limit); None where the body is not one free text, to be counted in one piece."""
        body = request.body or b""
        limits = self.policy.limits
        seconds = limits.max_seconds if seconds is None else seconds
        if len(body) > limits.max_body_bytes:
            return None  # counted in one piece, that is one too_large problem
        plan = await self._run_in_background(_window_plan, full_count.plan_head(request))
        if not isinstance(plan, full_count.Plan):
            return None
        tally = full_count.Tally(len(body), safe_path="")
        spent = 0.0
        for window in full_count.windows(body, plan, parse_content_type(request.header("content-type"))[0]):
            if spent >= seconds:
                tally.stop("timeout", f"after {seconds:.0f} s")
                break
            async with self._background:
                began = time.monotonic()
                inspection = await self._run(_inspect_window, window)
                spent += time.monotonic() - began
            tally.add(len(window.data) - window.header, inspection)
            failed = next((p for p in inspection.problems if p.where == "worker"), None)
            if failed is not None:
                # A window that killed or outran its worker, or a pool shut down under it.
                tally.stop(failed.sub_reason, "where a worker failed")
                break
        return tally.inspection()

    async def _run_in_background(self, function, *args):
        async with self._background:
            return await self._run(function, *args)

    async def _run(self, function, *args):
        async with self._slots:
            if self._closed:
                return _failed("error", "the inspection workers are shut down")
            buffers: list[pickle.PickleBuffer] = []
            try:
                message = pickle.dumps((function, tuple(map(_carried_apart, args))), protocol=5,
                                       buffer_callback=buffers.append)
            except Exception as e:  # noqa: BLE001 - e.g. a body that cannot be sent to the worker
                return _failed("error", type(e).__name__)
            views = [buffer.raw() for buffer in buffers]
            worker = self._take()
            try:
                try:
                    await worker.started()
                except WorkerDied:
                    self._retire(worker, "an inspection worker did not start")
                    return _failed("error", "inspection worker did not start")
                self._watch(worker)
                try:
                    reply = await worker.call(message, views)
                finally:
                    worker.deadline = None
            except WorkerDied:
                if worker.overran:  # killed by the watchdog
                    self._retire(worker, "an inspection overran its time limit")
                    return _failed("timeout", f"inspection did not finish within {self.hard_timeout:.0f} s")
                self._retire(worker, "an inspection worker died")
                return _failed("error", "inspection worker died")
            except BaseException:
                # Cancelled (or worse) mid-call: its answer would be read as the next call's.
                self._retire(worker, "an inspection was abandoned")
                raise
            self._idle.append(worker)
            try:
                ok, value = pickle.loads(reply)
            except Exception as e:  # noqa: BLE001 - a result the proxy cannot read
                return _failed("error", type(e).__name__)
            return value if ok else _failed("error", value)

    def _watch(self, worker: _Worker) -> None:
        """Give the worker's call its deadline. One timer watches every call in flight, set
        for the earliest deadline: a timer (or timeout scope) per call cost mitmdump's own
        process more per request than the rest of the hand-off's bookkeeping."""
        loop = asyncio.get_running_loop()
        worker.deadline = deadline = loop.time() + self.hard_timeout
        watchdog = self._watchdog
        if watchdog is not None and watchdog.when() <= deadline:
            return
        if watchdog is not None:
            watchdog.cancel()
        self._watchdog = loop.call_at(deadline, self._on_watch)

    def _on_watch(self) -> None:
        # A worker past its deadline is killed: its call then ends as a WorkerDied, which
        # `_run` reports as a timeout, replacing the worker.
        self._watchdog = None
        now = asyncio.get_running_loop().time()
        for worker in list(self._running):
            if worker.deadline is not None and worker.deadline <= now and not worker.overran:
                worker.overran = True
                worker.kill()
        pending = [w.deadline for w in self._running if w.deadline is not None and not w.overran]
        if pending:
            self._watchdog = asyncio.get_running_loop().call_at(min(pending), self._on_watch)

    def shutdown(self) -> None:
        # An inspection still running fails with its killed worker; that must not start new ones.
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for worker in list(self._running):
            self._retire(worker, "shut down")
        self._idle.clear()


def _failed(sub_reason: str, detail: str) -> Inspection:
    # No safe path: the adapter then records a coarse one from the request it holds.
    return Inspection(problems=(Problem(sub_reason, "worker", detail),), safe_path="")
