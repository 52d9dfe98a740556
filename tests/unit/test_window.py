from dlp_addon.decide import decide
from dlp_addon.model import Evidence, Inspection
from dlp_addon.policy import parse_policy
from dlp_addon.window import WindowStore

POLICY = parse_policy({"rules": [
    {"name": "hour", "scope": "user", "window": "1h", "threshold": 5, "action": "block"},
    {"name": "phones-day", "scope": "user", "window": "1d", "threshold": 3, "action": "log", "kinds": ["phone"]},
]})


def ids(*digests, kind="email"):
    return Inspection(tuple(Evidence(kind, d, "m", "w") for d in digests))


def test_a_split_leak_is_stopped_and_blocked_identifiers_do_not_fill_the_window(tmp_path):
    store = WindowStore(tmp_path / "w.sqlite3")
    now = 1_000_000.0
    assert store.decide_and_record("alice", ids("a", "b"), POLICY, now, decide).action == "allow"
    assert store.decide_and_record("alice", ids("b", "c"), POLICY, now + 1, decide).action == "allow"  # b repeats
    verdict = store.decide_and_record("alice", ids("d", "e"), POLICY, now + 2, decide)
    assert (verdict.action, verdict.window["hour"]) == ("block", 5)
    # d and e did not leave: a smaller request still fits under the limit
    assert store.decide_and_record("alice", ids("d"), POLICY, now + 3, decide).action == "allow"
    assert store.decide_and_record("bob", ids("x", "y", "z"), POLICY, now + 4, decide).action == "allow"


def test_requests_adding_nothing_new_are_not_blocked_by_history(tmp_path):
    store = WindowStore(tmp_path / "w.sqlite3")
    store.record("alice", ids("a", "b", "c", "d", "e", "f"), 100.0)
    assert store.window_counts("alice", ids("a"), POLICY, 101.0) == {}
    assert store.window_counts("alice", ids(), POLICY, 101.0) == {}
    assert store.window_counts("alice", ids("new"), POLICY, 101.0) == {"hour": 7}


def test_window_expires_and_kinds_are_separate(tmp_path):
    store = WindowStore(tmp_path / "w.sqlite3")
    store.record("alice", ids("a", "b", "c", "d"), 0.0)
    store.record("alice", ids("p1", "p2", kind="phone"), 0.0)
    counts = store.window_counts("alice", ids("p3", kind="phone"), POLICY, 3601.0)
    assert counts == {"hour": 1, "phones-day": 3}
    assert store.prune(older_than=1.0) == 6


def test_survives_a_restart(tmp_path):
    path = tmp_path / "w.sqlite3"
    store = WindowStore(path)
    store.record("alice", ids("a", "b", "c", "d"), 10.0)
    store.close()
    reopened = WindowStore(path)
    assert reopened.window_counts("alice", ids("e"), POLICY, 20.0)["hour"] == 5
    assert (path.stat().st_mode & 0o077) == 0
