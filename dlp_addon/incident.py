"""Incident records: one JSON line per block or log decision, on disk before the answer goes out.

A record says who sent how many of which customers' records where and when: counts by kind,
masked samples, and a keyed hash of every distinct identifier so the security team can tell
which customers were involved (by hashing their own list with the gateway's key) without the
record holding the identifiers.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dlp_addon.model import KINDS, SAMPLES_PER_KIND, Inspection, Verdict


def new_incident_id(now: float) -> str:
    """Sortable by time, unguessable, short enough to read out on the phone: 20261122-1a2b3c4d5e."""
    return f"{datetime.fromtimestamp(now, timezone.utc):%Y%m%d}-{secrets.token_hex(5)}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent it, where to, over what: known to the adapter, not to the engine."""

    user: str
    user_source: str  # "proxyauth" or "client_address"
    client: str
    channel: str  # "http" or "websocket"
    scheme: str
    host: str
    port: int
    method: str
    flow_id: str = ""


def samples(inspection: Inspection) -> list[str]:
    out = []
    for kind in KINDS:
        out.extend([e.masked for e in inspection.evidence if e.kind == kind][:SAMPLES_PER_KIND])
    return out


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _findings(inspection: Inspection) -> dict:
    """What an incident says about the content: the same fields in a record and its completion."""
    counts = inspection.counts()
    return {
        "counts": {**counts, "total": sum(counts.values())},
        "exempt": inspection.exempt,
        "samples": samples(inspection),
        "where": sorted({e.where for e in inspection.evidence})[:20],
        "hashes": {kind: [e.digest for e in inspection.evidence if e.kind == kind] for kind in KINDS},
        "bytes_inspected": inspection.bytes_inspected,
        "uninspected": [{"sub_reason": p.sub_reason, "where": p.where, "detail": p.detail}
                        for p in inspection.problems],
    }


def build_completion(incident_id: str, now: float, inspection: Inspection) -> dict:
    """The full count of a request that was blocked on its first part (`"partial": true`)."""
    return {"id": incident_id, "time": _iso(now), "update": "complete", **_findings(inspection)}


def build_incident(incident_id: str, now: float, origin: Origin, inspection: Inspection, verdict: Verdict,
                   policy_source: str, monitor: bool, partial: bool = False) -> dict:
    findings = _findings(inspection)
    return {
        "id": incident_id,
        "time": _iso(now),
        "action": verdict.action,
        "would_block": verdict.would_block,
        "rule": verdict.rule,
        "rules": [{"rule": h.rule, "action": h.action, "scope": h.scope, "count": h.count,
                   "threshold": h.threshold} for h in verdict.hits],
        "user": origin.user,
        "user_source": origin.user_source,
        "client": origin.client,
        "channel": origin.channel,
        "scheme": origin.scheme,
        "host": origin.host,
        "port": origin.port,
        "method": origin.method,
        "path": inspection.safe_path,
        "window": verdict.window,
        **findings,
        # Decided on the start of the body; a record with "update": "complete" and the same id
        # follows with the counts of the whole body.
        "partial": partial,
        "flow_id": origin.flow_id,
        "policy": policy_source,
        "monitor": monitor,
    }


class IncidentLog:
    """Append-only JSON lines, fsynced per record: a block is only as good as its record."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        # backslashreplace: a record must never fail to be written over one odd character.
        self._file = os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")
        self._lock = threading.Lock()

    def write(self, record: dict) -> None:
        # The line and its end written apiece: a full count's record is tens of megabytes,
        # and joined they would be copied once more.
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._file.write(line)
            self._file.write("\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()
