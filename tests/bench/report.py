"""The one table `make bench` prints: each figure next to its baseline from the same run, the
ratio, and the issue's target with met / not met."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Stat:
    """Repetitions of one figure: shown as median (min-max)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat | None:
        values = tuple(v for v in values if v is not None and not math.isnan(v))
        return cls(values) if values else None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def format(self, unit: str = "") -> str:
        text = num(self.median)
        if len(self.values) > 1:
            text += f" ({num(min(self.values))}-{num(max(self.values))})"
        return text + (f" {unit}" if unit else "")


def num(x: float) -> str:
    if x is None or math.isnan(x):
        return "-"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2g}"


@dataclass(frozen=True)
class Target:
    """`ratio` targets compare the ratio column, `value` targets the DLP figure."""

    text: str
    check: Callable[[float | None, float | None], bool | None]  # (value median, ratio) -> met?


def at_least_value(limit: float, unit: str) -> Target:
    return Target(f">= {num(limit)} {unit}", lambda v, r: None if v is None else v >= limit)


def at_most_value(limit: float, unit: str) -> Target:
    return Target(f"<= {num(limit)} {unit}", lambda v, r: None if v is None else v <= limit)


def at_least_ratio(limit: float) -> Target:
    return Target(f">= {num(limit)}x", lambda v, r: None if r is None else r >= limit)


def at_most_ratio(limit: float) -> Target:
    return Target(f"<= {num(limit)}x", lambda v, r: None if r is None else r <= limit)


@dataclass
class Row:
    section: str
    what: str
    dlp: Stat | None
    base: Stat | None
    unit: str = ""
    base_unit: str | None = None
    target: Target | None = None
    note: str = ""
    ratio_override: float | None = None
    dlp_text: str | None = None  # for figures that are not one number (e.g. "12 / 3")
    base_text: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.ratio_override is not None:
            return self.ratio_override
        if self.dlp is None or self.base is None or self.base.median == 0:
            return None
        return self.dlp.median / self.base.median

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.target.check(self.dlp.median if self.dlp else None, self.ratio)

    def cells(self) -> list[str]:
        base_unit = self.unit if self.base_unit is None else self.base_unit
        dlp = self.dlp_text if self.dlp_text is not None else (self.dlp.format(self.unit) if self.dlp else "-")
        base = self.base_text if self.base_text is not None else (self.base.format(base_unit) if self.base else "-")
        ratio = f"{num(self.ratio)}x" if self.ratio is not None else "-"
        met = {None: "-" if self.target is None else "not measured", True: "met", False: "NOT MET"}[self.met]
        what = self.what + (f" [{self.note}]" if self.note else "")
        return [what, dlp, base, ratio, self.target.text if self.target else "-", met]


HEADER = ["measurement (DLP vs baseline)", "DLP", "baseline", "ratio", "target", "result"]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"| **{section}** |  |  |  |  |  |")
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row.cells()) + " |")
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    judged = [r for r in rows if r.target is not None]
    met = [r for r in judged if r.met]
    missing = [r for r in judged if r.met is None]
    text = f"targets: {len(met)} of {len(judged)} met"
    if missing:
        text += f" ({len(missing)} not measured in this run)"
    return text
