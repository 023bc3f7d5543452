"""One scenario's figures and its verdict against the issue's targets."""

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Target:
    """One target of a scenario: `figure` is the measured value, `limit` the target's."""

    name: str
    figure: Optional[float]
    limit: float
    at_most: bool = True
    unit: str = "x"

    @property
    def met(self) -> Optional[bool]:
        """None when the figure could not be measured (a failed run)."""
        if self.figure is None:
            return None
        return self.figure <= self.limit if self.at_most else self.figure >= self.limit

    def describe(self) -> str:
        """`req 1.013x<=1.02`, or `wall n/a` when unmeasured."""
        if self.figure is None:
            return f"{self.name} n/a"
        sign = ("<=" if self.met else ">") if self.at_most else (">=" if self.met else "<")
        if self.unit == "%":
            return f"{self.name} {self.figure:.2f}%{sign}{self.limit:g}%"
        if self.unit == "MB":
            return f"{self.name} {self.figure:,.0f}MB{sign}{self.limit:,.0f}MB"
        return f"{self.name} {self.figure:.3f}x{sign}{self.limit:g}x"


@dataclass
class Row:
    """One printed row: a scenario's run, its lower bounds and its verdict."""

    scenario: str
    requests: Optional[int] = None
    bound: Optional[int] = None
    throttled_429: Optional[int] = None
    wall_s: Optional[float] = None
    floor_s: Optional[float] = None
    rows_per_s: Optional[float] = None
    peak_rss_mb: Optional[float] = None
    targets: List[Target] = field(default_factory=list)
    error: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    details: Dict[str, Any] = field(default_factory=dict)

    @property
    def request_ratio(self) -> Optional[float]:
        """Requests made over the lower bound (1.0 is perfect)."""
        return self.requests / self.bound if self.requests is not None and self.bound else None

    @property
    def time_ratio(self) -> Optional[float]:
        """Wall time over its floor (1.0 is perfect)."""
        return self.wall_s / self.floor_s if self.wall_s is not None and self.floor_s else None

    def verdict(self) -> str:
        """`met: ...`, or `MISSED: ...` listing the missed targets first, with figures."""
        if not self.targets:
            return f"FAILED: {self.error}" if self.error else "-"
        missed = [t for t in self.targets if t.met is False]
        unknown = [t for t in self.targets if t.met is None]
        met = [t for t in self.targets if t.met]
        parts = []
        if missed:
            parts.append("MISSED: " + ", ".join(t.describe() for t in missed))
        if unknown:
            parts.append("UNMEASURED: " + ", ".join(t.describe() for t in unknown) + (f" ({self.error})" if self.error else ""))
        if met:
            parts.append("met: " + ", ".join(t.describe() for t in met))
        return " | ".join(parts)

    def as_json(self) -> Dict[str, Any]:
        """Everything, ratios and verdict included, for `bench/results/latest.json`."""
        out = asdict(self)
        out["targets"] = [dict(asdict(t), met=t.met) for t in self.targets]
        out.update(request_ratio=self.request_ratio, time_ratio=self.time_ratio, verdict=self.verdict())
        return out
