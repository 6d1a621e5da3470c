"""What a fleet migration run found and did: per schema, and for the whole run (T6)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["migrated", "current", "failed", "skipped", "pending"]
"""`pending` only in `--check` runs; `skipped`: a tenant being deleted (or gone) meanwhile."""


TargetKind = Literal["shared", "template", "tenant"]


@dataclass(frozen=True, slots=True)
class Target:
    """A schema to migrate: a tenant's, the shared one, or the template new tenants are cloned from."""

    slug: str | None
    schema: str
    kind: TargetKind = "tenant"


@dataclass(frozen=True, slots=True)
class SchemaResult:
    """The outcome for one schema."""

    target: Target
    outcome: Outcome
    duration_ms: float
    applied: tuple[str, ...] = ()
    """`app:id` of each migration applied (committed) in this run."""
    pending: tuple[str, ...] = ()
    """`app:id` of each migration not yet applied (`--check`, or after a failure)."""
    failed_migration: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the schema is current (or legitimately out of scope) after this run."""
        return self.outcome in ("migrated", "current", "skipped")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "slug": self.target.slug,
            "schema": self.target.schema,
            "status": self.outcome,
            "applied": list(self.applied),
            "pending": list(self.pending),
            "failed_migration": self.failed_migration,
            "error": self.error,
            "duration_ms": round(self.duration_ms, 1),
        }


@dataclass(slots=True)
class RunSummary:
    """A whole run: the shared schema, then every tenant it looked at."""

    run_id: str
    check: bool
    shared: SchemaResult
    template: SchemaResult | None = None
    """The tenant template (None when the run did not look at it: `--tenant`, or the shared schema failed)."""
    tenants: list[SchemaResult] = field(default_factory=list)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Exit status 0: the shared schema, the template and every tenant are current."""
        schemas = [self.shared, *([self.template] if self.template else []), *self.tenants]
        return all(result.ok for result in schemas)

    def count(self, outcome: Outcome) -> int:
        """How many tenants ended with `outcome`."""
        return sum(1 for result in self.tenants if result.outcome == outcome)

    def with_outcome(self, outcome: Outcome) -> list[SchemaResult]:
        """The tenants that ended with `outcome`, in the order they were listed."""
        return [result for result in self.tenants if result.outcome == outcome]

    def as_dict(self) -> dict[str, Any]:
        """The one JSON object of `--json`."""
        applied = Counter(label for result in self.tenants for label in result.applied)
        return {
            "run_id": self.run_id,
            "mode": "check" if self.check else "migrate",
            "ok": self.ok,
            "duration_seconds": round(self.duration_seconds, 3),
            "shared": self.shared.as_dict(),
            "template": self.template.as_dict() if self.template else None,
            "tenants": {
                "total": len(self.tenants),
                "migrated": self.count("migrated"),
                "current": self.count("current"),
                "failed": self.count("failed"),
                "pending": self.count("pending"),
                "skipped": self.count("skipped"),
            },
            "applied": dict(sorted(applied.items())),
            "failed": [_brief(result) for result in self.with_outcome("failed")],
            "pending": [_brief(result) for result in self.with_outcome("pending")],
        }


def _brief(result: SchemaResult) -> dict[str, Any]:
    return {
        "slug": result.target.slug,
        "schema": result.target.schema,
        "migration": result.failed_migration,
        "error": result.error,
        "pending": list(result.pending),
    }
