"""The inspection worker's process, as the pool starts it."""

import gc
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
