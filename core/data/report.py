"""The validation report: one outcome, and every finding with a count, examples and what was done."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from core import schema

ISSUE = "issue"  # rows were excluded or altered, or series need attention: ACCEPT WITH ISSUES
NOTICE = "notice"  # the loader interpreted something (encoding, layout, a rule): still ACCEPT


@dataclass(frozen=True)
class Finding:
    """One thing the validator found: ``message`` says what and what was done about it."""

    code: str
    severity: str
    message: str
    count: int = 0
    examples: tuple[str, ...] = ()


@dataclass
class ValidationReport:
    """What became of an upload. ``outcome`` is one of ACCEPT, ACCEPT WITH ISSUES, REJECT."""

    outcome: str
    headline: str
    findings: list[Finding] = field(default_factory=list)
    mapping: dict[str, str | None] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    freq: str = ""
    rows_read: int = 0
    rows_clean: int = 0
    n_series: int = 0
    start: str = ""
    end: str = ""

    @property
    def issues(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ISSUE]

    @property
    def notices(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == NOTICE]

    @property
    def accepted(self) -> bool:
        return self.outcome != schema.REJECT

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ValidationReport":
        findings = [Finding(**{**f, "examples": tuple(f.get("examples", ()))}) for f in data.get("findings", [])]
        return cls(**{**data, "findings": findings})

    def findings_frame(self) -> pd.DataFrame:
        """The findings as a table for display: severity, what, count, examples."""
        return pd.DataFrame(
            {
                "severity": [f.severity for f in self.findings],
                "finding": [f.message for f in self.findings],
                "count": [f"{f.count:,}" if f.count else "" for f in self.findings],
                "examples": ["; ".join(f.examples) for f in self.findings],
            }
        )

    def to_text(self) -> str:
        """A plain-text report for the command line."""
        lines = [f"{self.outcome}: {self.headline}"]
        if self.source:
            lines.append("Read: " + ", ".join(f"{k} {v}" for k, v in self.source.items() if v))
        mapped = {k: v for k, v in self.mapping.items() if v}
        if mapped:
            lines.append("Columns: " + ", ".join(f"{k} <- '{_short(v, 40)}'" for k, v in mapped.items()))
        if self.accepted:
            lines.append(
                f"Imported: {self.rows_clean:,} rows from {self.rows_read:,} read, {self.n_series:,} series, "
                f"{schema.FREQ_NAMES.get(self.freq, self.freq)}, {self.start} to {self.end}"
            )
        for title, group in (("Issues", self.issues), ("Notices", self.notices)):
            if group:
                lines.append(f"{title}:")
                for finding in group:
                    lines.append(f"  - {finding.message}")
                    if finding.examples:
                        lines.append(f"      e.g. {'; '.join(finding.examples)}")
        return "\n".join(lines)


def _short(text: str, limit: int = 60) -> str:
    text = str(text).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def example(row: object, value: object) -> str:
    """Format one example as ``row 12: '12 pcs'`` (long values shortened, newlines shown as ``\\n``)."""
    where = f"row {row}" if pd.notna(row) else "added"
    return f"{where}: {_short(value)!r}" if not isinstance(value, str) else f"{where}: '{_short(value)}'"
