"""`dlp`: the engine from the command line.

    dlp scan FILE [--json] [--explain] [--content-type T] [--content-encoding E] [--policy P]
    dlp hash --key STATE_DIR/hmac.key < customers.txt

`scan` opens a file exactly as the gateway opens a request body, so an admin can check why a
file was or was not blocked. `hash` gives the security team the keyed hashes of their own
customer identifiers, to find which customers an incident involved.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import secrets
import sys
from pathlib import Path

from dlp_addon.decide import decide
from dlp_addon.engine import Engine
from dlp_addon.evidence import mask
from dlp_addon.extract import extract_content
from dlp_addon.incident import samples
from dlp_addon.detect.email import canonical_email
from dlp_addon.detect.phone import canonical_phone
from dlp_addon.model import EMAIL, PHONE
from dlp_addon.normalize import normalize
from dlp_addon.policy import PolicyError, load_policy

DEFAULT_POLICY = "policies/default.yaml"


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _guess_type(path: str) -> str:
    if path == "-":
        return ""
    guessed, _ = mimetypes.guess_type(path)
    return guessed or ""


def scan(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    key = Path(args.key).read_bytes() if args.key else secrets.token_bytes(32)
    engine = Engine(policy, key)
    data = _read(args.file)
    content_type = args.content_type if args.content_type is not None else _guess_type(args.file)
    inspection = engine.inspect_content(data, content_type=content_type,
                                        content_encoding=args.content_encoding or "", where="file")
    verdict = decide(inspection, policy)
    counts = inspection.counts()
    result = {
        "file": args.file,
        "distinct": counts,
        "action": verdict.action,
        "rule": verdict.rule,
        "would_block": verdict.would_block,
        "samples": samples(inspection),
        "uninspected": [{"sub_reason": p.sub_reason, "where": p.where, "detail": p.detail}
                        for p in inspection.problems],
        "bytes_inspected": inspection.bytes_inspected,
        "exempt": inspection.exempt,
    }
    if args.key:
        result["hashes"] = {kind: [e.digest for e in inspection.evidence if e.kind == kind] for kind in counts}
    if args.explain:
        result["found"] = _explain(engine, data, content_type, args.content_encoding or "")
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        _print_human(result)
    return 0


def _explain(engine: Engine, data: bytes, content_type: str, content_encoding: str) -> list[dict]:
    """Every occurrence, masked, with the place it was found in (part, field, offset)."""
    extraction = extract_content(data, engine.policy.limits, content_type=content_type,
                                 content_encoding=content_encoding, where="file")
    found, _ = engine.findings(extraction)
    return [{"kind": f.kind, "masked": mask(f.kind, f.raw), "where": f.where, "offset": f.start}
            for f in sorted(found, key=lambda f: (f.where, f.start))]


def _print_human(result: dict) -> None:
    counts = result["distinct"]
    print(f"{result['file']}: {result['action'].upper()}"
          f"{' (rule ' + result['rule'] + ')' if result['rule'] else ''}")
    print(f"  distinct emails: {counts.get('email', 0)}, phones: {counts.get('phone', 0)}"
          f"  ({result['bytes_inspected']} characters inspected)")
    if result["samples"]:
        print("  samples: " + ", ".join(result["samples"]))
    for problem in result["uninspected"]:
        print(f"  not inspected: {problem['sub_reason']} at {problem['where']}: {problem['detail']}")
    for item in result.get("found", []):
        print(f"  {item['kind']:5} {item['masked']:28} {item['where']} @{item['offset']}")


def hash_identifiers(args: argparse.Namespace) -> int:
    """One identifier per line in; kind, keyed hash and masked form out, tab-separated."""
    policy = load_policy(args.policy)
    engine = Engine(policy, Path(args.key).read_bytes())
    unreadable = 0
    for line in sys.stdin:
        text = normalize(line.strip()).text
        if not text:
            continue
        kind = EMAIL if "@" in text else PHONE
        if kind == EMAIL:
            local, _, domain = text.rpartition("@")
            canonical = canonical_email(local, domain)
        else:
            canonical = canonical_phone(text, policy.regions)
        if canonical is None:
            unreadable += 1
            continue
        print(f"{kind}\t{engine.digest(kind, canonical)}\t{mask(kind, line.strip())}")
    if unreadable:
        print(f"dlp: {unreadable} lines were neither a valid email address nor a valid phone number",
              file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlp", description="Customer-data leak detection, offline.")
    commands = parser.add_subparsers(dest="command", required=True)

    scan_cmd = commands.add_parser("scan", help="inspect a file the way the gateway inspects a request body")
    scan_cmd.add_argument("file", help="path of the file, or - for standard input")
    scan_cmd.add_argument("--json", action="store_true", help="print one JSON object")
    scan_cmd.add_argument("--explain", action="store_true", help="list every identifier found, masked, with where")
    scan_cmd.add_argument("--content-type", default=None, help="as the Content-Type header (default: guessed)")
    scan_cmd.add_argument("--content-encoding", default="", help="as the Content-Encoding header, e.g. gzip")
    scan_cmd.add_argument("--policy", default=DEFAULT_POLICY, help=f"policy file (default: {DEFAULT_POLICY})")
    scan_cmd.add_argument("--key", default=None, help="hash key file (e.g. <state dir>/hmac.key) to print hashes")
    scan_cmd.set_defaults(run=scan)

    hash_cmd = commands.add_parser("hash", help="keyed hashes of identifiers read from standard input")
    hash_cmd.add_argument("--key", required=True, help="the gateway's hash key file (<state dir>/hmac.key)")
    hash_cmd.add_argument("--policy", default=DEFAULT_POLICY, help="policy file (its regions read local numbers)")
    hash_cmd.set_defaults(run=hash_identifiers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except PolicyError as e:
        print(f"dlp: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"dlp: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
