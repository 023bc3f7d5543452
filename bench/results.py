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
    lower_bound: bool = False

    @property
    def met(self) -> Optional[bool]:
        """None when unknown: no figure, or a lower bound (a killed run's RSS) still in range."""
        if self.figure is None:
            return None
        met = self.figure <= self.limit if self.at_most else self.figure >= self.limit
        if self.lower_bound and met == self.at_most:
            return None  # the true figure is higher: it may still miss
        return met

    def describe(self) -> str:
        """`req 1.013x<=1.02x`; a killed run's figure reads `>=12,087MB(killed)>400MB`."""
        if self.figure is None:
            return f"{self.name} n/a"
        if self.unit == "%":
            value = f"{self.figure:.2f}%"
        elif self.unit == "MB":
            value = f"{self.figure:,.0f}MB"
        elif self.unit == "s":
            value = f"{self.figure:.2f}s"
        else:
            value = f"{self.figure:.3f}x"
        limit = f"{self.limit:,.0f}MB" if self.unit == "MB" else f"{self.limit:g}{self.unit}"
        if self.lower_bound:
            value = f">={value}(killed)"
        if self.met is None:
            return f"{self.name} {value}, target {'<=' if self.at_most else '>='}{limit}"
        sign = ("<=" if self.met else ">") if self.at_most else (">=" if self.met else "<")
        return f"{self.name} {value}{sign}{limit}"


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
