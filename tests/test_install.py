"""Installs as an operator would (scripts/check_install.py), then plays a story turn with the
bundled model while /healthz and /metrics answer, scores texts with the moderation classifier and
reads the SQLite file:

- the Docker image: built from docker/Dockerfile and run (no network) where a Docker daemon runs
  (`.ci/run` starts Debian's docker.io when it can); elsewhere, exactly what the Dockerfile
  installs, in a fresh virtualenv;
- every runtime dependency at the floor pyproject.toml declares, in a fresh virtualenv.

Each takes minutes, so the two run side by side (they wait mostly on pip, Docker and model
loading); pip's cache and Docker's layer cache make reruns faster."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_install.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_install_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check_install = load_script()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
IMAGE_TEST = "test_the_image_installs_and_runs_the_bundled_model"
FLOORS_TEST = "test_the_declared_floors_install_and_run"


@pytest.fixture(scope="module")
def installs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[dict[str, object]]]]:
    """The selected install checks, started together (docker where a daemon runs, else image)."""
    selected = {item.name for item in request.session.items if item.path == Path(__file__)}
    plan = {
        IMAGE_TEST: "docker" if check_install.docker_daemon() else "image",
        FLOORS_TEST: "floors",
    }
    with ThreadPoolExecutor(2) as pool:
        yield {
            test: pool.submit(check_install.check, kind, workdir=tmp_path_factory.mktemp(kind))
            for test, kind in plan.items()
            if test in selected
        }


def test_the_plans_follow_the_dockerfile_and_pyproject() -> None:
    torch, extras, constraints = check_install.dockerfile_plan(
        (ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")
    )
    assert (torch, constraints) == ("2.13.0", "constraints.txt")
    assert {"postgres", "web"} <= set(extras.split(","))
    pins = check_install.floor_pins(PYPROJECT, ("postgres",))
    assert "transformers==5.0" in pins and "prometheus-client==0.20" in pins
    assert "asyncpg==0.29" in pins and not any(p.startswith("torch==") for p in pins)
    with pytest.raises(check_install.InstallCheckFailed, match="ARG TORCH_VERSION"):
        check_install.dockerfile_plan("FROM scratch\n")
    metrics = (
        'storyloom_commands_total{command="story start",outcome="ok",plugin="story"} 1.0\n'
        'storyloom_commands_total{command="story continue",outcome="ok",plugin="story"} 2.0\n'
    )
    assert check_install.commands_counted(metrics, "story", "story continue") == 2
    assert check_install.commands_counted(metrics, "story", "story undo") == 0


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_image_installs_and_runs_the_bundled_model(
    installs: dict[str, Future[dict[str, object]]],
) -> None:
    seen = installs[IMAGE_TEST].result()
    assert len(str(seen["continuation"]).split()) >= 3
    health = seen["health"]
    assert isinstance(health, dict)
    assert health["status"] == "ready" and health["model"].endswith("bot/models/tiny_story")
    # The image's HEALTHCHECK command found /healthz, and `storyloom web` runs in the image.
    assert str(seen["healthcheck"]).startswith("healthy: /healthz on port")
    assert str(seen["web"]).startswith("healthy: storyloom web /healthz")
    if seen["kind"] == "image":
        versions = seen["versions"]
        assert isinstance(versions, dict)
        assert versions["torch"].startswith("2.13.0")


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_declared_floors_install_and_run(
    installs: dict[str, Future[dict[str, object]]],
) -> None:
    seen = installs[FLOORS_TEST].result()
    versions = seen["versions"]
    assert isinstance(versions, dict)
    installed = {canonicalize_name(k): v for k, v in versions.items()}
    for pin in check_install.floor_pins(PYPROJECT, check_install.FLOOR_EXTRAS):
        name, floor = pin.split("==")
        version = installed[canonicalize_name(name)]
        assert Version(version) == Version(floor), f"{name} {version} is not at its floor"
