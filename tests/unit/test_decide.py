import pytest

from dlp_addon.decide import decide
from dlp_addon.model import Evidence, Inspection, Problem
from dlp_addon.policy import parse_policy

POLICY = parse_policy({
    "rules": [
        {"name": "block10", "threshold": 10, "action": "block"},
        {"name": "log3", "threshold": 3, "action": "log"},
        {"name": "emails5", "threshold": 5, "action": "block", "kinds": ["email"]},
        {"name": "hour", "scope": "user", "window": "1h", "threshold": 50, "action": "block"},
    ],
    "uninspectable": {"default": "block", "corrupt": "log"},
})


def inspection(emails=0, phones=0, problems=()):
    evidence = [Evidence("email", f"e{i}", "m", "w") for i in range(emails)]
    evidence += [Evidence("phone", f"p{i}", "m", "w") for i in range(phones)]
    return Inspection(tuple(evidence), tuple(Problem(p, "body", "") for p in problems))


@pytest.mark.parametrize("emails, phones, action, rule", [
    (0, 0, "allow", ""), (1, 1, "allow", ""), (2, 1, "log", "log3"), (0, 9, "log", "log3"),
    (4, 5, "log", "log3"), (5, 5, "block", "block10"), (0, 10, "block", "block10"), (5, 0, "block", "emails5"),
])
def test_request_rules(emails, phones, action, rule):
    verdict = decide(inspection(emails, phones), POLICY)
    assert (verdict.action, verdict.rule) == (action, rule)


def test_user_window():
    assert decide(inspection(2, 0), POLICY, {"hour": 49}).action == "allow"
    verdict = decide(inspection(2, 0), POLICY, {"hour": 50})
    assert (verdict.action, verdict.rule, verdict.window) == ("block", "hour", {"hour": 50})


@pytest.mark.parametrize("problems, action", [(("bad_encoding",), "block"), (("corrupt",), "log"),
                                              (("corrupt", "too_large"), "block")])
def test_uninspectable_content_gets_the_policy_action(problems, action):
    verdict = decide(inspection(problems=problems), POLICY)
    assert verdict.action == action and verdict.rule.startswith("uninspectable:")


def test_monitor_mode_logs_what_it_would_block():
    from dataclasses import replace
    verdict = decide(inspection(0, 12), replace(POLICY, monitor=True))
    assert (verdict.action, verdict.would_block, verdict.rule) == ("log", True, "block10")
