"""What one message may cost to open, and what was found or could not be inspected on the way.

Every extractor works inside one `Budget`: it spends decoded bytes, parts and nesting from
the policy's limits, checks the clock, and reports what it could not open as a `Problem`
instead of raising. So a zip bomb, a million-part form or a body nested fifty times costs a
bounded amount of work, and the decision about it is the policy's, not an accident.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dlp_addon.model import Problem, Segment
from dlp_addon.policy import Limits


class OverBudget(Exception):
    """Raised inside an extractor to stop it; the problem is already recorded."""


@dataclass(slots=True)
class Budget:
    limits: Limits
    deadline: float | None = None
    segments: list[Segment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    bytes_inspected: int = 0
    decoded_bytes: int = 0  # output of decompression and decoding, all layers together
    parts: int = 0

    def add(self, segment: Segment) -> None:
        if segment.text:
            self.segments.append(segment)
            self.bytes_inspected += len(segment.text)

    def problem(self, sub_reason: str, where: str, detail: str) -> None:
        self.problems.append(Problem(sub_reason, where, detail))

    def out_of_time(self, where: str) -> bool:
        """True (and recorded once) when the inspection deadline has passed."""
        if self.deadline is None or time.monotonic() <= self.deadline:
            return False
        if not any(p.sub_reason == "timeout" for p in self.problems):
            self.problem("timeout", where, "inspection time limit reached")
        return True

    def decoded_room(self) -> int:
        return max(0, self.limits.max_decoded_bytes - self.decoded_bytes)

    def spend_decoded(self, amount: int) -> None:
        self.decoded_bytes += amount

    def take_part(self, where: str) -> bool:
        """One more multipart part, form field or container member; False once over the limit."""
        self.parts += 1
        if self.parts == self.limits.max_parts + 1:
            self.problem("too_large", where, f"more than {self.limits.max_parts} parts, fields or members")
        return self.parts <= self.limits.max_parts

    def too_deep(self, depth: int, where: str) -> bool:
        if depth <= self.limits.max_depth:
            return False
        self.problem("too_deep", where, f"nested more than {self.limits.max_depth} levels")
        return True
