"""Items, the example domain (I1-I4): a table in every tenant schema, its service and its routes."""

from app.items.errors import ItemNotFound
from app.items.routes import ItemController

__all__ = ["ItemController", "ItemNotFound"]
