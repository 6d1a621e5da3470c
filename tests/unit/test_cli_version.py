"""`app --version` names the installed version."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from click.testing import CliRunner

from app.__main__ import main


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag_prints_the_package_version(flag: str) -> None:
    """`app --version` (or `-V`) prints `cobreja <version of the installed package>` and exits 0."""
    result = CliRunner().invoke(main, [flag])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"cobreja {version('cobreja')}"
