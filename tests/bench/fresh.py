"""Run one function in a fresh interpreter (spawned), so that every repetition starts cold:
no lru_cache, no compiled pattern, no validated number left over from the one before."""

from __future__ import annotations

import multiprocessing
import traceback


def _child(conn, fn, args):
    try:
        conn.send((True, fn(*args)))
    except BaseException:  # noqa: BLE001 - whatever happened is reported to the parent
        conn.send((False, traceback.format_exc()))
    finally:
        conn.close()


def run_fresh(fn, *args, timeout: float | None = None):
    """fn(*args) in a spawned child process; its result, or RuntimeError with the child's traceback.
    The child is killed on timeout, on error and on Ctrl-C."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, fn, args), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise TimeoutError(f"{fn.__name__} did not finish within {timeout} s")
        ok, value = parent.recv()
    except EOFError:
        raise RuntimeError(f"{fn.__name__}: the child process died (exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        parent.close()
    if not ok:
        raise RuntimeError(f"{fn.__name__} failed in its child process:\n{value}")
    return value
