"""Entry point for Piccolo's own CLI (`piccolo migrations new items --auto`).

Set DATABASE_URL first; the engine and app registry are the service's own (app.piccolo_conf).
"""

from app.db import configure_engine
from app.piccolo_conf import APP_REGISTRY, DB
from app.settings import Settings

configure_engine(Settings.from_env())

__all__ = ["APP_REGISTRY", "DB"]
