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
