from pathlib import Path

import pytest

from dlp_addon.policy import PolicyError, load_policy, parse_duration, parse_size, parse_policy

ROOT = Path(__file__).resolve().parents[2]
MINIMAL_RULES = [{"name": "r", "threshold": 3, "action": "log"}]


def test_default_policy_means_what_the_readme_says():
    policy = load_policy(ROOT / "policies" / "default.yaml")
    assert not policy.monitor
    assert set(policy.regions) >= {"US", "GB", "CN", "RU", "IR", "SA", "AE", "EG", "IN"}
    by_name = {r.name: r for r in policy.rules}
    block, log, user = by_name["bulk-in-one-request"], by_name["several-in-one-request"], by_name["bulk-per-user-per-hour"]
    assert (block.scope, block.threshold, block.action, set(block.kinds)) == ("request", 10, "block", {"email", "phone"})
    assert (log.scope, log.threshold, log.action, set(log.kinds)) == ("request", 3, "log", {"email", "phone"})
    assert (user.scope, user.threshold, user.action, user.window_seconds) == ("user", 50, "block", 3600)
    assert policy.uninspectable_action("bad_encoding") == "block"


@pytest.mark.parametrize("document, field", [
    ({"rules": [{"name": "r", "threshold": -1, "action": "block"}]}, "rules[0].threshold"),
    ({"rules": [{"name": "r", "treshold": 10, "action": "block"}]}, "rules[0].treshold"),
    ({"rules": [{"name": "r", "threshold": 10, "action": "explode"}]}, "rules[0].action"),
    ({"rules": [{"name": "r", "threshold": 10, "action": "block", "scope": "user"}]}, "rules[0].window"),
    ({"rules": [{"name": "r", "threshold": 10, "action": "block", "kinds": ["ssn"]}]}, "rules[0].kinds"),
    ({"rules": MINIMAL_RULES, "regions": ["XX"]}, "regions"),
    ({"rules": MINIMAL_RULES, "monitor": "yes"}, "monitor"),
    ({"rules": MINIMAL_RULES, "limits": {"max_body_bytes": "lots"}}, "limits.max_body_bytes"),
    ({"rules": MINIMAL_RULES, "uninspectable": {"corrupt": "allow"}}, "uninspectable.corrupt"),
    ({"rules": MINIMAL_RULES, "uninspectable": {"bogus": "log"}}, "uninspectable.bogus"),
    ({"rules": MINIMAL_RULES, "exemptions": {"company_email_domains": ["a@b.com"]}}, "exemptions.company_email_domains"),
    ({"rules": MINIMAL_RULES, "extra": 1}, "extra"),
    ({"rules": []}, "rules"),
])
def test_errors_name_the_file_and_the_field(document, field):
    with pytest.raises(PolicyError) as error:
        parse_policy(document, "p.yaml")
    assert str(error.value).startswith(f"p.yaml: {field}: ")


def test_yaml_syntax_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - name: a\n    threshold: [1\n")
    with pytest.raises(PolicyError, match=r"bad.yaml: line \d+, column \d+: not valid YAML"):
        load_policy(path)


def test_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, size", [("64MiB", 64 * 2**20), ("10MB", 10**7), ("512k", 512000), (1024, 1024), ("2 GiB", 2 * 2**30)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text, seconds", [("1h", 3600), ("30m", 1800), ("90s", 90), ("250ms", 0.25), (60, 60)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_exemptions():
    policy = parse_policy({"rules": MINIMAL_RULES, "exemptions": {
        "destinations": ["*.corp.example.com", "crm.example.com"], "users": ["backup"],
        "company_email_domains": ["Example.com"]}})
    ex = policy.exemptions
    assert ex.destination_exempt("files.corp.example.com") and ex.destination_exempt("CRM.example.com")
    assert not ex.destination_exempt("crm.example.com.evil.test") and not ex.destination_exempt("corp.example.com.x")
    assert ex.user_exempt("backup") and not ex.user_exempt("alice")
    assert ex.company_domain("example.com") and ex.company_domain("mail.example.com")
    assert not ex.company_domain("notexample.com")


def test_a_policy_without_regions_reads_the_seed_markets():
    policy = parse_policy({"rules": [{"name": "r", "threshold": 3, "action": "log"}]})
    assert policy.regions == ("US", "GB", "CN", "RU", "IR", "SA", "AE", "EG", "IN")
