import json
import os

from dlp_addon.incident import IncidentLog, Origin, build_incident, new_incident_id
from dlp_addon.keys import load_or_create_key
from dlp_addon.model import Evidence, Inspection, Problem, RuleHit, Verdict


def test_key_is_created_once_owner_only(tmp_path):
    path = tmp_path / "state" / "hmac.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and (path.stat().st_mode & 0o777) == 0o600
    assert load_or_create_key(path) == key
    os.chmod(path, 0o644)
    assert load_or_create_key(path) == key and (path.stat().st_mode & 0o777) == 0o600


def test_incident_record_has_counts_samples_hashes_and_no_identifier(tmp_path):
    inspection = Inspection(
        evidence=(Evidence("email", "d1", "j***@g***.com", "body:json:$.a"), Evidence("phone", "d2", "138****8000", "body")),
        problems=(Problem("too_large", "body", "over 10 bytes"),),
        bytes_inspected=123, safe_path="/upload?x=",
    )
    verdict = Verdict("block", "r", (RuleHit("r", "block", "request", 2, 2),))
    origin = Origin("alice", "proxyauth", "127.0.0.1:5000", "http", "https", "example.net", 443, "POST", "f1")
    record = build_incident(new_incident_id(0.0), 0.0, origin, inspection, verdict, "p.yaml", False)
    log = IncidentLog(tmp_path / "incidents.jsonl")
    log.write(record)
    log.close()
    [line] = (tmp_path / "incidents.jsonl").read_text().splitlines()
    stored = json.loads(line)
    assert stored["id"].startswith("19700101-") and stored["time"] == "1970-01-01T00:00:00.000Z"
    assert stored["counts"] == {"email": 1, "phone": 1, "total": 2}
    assert stored["hashes"] == {"email": ["d1"], "phone": ["d2"]}
    assert stored["samples"] == ["j***@g***.com", "138****8000"]
    assert stored["uninspected"] == [{"sub_reason": "too_large", "where": "body", "detail": "over 10 bytes"}]
    assert (stored["user"], stored["host"], stored["path"], stored["action"]) == ("alice", "example.net", "/upload?x=", "block")
    assert ((tmp_path / "incidents.jsonl").stat().st_mode & 0o077) == 0
