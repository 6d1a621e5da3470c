"""Telemetry: one Litestar plugin per signal (logs now; traces and metrics follow)."""
