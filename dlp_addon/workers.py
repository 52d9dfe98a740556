"""Inspection off the event loop, in worker processes.

mitmproxy serves every connection from one asyncio loop. Detection is mostly Python holding
the GIL, so a thread does not free the loop (measured in ../shared/PERFORMANCE.md: a 2 MiB
scan in `asyncio.to_thread` still delayed every other request to p50 2.3 s); a process does.
Each worker builds its own `Engine` once. The key travels to the workers so that plain-text
identifiers never cross back to the proxy process: results are hashes and masked samples.

Queueing happens here, in an asyncio semaphore, and not inside the executor, so the hard
timeout measures a worker's own time rather than its wait in line. Work nobody waits on (the
full count of a request already answered) queues first for a smaller semaphore, so that it
never holds every worker. A worker that overruns the hard timeout (the engine has its own,
softer deadline) or dies is replaced, and that message gets a `timeout` or `error` problem,
which the policy turns into a decision.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.context
import os
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

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


def _ready() -> int:
    return os.getpid()


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned process that does not import the parent's main script.

    Spawned, not forked: forking a process that runs an event loop and threads copies its
    locks in whatever state they happen to be. But a spawned child imports the parent's main
    script first, so that functions defined there can be unpickled, and under mitmdump that
    script imports all of mitmproxy: 45 of a worker's 80 MiB, and half a second of its start,
    for code it never runs. Workers only run functions of this module, so the child is told
    of no main script: `multiprocessing` reads it from `sys.modules` while it prepares the
    child, and only then."""

    @staticmethod
    def _Popen(process_obj):
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            return multiprocessing.context.SpawnProcess._Popen(process_obj)
        finally:
            sys.modules["__main__"] = main


class _WorkerContext(multiprocessing.context.SpawnContext):
    Process = _WorkerProcess


def default_worker_count() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class InspectionPool:
    def __init__(self, policy: Policy, key: bytes, workers: int):
        self.policy = policy
        self._key = key
        self.workers = workers
        self._slots = asyncio.Semaphore(workers)
        # Full counts of requests already answered wait here first: they can take a worker's
        # whole time limit, and must never hold every worker while requests wait for theirs.
        self._background = asyncio.Semaphore(max(1, workers - 1))
        self._executor = self._new_executor()
        self._closed = False

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=_WorkerContext(),
                                   initializer=_start_worker, initargs=(self.policy, self._key))

    def warm_up(self) -> None:
        """Start every worker now so that the first requests do not pay for it."""
        for _ in range(self.workers):
            self._executor.submit(_ready)

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

    async def _run(self, function, *args) -> Inspection:
        async with self._slots:
            executor = self._executor
            try:
                # Submitting raises too once a worker has died while idle.
                future = asyncio.get_running_loop().run_in_executor(executor, function, *args)
                return await asyncio.wait_for(future, self.hard_timeout)
            except asyncio.TimeoutError:
                self._replace(executor, "an inspection overran its time limit")
                return _failed("timeout", f"inspection did not finish within {self.hard_timeout:.0f} s")
            except BrokenProcessPool:
                self._replace(executor, "an inspection worker died")
                return _failed("error", "inspection worker died")
            except Exception as e:  # noqa: BLE001 - e.g. a body that cannot be sent to the worker
                return _failed("error", type(e).__name__)

    def _replace(self, broken: ProcessPoolExecutor, why: str) -> None:
        if broken is not self._executor or self._closed:
            return  # another failure already replaced it, or the pool is being shut down
        logger.warning("DLP: %s; restarting the inspection workers", why)
        self._executor = self._new_executor()
        _kill(broken)

    def shutdown(self) -> None:
        # An inspection still running fails with its killed worker; that must not start new ones.
        self._closed = True
        _kill(self._executor)


def _kill(executor: ProcessPoolExecutor) -> None:
    # A stuck worker never returns, so shutdown(wait=True) would hang; end the processes.
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()
    executor.shutdown(wait=False, cancel_futures=True)


def _failed(sub_reason: str, detail: str) -> Inspection:
    # No safe path: the adapter then records a coarse one from the request it holds.
    return Inspection(problems=(Problem(sub_reason, "worker", detail),), safe_path="")
