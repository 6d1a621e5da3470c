"""Tenancy: the registry, tokens, resolution, lifecycle service, admin routes and CLI."""
