"""`dlp scan` and `dlp hash`: the engine offline, exactly as the gateway opens a body."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlp_addon.cli import main
from dlp_addon.keys import load_or_create_key

POLICY = str(Path(__file__).resolve().parents[2] / "policies" / "default.yaml")
CUSTOMERS = "name,email,phone\n" + "".join(
    f"Customer {i},customer{i}@example.com,+44 7911 1234{i:02d}\n" for i in range(8))


def scan(capsys, *args) -> dict:
    assert main(["scan", *args, "--json", "--policy", POLICY]) == 0
    return json.loads(capsys.readouterr().out)


def test_scan_counts_and_decides(tmp_path, capsys):
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS)
    result = scan(capsys, str(path))
    assert result["distinct"] == {"email": 8, "phone": 8} and result["action"] == "block"
    assert result["rule"] == "bulk-in-one-request"
    assert "customer0@example.com" not in json.dumps(result)  # masked samples only


def test_scan_opens_a_compressed_file_as_the_header_says(tmp_path, capsys):
    path = tmp_path / "upload.bin"
    path.write_bytes(gzip.compress(CUSTOMERS.encode("utf-16")))
    assert scan(capsys, str(path), "--content-encoding", "gzip")["distinct"]["email"] == 8
    result = scan(capsys, str(path), "--content-encoding", "br")
    assert result["action"] == "block" and result["uninspected"][0]["sub_reason"] == "bad_encoding"


def test_scan_explain_lists_masked_places(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"rows": [{"email": "a@example.com"}, {"phone": "+86 138 0013 8000"}]}))
    found = scan(capsys, str(path), "--explain")["found"]
    assert [(f["kind"], f["where"]) for f in found] == [
        ("email", "file:json:$.rows[0].email"), ("phone", "file:json:$.rows[1].phone")]
    assert found[0]["masked"] == "a***@e***.com"


def test_scan_reads_standard_input():
    done = subprocess.run([sys.executable, "-m", "dlp_addon.cli", "scan", "-", "--json", "--policy", POLICY,
                           "--content-type", "application/json"],
                          input=b'{"email": "a@example.com", "tel": "+7 912 345-67-89", "x": "b@example.org"}',
                          capture_output=True, timeout=60, check=True)
    result = json.loads(done.stdout)
    assert result["distinct"] == {"email": 2, "phone": 1} and result["action"] == "log"


def test_bad_policy_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text("rules: [{name: r, treshold: 3, action: block}]\n")
    (tmp_path / "f.txt").write_text("x")
    assert main(["scan", str(tmp_path / "f.txt"), "--policy", str(bad)]) == 2
    assert "treshold" in capsys.readouterr().err


def test_hash_matches_the_incident_hashes(tmp_path, capsys, monkeypatch):
    key_path = tmp_path / "hmac.key"
    load_or_create_key(key_path)
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS)
    assert main(["scan", str(path), "--json", "--policy", POLICY, "--key", str(key_path)]) == 0
    incident_hashes = json.loads(capsys.readouterr().out)["hashes"]
    import io
    monkeypatch.setattr(sys, "stdin", io.StringIO("Customer0@Example.com\n+447911123400\nnot an identifier\n"))
    assert main(["hash", "--key", str(key_path), "--policy", POLICY]) == 0
    out = capsys.readouterr()
    rows = [line.split("\t") for line in out.out.splitlines()]
    assert rows[0][0] == "email" and rows[0][1] in incident_hashes["email"]
    assert rows[1][0] == "phone" and rows[1][1] in incident_hashes["phone"]
    assert "1 lines" in out.err
