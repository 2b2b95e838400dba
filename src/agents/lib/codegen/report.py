"""What verification found: one :class:`CheckResult` per check, gathered in a :class:`VerificationReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CheckResult", "VerificationReport"]


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, a one-line message, and the problems found."""

    name: str
    passed: bool
    message: str
    problems: tuple[str, ...] = ()
    duration_ms: float = 0.0
    skipped: bool = False


@dataclass(frozen=True)
class VerificationReport:
    """What :func:`verify_generated` found."""

    path: Path
    packages: tuple[str, ...]
    checks: tuple[CheckResult, ...] = field(default_factory=tuple)
    tests_passed: int = 0

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        """The checks that did not pass (skipped ones included)."""
        return tuple(c for c in self.checks if not c.passed)

    def check(self, name: str) -> CheckResult:
        """Return the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def summary(self) -> str:
        """One line: passed, or which checks failed and why."""
        if self.passed:
            return f"verified: {len(self.checks)} checks passed, {self.tests_passed} tests passed"
        return "; ".join(f"{c.name}: {c.message}" for c in self.failed_checks if not c.skipped)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly form."""
        return {
            "path": str(self.path),
            "passed": self.passed,
            "packages": list(self.packages),
            "tests_passed": self.tests_passed,
            "checks": [
                {
                    "name": c.name,
                    "passed": c.passed,
                    "skipped": c.skipped,
                    "message": c.message,
                    "problems": list(c.problems),
                    "duration_ms": round(c.duration_ms, 1),
                }
                for c in self.checks
            ],
        }
