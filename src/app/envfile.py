"""The `.env` file and the dev data directory, found from any directory of the project.

Every command reads `.env` (python-dotenv's syntax) into its environment before its settings: a
variable already set in the environment wins over the file, so `DATABASE_URL=... app run` still
works with a `.env` present. The file is the first `.env` in the working directory or one of its
parents; `ENV_FILE` names another file, and `ENV_FILE=` (empty) reads none.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

from app.settings import SettingsError

ENV_FILE_VARIABLE = "ENV_FILE"


def nearest(name: str, start: Path | None = None) -> Path | None:
    """`name` in `start` (default: the working directory) or the nearest parent that has it."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / name).exists():
            return directory / name
    return None


def env_file() -> Path | None:
    """The file `load_env_file` reads: ENV_FILE if set (None when empty), else the nearest `.env`."""
    if ENV_FILE_VARIABLE in os.environ:
        chosen = os.environ[ENV_FILE_VARIABLE]
        return Path(chosen) if chosen else None
    return nearest(".env")


def load_env_file() -> Path | None:
    """Put the variables of the env file into `os.environ`, except those the environment already sets.

    A variable set to an empty string in the environment counts as unset (as everywhere in the
    settings), so the file's value applies. Returns the file read, if any; an ENV_FILE that names no
    file is a SettingsError (a typo must not silently drop the configuration).
    """
    path = env_file()
    if path is not None and not path.is_file() and ENV_FILE_VARIABLE in os.environ:
        raise SettingsError(f"{ENV_FILE_VARIABLE}={str(path)!r} is not a file")
    if path is None or not path.is_file():
        return None
    for name, value in dotenv_values(path).items():
        if value is not None and not os.environ.get(name):
            os.environ[name] = value
    return path
