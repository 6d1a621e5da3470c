"""Helpers shared by the tests, one of each; conftest.py files declare fixtures and import from here.

- `tenants`: the admin key, `Tenant`, unique slugs, tenant creation, waiting for trusted Redis reads;
- `problems`: the RFC 9457 problem+json check;
- `processes`: free ports, process liveness and stopping, the `python ...` / `python -m app ...` runner;
- `servers`: the environment of an `app run` process and `serving`, which runs one;
- `embedded`: embedded Valkey and PostgreSQL servers of a test's own, to hang, kill and restart;
- `probes`: polling a running `app run` process over HTTP with deadlines;
- `metrics`: scraping and reading `/metrics`, and concurrent traffic to count;
- `lifespan`: the in-process app's start-up (shared schema first, then its lifespan);
- `sync`: running a coroutine from a synchronous test.
"""
