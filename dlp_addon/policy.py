"""Policy: a YAML file validated into frozen dataclasses.

Every error names the file, the field and what is wrong, because a gateway that starts on a
half-understood policy fails open. Unknown keys are errors for the same reason: a misspelt
`treshold` would otherwise silently switch a rule off.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import yaml

from dlp_addon.model import KINDS, SUB_REASONS

ACTIONS = ("allow", "log", "block")
SEVERITY = {action: rank for rank, action in enumerate(ACTIONS)}


class PolicyError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    scope: str  # "request": distinct identifiers in one message; "user": over a time window
    kinds: tuple[str, ...]
    threshold: int
    action: str
    window_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Exemptions:
    destinations: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    company_email_domains: tuple[str, ...] = ()

    def destination_exempt(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self.destinations)

    def user_exempt(self, user: str) -> bool:
        return user in self.users

    def company_domain(self, domain: str) -> bool:
        domain = domain.lower()
        return any(domain == d or domain.endswith("." + d) for d in self.company_email_domains)


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 64 * 1024**2  # raw body the gateway will inspect at all
    max_decoded_bytes: int = 256 * 1024**2  # total output of decompression/decoding per message
    max_ratio: int = 200  # decoded bytes per raw byte before content counts as a bomb
    max_depth: int = 8  # nesting of encodings, multipart and containers
    max_parts: int = 10_000  # multipart parts, form fields, archive members per message
    max_seconds: float = 20.0  # inspection time per message


@dataclass(frozen=True, slots=True)
class BlockPage:
    contact: str = "your IT security team"
    organisation: str = ""


# The seed markets: where local numbers are read from when a policy does not say.
DEFAULT_REGIONS = ("US", "GB", "CN", "RU", "IR", "SA", "AE", "EG", "IN")


@dataclass(frozen=True, slots=True)
class Policy:
    source: str = "<defaults>"
    monitor: bool = False
    regions: tuple[str, ...] = DEFAULT_REGIONS
    rules: tuple[Rule, ...] = ()
    exemptions: Exemptions = field(default_factory=Exemptions)
    uninspectable: tuple[tuple[str, str], ...] = (("default", "block"),)
    limits: Limits = field(default_factory=Limits)
    block_page: BlockPage = field(default_factory=BlockPage)

    def uninspectable_action(self, sub_reason: str) -> str:
        actions = dict(self.uninspectable)
        return actions.get(sub_reason, actions.get("default", "block"))

    @property
    def request_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.scope == "request")

    @property
    def user_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.scope == "user")

    @property
    def longest_window(self) -> int:
        return max((r.window_seconds for r in self.user_rules), default=0)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
               "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(value: Any) -> int:
    """'64MiB', '10MB', '512k', 1048576 -> bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 64MiB, got {value!r}")
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"expected a size such as 64MiB or 10MB, got {value!r}")
    unit = (match.group(2) or "").lower().removesuffix("b")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_duration(value: Any) -> float:
    """'1h', '30m', '90s', '250ms', 3600 -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 1h, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration such as 1h, 30m or 90s, got {value!r}")
    return float(match.group(1)) * _DURATION_UNITS[(match.group(2) or "").lower()]


class _Reader:
    """Walks the YAML document and reports errors as 'file: field.path: problem'."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}: {where}: {problem}")

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                raise self.fail(f"{where}.{key}" if where else str(key), f"unknown field (allowed: {hint})")
        return value

    def string_list(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(where, "expected a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def choice(self, value: Any, where: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(where, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {value!r}")
        return value

    def positive_int(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(where, f"expected a whole number of at least 1, got {value!r}")
        return value

    def converted(self, parse, value: Any, where: str):
        try:
            result = parse(value)
        except ValueError as e:
            raise self.fail(where, str(e)) from None
        if result <= 0:
            raise self.fail(where, f"must be greater than zero, got {value!r}")
        return result


def _rules(r: _Reader, raw: Any) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.fail("rules", "expected a list of rules")
    rules, names = [], set()
    for i, item in enumerate(raw):
        where = f"rules[{i}]"
        item = r.mapping(item, where, {"name", "scope", "kinds", "threshold", "action", "window"})
        for required in ("name", "threshold", "action"):
            if required not in item:
                raise r.fail(f"{where}.{required}", "missing")
        name = item["name"]
        if not isinstance(name, str) or not name.strip():
            raise r.fail(f"{where}.name", "expected a non-empty string")
        if name in names:
            raise r.fail(f"{where}.name", f"duplicate rule name {name!r}")
        names.add(name)
        scope = r.choice(item.get("scope", "request"), f"{where}.scope", ("request", "user"))
        kinds = r.string_list(item.get("kinds", list(KINDS)), f"{where}.kinds")
        for kind in kinds:
            r.choice(kind, f"{where}.kinds", KINDS)
        action = r.choice(item["action"], f"{where}.action", ("log", "block"))
        threshold = r.positive_int(item["threshold"], f"{where}.threshold")
        window = 0
        if scope == "user":
            if "window" not in item:
                raise r.fail(f"{where}.window", "missing (a user rule counts over a window such as 1h)")
            window = int(r.converted(parse_duration, item["window"], f"{where}.window"))
        elif "window" in item:
            raise r.fail(f"{where}.window", "only rules with scope: user have a window")
        rules.append(Rule(name, scope, tuple(dict.fromkeys(kinds)), threshold, action, window))
    return tuple(rules)


def _regions(r: _Reader, raw: Any) -> tuple[str, ...]:
    regions = r.string_list(raw, "regions")
    if not regions:
        raise r.fail("regions", "name at least one region (ISO 3166 code such as US or CN)")
    known = phonenumbers.SUPPORTED_REGIONS
    for code in regions:
        if code.upper() not in known:
            raise r.fail("regions", f"{code!r} is not a region libphonenumber knows")
    return tuple(dict.fromkeys(code.upper() for code in regions))


def _uninspectable(r: _Reader, raw: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(raw, str):
        raw = {"default": raw}
    allowed = {"default", *SUB_REASONS}
    raw = r.mapping(raw, "uninspectable", allowed)
    actions = {"default": "block"}
    for key, value in raw.items():
        # No "allow": content that could not be inspected always leaves a record.
        actions[key] = r.choice(value, f"uninspectable.{key}", ("log", "block"))
    return tuple(actions.items())


def _limits(r: _Reader, raw: Any) -> Limits:
    raw = r.mapping(raw, "limits", set(Limits.__dataclass_fields__))
    values = {}
    for key, value in raw.items():
        where = f"limits.{key}"
        if key == "max_seconds":
            values[key] = r.converted(parse_duration, value, where)
        elif key in ("max_body_bytes", "max_decoded_bytes"):
            values[key] = r.converted(parse_size, value, where)
        else:
            values[key] = r.positive_int(value, where)
    return Limits(**values)


def _exemptions(r: _Reader, raw: Any) -> Exemptions:
    raw = r.mapping(raw, "exemptions", {"destinations", "users", "company_email_domains"})
    domains = r.string_list(raw.get("company_email_domains"), "exemptions.company_email_domains")
    for domain in domains:
        if "@" in domain or "/" in domain or "." not in domain:
            raise r.fail("exemptions.company_email_domains", f"{domain!r} is not a domain name")
    return Exemptions(
        destinations=tuple(p.lower() for p in r.string_list(raw.get("destinations"), "exemptions.destinations")),
        users=r.string_list(raw.get("users"), "exemptions.users"),
        company_email_domains=tuple(d.lower().lstrip("*.").rstrip(".") for d in domains),
    )


def _block_page(r: _Reader, raw: Any) -> BlockPage:
    raw = r.mapping(raw, "block_page", {"contact", "organisation"})
    for key, value in raw.items():
        if not isinstance(value, str):
            raise r.fail(f"block_page.{key}", "expected a string")
    return BlockPage(**raw)


def parse_policy(document: Any, source: str = "<policy>") -> Policy:
    r = _Reader(source)
    top = r.mapping(document, "", {"version", "monitor", "regions", "rules", "exemptions",
                                   "uninspectable", "limits", "block_page"})
    if top.get("version", 1) != 1:
        raise r.fail("version", f"this gateway understands version 1, got {top['version']!r}")
    rules = _rules(r, top.get("rules"))
    if not rules:
        raise r.fail("rules", "a policy needs at least one rule")
    return Policy(
        source=source,
        monitor=r.boolean(top.get("monitor", False), "monitor"),
        regions=_regions(r, top["regions"]) if "regions" in top else DEFAULT_REGIONS,
        rules=rules,
        exemptions=_exemptions(r, top.get("exemptions")),
        uninspectable=_uninspectable(r, top.get("uninspectable")),
        limits=_limits(r, top.get("limits")),
        block_page=_block_page(r, top.get("block_page")),
    )


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{path}: cannot read policy file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise PolicyError(f"{path}: policy file is not UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise PolicyError(f"{path}: {at}not valid YAML: {problem}") from None
    return parse_policy(document, str(path))
