"""Per-user memory of what already left: keyed hashes with times, in SQLite.

A leak split into many small requests is only visible across requests, and the gateway may
restart in between, so the window lives on disk. It stores HMAC digests, never identifiers.
Check and record happen in one call on one connection used from one thread, so concurrent
requests of the same user are counted one after the other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from dlp_addon.model import Inspection, Verdict
from dlp_addon.policy import Policy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    user TEXT NOT NULL,
    digest TEXT NOT NULL,
    kind TEXT NOT NULL,
    last_sent REAL NOT NULL,
    PRIMARY KEY (user, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_by_time ON sent (last_sent);
"""


class WindowStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One thread owns the connection (see the addon's recorder executor); the flag only
        # allows that thread to be a different one from the thread that opened it.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.path.chmod(0o600)

    def close(self) -> None:
        self._db.close()

    def window_counts(self, user: str, inspection: Inspection, policy: Policy, now: float) -> dict[str, int]:
        """For each user rule this message adds something new to: the distinct identifiers of
        the rule's kinds sent within its window, together with this message's."""
        if not policy.user_rules or not inspection.evidence:
            return {}
        since = now - policy.longest_window
        rows = self._db.execute(
            "SELECT digest, kind, last_sent FROM sent WHERE user = ? AND last_sent >= ?", (user, since)
        ).fetchall()
        counts = {}
        for rule in policy.user_rules:
            earlier = {digest for digest, kind, sent in rows
                       if kind in rule.kinds and sent >= now - rule.window_seconds}
            mine = inspection.digests(rule.kinds)
            new = mine - earlier
            if new:
                counts[rule.name] = len(earlier) + len(new)
        return counts

    def record(self, user: str, inspection: Inspection, now: float) -> None:
        rows = [(user, e.digest, e.kind, now) for e in inspection.evidence]
        if not rows:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT INTO sent (user, digest, kind, last_sent) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user, digest) DO UPDATE SET last_sent = excluded.last_sent",
                rows,
            )

    def decide_and_record(self, user: str, inspection: Inspection, policy: Policy, now: float,
                          decide: Callable[[Inspection, Policy, dict], Verdict]) -> Verdict:
        """Decide with the user's history; what passes (a log or allow, or a block that monitor
        mode let through) joins the history, what is blocked did not leave and does not."""
        verdict = decide(inspection, policy, self.window_counts(user, inspection, policy, now))
        if verdict.action != "block":
            self.record(user, inspection, now)
        return verdict

    def prune(self, older_than: float) -> int:
        with self._transaction():
            return self._db.execute("DELETE FROM sent WHERE last_sent < ?", (older_than,)).rowcount

    def users(self) -> Iterable[str]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT user FROM sent")]

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, traceback):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False
