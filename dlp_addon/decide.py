"""Decide: an inspection plus the sender's recent history, against the policy -> a verdict.

Pure: no I/O, no clock, no mitmproxy. The per-user totals come from the window store, which
computes them inside the same serialised step that records what passed, so two requests from
one user cannot both slip under the limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from dlp_addon.model import Inspection, RuleHit, Verdict
from dlp_addon.policy import SEVERITY, Policy, Rule


def decide(inspection: Inspection, policy: Policy, window_counts: Mapping[str, int] | None = None) -> Verdict:
    """`window_counts` maps each user rule's name to the distinct identifiers of its kinds the
    user sent within its window together with this message's; a rule is absent when this
    message adds nothing new to it (a request without identifiers is never blocked by history)."""
    counts = inspection.counts()
    window_counts = dict(window_counts or {})
    hits: list[RuleHit] = []
    for rule in policy.request_rules:
        count = _counted(rule, counts)
        if count >= rule.threshold:
            hits.append(RuleHit(rule.name, rule.action, "request", count, rule.threshold))
    for rule in policy.user_rules:
        count = window_counts.get(rule.name, 0)
        if count >= rule.threshold:
            hits.append(RuleHit(rule.name, rule.action, "user", count, rule.threshold))
    for sub_reason in dict.fromkeys(p.sub_reason for p in inspection.problems):
        action = policy.uninspectable_action(sub_reason)
        if action != "allow":
            hits.append(RuleHit(f"uninspectable:{sub_reason}", action, "uninspectable"))
    if not hits:
        return Verdict("allow", window=window_counts)
    deciding = max(hits, key=lambda hit: SEVERITY[hit.action])  # first of the most severe
    if deciding.action == "block" and policy.monitor:
        return Verdict("log", deciding.rule, tuple(hits), would_block=True, window=window_counts)
    return Verdict(deciding.action, deciding.rule, tuple(hits), window=window_counts)


def certain_block(partial: Inspection, policy: Policy) -> bool:
    """Whether identifiers found in part of a message already block it, whatever the rest holds.

    More content can only add identifiers and problems, and block is the most severe action,
    so a request rule that blocks on the part blocks on the whole. In monitor mode nothing is
    certain to be held back, and what passes must be counted whole for the user's window."""
    if policy.monitor:
        return False
    counts = partial.counts()
    return any(rule.action == "block" and _counted(rule, counts) >= rule.threshold for rule in policy.request_rules)


def _counted(rule: Rule, counts: Mapping[str, int]) -> int:
    """The distinct identifiers of the kinds a rule counts."""
    return sum(counts.get(kind, 0) for kind in rule.kinds)
