"""Declared dependencies match what the code needs and imports; the images are pinned."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCAL = {"bot", "plugins", "storage", "tests", "bench", "storyloom_dice", "conftest"}


def requirements(group: str | None = None) -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    lines = project["dependencies"] if group is None else project["optional-dependencies"][group]
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): r for r in reqs}


def floor(req: Requirement) -> Version:
    [low] = [Version(s.version) for s in req.specifier if s.operator == ">="]
    return low


def imported_top_levels(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - LOCAL


def undeclared(modules: set[str], declared: set[str]) -> list[str]:
    dists = packages_distributions()
    return sorted(
        module
        for module in modules
        if not {canonicalize_name(d) for d in dists.get(module, [module])} & declared
    )


def test_version_floors_are_what_the_code_needs() -> None:
    deps = requirements()
    # transformers 5 is where LlamaConfig.rope_parameters and ContinuousBatchingConfig live
    # (the bundled model's config uses the first); it disables PyTorch below 2.6.
    assert floor(deps["transformers"]) >= Version("5.0")
    assert floor(deps["torch"]) >= Version("2.6")
    import torch
    import transformers

    assert Version(transformers.__version__) >= floor(deps["transformers"])
    assert Version(torch.__version__.split("+")[0]) >= floor(deps["torch"])


def test_the_docker_image_installs_a_torch_the_project_accepts() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    [version] = re.findall(r"^ARG TORCH_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    assert Version(version) in requirements()["torch"].specifier


def test_compose_images_are_pinned() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        image = service.get("image", "")
        if service.get("build"):
            continue  # built from this checkout
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image!r}"


def test_every_imported_package_is_declared() -> None:
    runtime = set(requirements())
    extras = {
        canonicalize_name(Requirement(line).name)
        for group in PYPROJECT["project"]["optional-dependencies"].values()
        for line in group
    }
    for package in ("bot", "plugins", "storage"):
        missing = undeclared(imported_top_levels(ROOT / package), runtime | extras)
        assert not missing, f"{package}/ imports undeclared packages: {missing}"
    missing = undeclared(imported_top_levels(ROOT / "tests"), runtime | requirements("dev").keys())
    assert not missing, f"tests/ import packages missing from the dev extra: {missing}"
