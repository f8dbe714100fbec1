"""Problems found in a cluster configuration, and the exception that carries them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One finding: ``severity`` is ``"error"``, ``"warning"`` or ``"note"`` (not applicable to Python)."""

    severity: str
    message: str
    line: int | None = None
    element: str | None = None
    attribute: str | None = None
    source: str | None = None

    def location(self) -> str:
        where = self.source or "<config>"
        return f"{where}:{self.line}" if self.line is not None else where

    def __str__(self) -> str:
        return f"{self.location()}: {self.severity}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "message": self.message,
            "source": self.source,
            "line": self.line,
            "element": self.element,
            "attribute": self.attribute,
        }


class ConfigError(ValueError):
    """The configuration cannot be used; ``problems`` lists every error (and the warnings seen)."""

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("error", problems)]
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        shown = errors or self.problems
        text = "\n".join(str(p) for p in shown)
        if len(shown) > 1:
            text = f"{len(errors)} configuration errors:\n{text}"
        super().__init__(text)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]
