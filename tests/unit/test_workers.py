"""The inspection worker's process, as the pool starts it."""

import gc
import time
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from dlp_addon import workers
from dlp_addon.policy import load_policy


def _collector_of_a_started_worker() -> tuple[tuple[int, int, int], tuple[int, int, int], int]:
    before = gc.get_threshold()
    workers._start_worker(load_policy("policies/default.yaml"), b"k" * 32)
    return before, gc.get_threshold(), gc.get_freeze_count()


def test_a_started_worker_collects_garbage_less_often_and_never_walks_its_warm_up_heap():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as executor:
        before, after, frozen = executor.submit(_collector_of_a_started_worker).result(timeout=120)
    assert after[0] == workers._YOUNG_COLLECTION_EVERY > before[0]
    assert after[1:] == before[1:]
    # The metadata, compiled patterns and suffix list loaded by the warm-up.
    assert frozen > 10_000


def test_no_collection_runs_within_a_call_and_the_collector_is_back_after_it():
    class Cycle:
        def __init__(self):
            self.me = self

    assert gc.isenabled()
    try:
        with workers.collections_deferred():
            assert not gc.isenabled()
            Cycle()
            raise KeyError("the call failed")
    except KeyError:
        pass
    assert gc.isenabled()
    assert gc.collect() >= 1  # the cycle left by the call is collected after it
    gc.disable()
    try:
        with workers.collections_deferred():
            pass
        assert not gc.isenabled()  # a collector that was off stays off
    finally:
        gc.enable()


def test_full_counts_in_the_background_leave_a_worker_for_requests():
    """Two uploads blocked on their start each leave a full count behind; with two workers,
    a request that arrives meanwhile is served before either count ends."""
    import asyncio
    import os
    import time

    async def scenario() -> list[str]:
        pool = workers.InspectionPool(load_policy("policies/default.yaml"), b"k" * 32, 2)
        try:
            await asyncio.gather(*(pool._run(os.getpid) for _ in range(2)))  # both workers up
            done: list[str] = []

            async def count(name: str) -> None:
                await pool._run_in_background(time.sleep, 2)
                done.append(name)

            counts = [asyncio.ensure_future(count(f"count {i}")) for i in range(2)]
            await asyncio.sleep(0.5)  # the first count has a worker
            await pool._run(os.getpid)
            done.append("request")
            await asyncio.gather(*counts)
            return done
        finally:
            pool.shutdown()

    done = asyncio.run(scenario())
    assert done[0] == "request", done
    assert sorted(done[1:]) == ["count 0", "count 1"]


def test_workers_do_not_import_the_main_script(tmp_path):
    """Under mitmdump the main script imports all of mitmproxy, which a worker never uses."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    marker = tmp_path / "imported"
    script = tmp_path / "main_script.py"
    script.write_text(f"""
import asyncio, os, sys
if __name__ != "__main__":
    open({str(marker)!r}, "w").write(__name__)
else:
    from dlp_addon import workers
    from dlp_addon.policy import load_policy

    async def main():
        pool = workers.InspectionPool(load_policy("policies/default.yaml"), b"k" * 32, 1)
        try:
            print(await pool._run(os.getpid))
        finally:
            pool.shutdown()

    asyncio.run(main())
""")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(script)], cwd=repo, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().isdigit()  # a worker ran the call
    assert not marker.exists()


def _pool(count: int = 2, hard_timeout: float | None = None):
    pool = workers.InspectionPool(load_policy("policies/default.yaml"), b"k" * 32, count)
    if hard_timeout is not None:
        pool.__class__ = type("QuickPool", (workers.InspectionPool,), {"hard_timeout": hard_timeout})
    return pool


def test_a_worker_that_dies_is_replaced_and_the_other_keeps_its_inspection():
    import asyncio
    import os
    import time

    async def scenario():
        pool = _pool()
        try:
            await asyncio.gather(*(pool._run(os.getpid) for _ in range(2)))  # both workers up
            slow = asyncio.ensure_future(pool._run(time.sleep, 1.5))
            await asyncio.sleep(0.3)
            died = await pool._run(os._exit, 3)
            finished = await slow
            after = await pool._run(os.getpid)
            return died, finished, after, pool.processes_started
        finally:
            pool.shutdown()

    died, finished, after, started = asyncio.run(scenario())
    assert [(p.sub_reason, p.where, p.detail) for p in died.problems] == [
        ("error", "worker", "inspection worker died")]
    assert finished is None  # time.sleep's answer: the other worker was left alone
    assert isinstance(after, int)
    assert started == 3


def test_an_inspection_over_the_hard_timeout_is_cut_and_its_worker_killed():
    import asyncio
    import os
    import time

    async def scenario():
        pool = _pool(count=1, hard_timeout=1.0)
        try:
            stuck_pid = await pool._run(os.getpid)
            began = time.monotonic()
            overran = await pool._run(time.sleep, 60)
            took = time.monotonic() - began
            pool.__class__ = workers.InspectionPool  # the replacement may take longer to start
            after = await pool._run(os.getpid)
            return stuck_pid, overran, took, after
        finally:
            pool.shutdown()

    stuck_pid, overran, took, after = asyncio.run(scenario())
    assert [(p.sub_reason, p.where) for p in overran.problems] == [("timeout", "worker")]
    assert took < 10
    assert isinstance(after, int) and after != stuck_pid
    deadline = time.monotonic() + 10
    while _alive(stuck_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(stuck_pid), "the worker that overran still runs"


def test_each_call_is_cut_at_its_own_deadline_not_an_earlier_calls():
    # One watchdog serves every call in flight: set for the first call's deadline, it must
    # leave a call started later alone until that call's own deadline.
    import asyncio
    import os
    import time

    async def scenario():
        pool = _pool(count=2, hard_timeout=1.5)
        try:
            await asyncio.gather(*(pool._run(os.getpid) for _ in range(2)))
            quick = asyncio.ensure_future(pool._run(time.sleep, 0.2))
            await asyncio.sleep(0.8)
            began = time.monotonic()
            late = asyncio.ensure_future(pool._run(time.sleep, 1.0))  # within its time, past the first's
            stuck = await pool._run(time.sleep, 60)
            return await quick, await late, stuck, time.monotonic() - began
        finally:
            pool.shutdown()

    quick, late, stuck, took = asyncio.run(scenario())
    assert quick is None and late is None  # time.sleep's answers
    assert [(p.sub_reason, p.where) for p in stuck.problems] == [("timeout", "worker")]
    assert 1.4 <= took < 10


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers the signal: it has ended, only not yet been reaped.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_an_abandoned_inspection_never_answers_the_next_one():
    # A cancelled caller's worker is still busy with its call; its answer must not be read as
    # the answer to whatever that worker is asked next.
    import asyncio
    import os
    import time

    async def scenario():
        pool = _pool(count=1)
        try:
            await pool._run(os.getpid)
            abandoned = asyncio.ensure_future(pool._run(time.sleep, 0.5))
            await asyncio.sleep(0.2)
            abandoned.cancel()
            await asyncio.gather(abandoned, return_exceptions=True)
            answers = [await pool._run(os.getpid) for _ in range(3)]
            return answers
        finally:
            pool.shutdown()

    answers = asyncio.run(scenario())
    assert all(isinstance(a, int) for a in answers), answers


def test_what_cannot_be_sent_to_a_worker_is_an_error_problem():
    import asyncio

    async def scenario():
        pool = _pool(count=1)
        try:
            return await pool._run(print, lambda: None)  # a lambda does not pickle
        finally:
            pool.shutdown()

    failed = asyncio.run(scenario())
    assert [(p.sub_reason, p.where) for p in failed.problems] == [("error", "worker")]


def test_a_worker_ends_by_itself_when_the_proxy_end_of_its_socket_closes():
    # So a proxy that is killed leaves no inspection processes behind.
    worker = workers._Worker(load_policy("policies/default.yaml"), b"k" * 32)
    try:
        worker._socket.close()
        assert worker.process.wait(60) == 0
    finally:
        worker.process.kill()


def test_the_link_reads_messages_however_the_socket_cuts_them():
    import asyncio
    import pickle

    class Transport:
        def __init__(self):
            self.written = []

        def write(self, data):
            self.written.append(bytes(data))

    def framed(value) -> bytes:
        data = pickle.dumps(value)
        return workers._LENGTH.pack(len(data)) + data

    async def scenario():
        link = workers._Link()
        link.connection_made(Transport())
        reply = asyncio.ensure_future(link.call(b"call"))
        await asyncio.sleep(0)  # the call is written and waits for its answer
        stream = framed(1234) + framed(("answer", "x" * 5000))  # the start and the answer at once
        link.data_received(stream[:3])
        for position in range(3, len(stream), 700):
            link.data_received(stream[position:position + 700])
        second = asyncio.ensure_future(link.call(b"again"))
        await asyncio.sleep(0)
        link.data_received(framed("second answer"))
        return link.started.result(), pickle.loads(await reply), pickle.loads(await second)

    started, first, second = asyncio.run(scenario())
    assert started is True
    assert first == ("answer", "x" * 5000)
    assert second == "second answer"


def test_a_message_larger_than_the_socket_holds_crosses_whole_both_ways():
    import asyncio

    async def scenario():
        pool = _pool(count=1)
        try:
            body = bytes(range(256)) * (80 * 1024)  # 20 MiB, sent in pieces as the worker reads
            return len(body), await pool._run(bytes, body)
        finally:
            pool.shutdown()

    size, echoed = asyncio.run(scenario())
    assert echoed == bytes(range(256)) * (80 * 1024) and len(echoed) == size


def test_bodies_sent_beside_the_pickle_arrive_as_the_bytes_they_were():
    # A request's body, a window's data and a bytes argument from _APART_FROM on travel as
    # pickle's out-of-band buffers; smaller ones inside the pickle. Each arrives whole, as bytes.
    import asyncio
    import operator

    from dlp_addon import full_count
    from dlp_addon.model import RequestData

    large = bytes(range(256)) * (3 * 1024 + 7)
    small = b"name,phone\n"
    request = RequestData("POST", "example.com", "/upload", (("content-type", "text/csv"),), large)
    window = full_count.Window(small + large, "utf-8", "text/csv", len(small), None)

    async def scenario():
        pool = _pool(count=1)
        try:
            return (await pool._run(operator.attrgetter("body"), request),
                    await pool._run(operator.attrgetter("body", "headers"), RequestData("GET", "h", "/", (), small)),
                    await pool._run(operator.attrgetter("data", "header"), window),
                    await pool._run(type, large))
        finally:
            pool.shutdown()

    body, (small_body, headers), (data, header), kind = asyncio.run(scenario())
    assert len(large) >= workers._APART_FROM
    assert body == large and type(body) is bytes and kind is bytes
    assert small_body == small and headers == ()
    assert data == small + large and header == len(small)


def test_a_worker_that_dies_while_a_large_call_is_sent_fails_that_call_at_once():
    import asyncio
    import os
    import time

    async def scenario():
        pool = _pool(count=1)
        try:
            pid = await pool._run(os.getpid)
            body = b"x" * (64 * 1024 * 1024)  # far more than the socket holds
            call = asyncio.ensure_future(pool._run(len, body))
            await asyncio.sleep(0.05)
            os.kill(pid, 9)
            began = time.monotonic()
            failed = await asyncio.wait_for(call, 30)
            return failed, time.monotonic() - began, await pool._run(len, b"after")
        finally:
            pool.shutdown()

    failed, took, after = asyncio.run(scenario())
    assert [(p.sub_reason, p.where) for p in failed.problems] == [("error", "worker")]
    assert took < 10  # not the hard timeout
    assert after == 5


def test_a_worker_runs_the_package_its_proxy_runs(tmp_path, monkeypatch):
    # The child is a new interpreter: it must import this checkout's dlp_addon, not one that
    # the current directory or the environment's path would give it first.
    import asyncio
    import os

    from dlp_addon.model import RequestData

    decoy = tmp_path / "dlp_addon"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the wrong package')\n")
    pool = _pool(1)  # the policy read first, its path being relative
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))

    async def scenario():
        try:
            return await pool.inspect(RequestData("POST", "example.com", "/", body=b"a@example.com b@example.com"))
        finally:
            pool.shutdown()

    inspection = asyncio.run(scenario())
    assert inspection.problems == () and inspection.counts()["email"] == 2
