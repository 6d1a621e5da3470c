"""Piccolo app of the items domain; its migrations are applied to every tenant schema."""

from __future__ import annotations

import os

from piccolo.conf.apps import AppConfig

from app.items.tables import Item

APP_CONFIG = AppConfig(
    app_name="items",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Item],
)
