"""How a fleet run shows itself: a rich progress bar on a terminal, plain log lines elsewhere, a summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from app.tenants.fleet.summary import Outcome, RunSummary, SchemaResult


def describe(result: SchemaResult) -> str:
    """One line about one schema: `tenant_x: applied 1 migration in 12 ms`."""
    took = f"{result.duration_ms:.0f} ms"
    match result.outcome:
        case "migrated":
            count = len(result.applied)
            what = f"applied {count} migration{'s' if count != 1 else ''} in {took}"
        case "current":
            what = f"already current ({took})"
        case "pending":
            what = f"{len(result.pending)} pending: {', '.join(result.pending)}"
        case "skipped":
            what = f"skipped: {result.error}"
        case _:
            at = f" at {result.failed_migration}" if result.failed_migration else ""
            what = f"FAILED{at} after {took}: {result.error}"
    return f"{result.target.schema}: {what}"


class LineReporter:
    """`[i/N] tenant_x: ...` for every schema, through `echo` (log files, CI, pipes)."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.total = 0
        self.finished = 0

    def schema(self, result: SchemaResult) -> None:
        """Report the shared schema or the template."""
        self.echo(f"[{result.target.kind}] {describe(result)}")

    def add(self, count: int) -> None:
        """Grow N."""
        self.total += count

    def done(self, result: SchemaResult) -> None:
        """Report one tenant schema."""
        self.finished += 1
        self.echo(f"[{self.finished}/{self.total}] {describe(result)}")


class BarReporter:
    """A rich progress bar; failures (and the shared schema) are printed above it as they happen."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task = bar.add_task("tenants", total=0)

    def schema(self, result: SchemaResult) -> None:
        """Print the line of the shared schema or the template."""
        self.bar.console.print(escape(f"[{result.target.kind}] {describe(result)}"))

    def add(self, count: int) -> None:
        """Grow the bar's total."""
        self.bar.update(self.task, total=(self.bar.tasks[0].total or 0) + count)

    def done(self, result: SchemaResult) -> None:
        """Advance; print the line if the schema did not end well."""
        if not result.ok or result.outcome == "skipped":
            self.bar.console.print(escape(describe(result)))
        self.bar.advance(self.task)


@contextmanager
def progress_bar(console: Console) -> Iterator[BarReporter]:
    """A live progress bar on `console` for the duration of the block."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        yield BarReporter(bar)


def summary_lines(summary: RunSummary, with_schemas: bool = True) -> list[str]:
    """The human summary printed at the end of a run (the shared schema's and template's lines if `with_schemas`)."""
    counts: tuple[Outcome, ...] = ("migrated", "current", "pending", "failed", "skipped")
    shown = ", ".join(f"{summary.count(c)} {'already current' if c == 'current' else c}" for c in counts
                      if summary.count(c) or c in ("migrated", "current", "failed"))
    lines = [f"shared schema: {describe(summary.shared)}"] if with_schemas else []
    lines += [f"template: {describe(summary.template)}"] if summary.template and with_schemas else []
    lines.append(f"tenants: {len(summary.tenants)} total, {shown}")
    lines += [f"  failed  {describe(result)}" for result in summary.with_outcome("failed")]
    lines += [f"  pending {describe(result)}" for result in summary.with_outcome("pending")]
    verdict = "every schema is current" if summary.ok else "NOT every schema is current"
    lines.append(f"run {summary.run_id} took {summary.duration_seconds:.2f} s: {verdict}")
    return lines
