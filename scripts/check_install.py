"""Install storyloom the way an operator would and check that it runs: the bundled model writes a
story turn while ``/healthz`` and ``/metrics`` answer (and the image's HEALTHCHECK command says
healthy), the moderation classifier scores texts, the SQLite file holds the story; the image and
its venv twin also serve ``storyloom web``, which the HEALTHCHECK command finds.

    python scripts/check_install.py docker   # build docker/Dockerfile and run the image
    python scripts/check_install.py image    # exactly what docker/Dockerfile installs, in a venv
    python scripts/check_install.py floors   # every runtime dependency at its declared floor

``docker`` needs a Docker daemon (``docker info``) and BuildKit (``docker buildx``, or a client
older than 23 with ``DOCKER_BUILDKIT=1``), because the build context is filtered by
``docker/Dockerfile.dockerignore``. Where Docker Hub cannot be reached it builds on a local
Debian bookworm base with Python 3.11 (``debootstrap``, as root; the host's CA bundle goes in so
pip trusts what the host trusts), and where the Dockerfile's PyTorch index cannot be reached it
serves the CPU wheel that this machine's pip finds on a local index. The image then runs with no
network at all (``play`` and ``moderate``; ``/healthz`` is read with ``docker exec``).

``image`` reads the Dockerfile's torch version and its ``pip install ... ".[extras]"`` line, so the
check follows the Dockerfile when it changes; torch comes from this machine's pip configuration
(the Dockerfile's index with ``--torch-index-url``). ``floors`` pins each runtime dependency (and
the ``postgres`` extra) to the version its ``>=`` names; torch is the exception (the CPU wheel of
``--torch``, default the tested 2.13.0: a CPU build of the 2.6 floor needs
``--torch 2.6.0 --torch-index-url https://download.pytorch.org/whl/cpu``). The venv checks install
a copy of the checkout (not editable) and run the commands from an empty folder. Every kind exits
non-zero naming the step that failed and showing the end of its output. The story turn is
played by ``storyloom play --jsonl`` with ``[metrics]`` on: ``/healthz`` must answer 200 before
the script goes in (503 while the model loads), and ``/metrics`` must count the commands.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SOURCES = ("pyproject.toml", "README.md", "constraints.txt", "bot", "plugins", "storage")
STORY_SCRIPT = (
    '{"user": "ada", "text": "/story start A lighthouse keeper finds a map"}\n'
    '{"user": "ada", "text": "/story continue"}\n'
)
OFFENSIVE, FRIENDLY = "you stupid idiot", "what a lovely day"
FLOOR_EXTRAS = ("postgres",)
LOCAL_BASE = "storyloom-check-base:bookworm"
IMAGE = "storyloom-check"
LOCAL_INDEX_PORT = 38765
STEP_TIMEOUT_S = 1800

Runner = Callable[[Sequence[str], str | None], str]
"""Runs ``storyloom ARGS`` with the given stdin where it was installed; returns stdout."""


class InstallCheckFailed(RuntimeError):
    """A step failed; the message says which and shows the end of its output."""


@functools.cache
def _dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def dockerfile_plan(text: str) -> tuple[str, str, str | None]:
    """(torch version, extras, constraints file or None) that the Dockerfile installs."""
    torch = re.search(r"^ARG TORCH_VERSION=(\S+)", text, re.MULTILINE)
    install = re.search(
        r'pip install(?P<opts>[^"\n]*?)"\.\[(?P<extras>[^\]]*)\]"', text, re.MULTILINE
    )
    if torch is None or install is None:
        raise InstallCheckFailed(
            "docker/Dockerfile no longer has `ARG TORCH_VERSION=...` and a "
            '`pip install ... ".[extras]"` line; update scripts/check_install.py with it'
        )
    constraints = re.search(r"-c\s+(\S+)", install["opts"])
    return torch[1], install["extras"], constraints[1] if constraints else None


def _dockerfile_arg(name: str) -> str:
    found = re.search(rf"^ARG {name}=(\S+)", _dockerfile(), re.MULTILINE)
    if found is None:
        raise InstallCheckFailed(f"docker/Dockerfile has no `ARG {name}=...` default")
    return found[1]


def floor_pins(pyproject: dict[str, object], extras: Sequence[str] = ()) -> list[str]:
    """``name==floor`` for each runtime dependency (and each of ``extras``) with a ``>=`` floor,
    torch left out."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    pins = []
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)\s*", line)
        if match and match[1].lower() != "torch":
            pins.append(f"{match[1]}=={match[3]}")
    return pins


def _step(
    name: str,
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    started = time.monotonic()
    print(f"· {name} …", flush=True)
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=STEP_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise InstallCheckFailed(f"{name} took longer than {STEP_TIMEOUT_S} s") from None
    except OSError as exc:
        raise InstallCheckFailed(f"{name} could not start: {exc}") from None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise InstallCheckFailed(f"{name} failed (exit {done.returncode}):\n{tail}")
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    return done.stdout


# -- what every kind checks --------------------------------------------------------------------

Fetch = Callable[[str], tuple[int, str]]
"""GET a path on the bot's metrics port: (HTTP status, body); status 0 while nothing listens."""

_COMMANDS = re.compile(r"^storyloom_commands_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


def commands_counted(metrics: str, plugin: str, command: str, outcome: str = "ok") -> float:
    """``storyloom_commands_total`` for one plugin, command and outcome in a /metrics text."""
    wanted = {f'plugin="{plugin}"', f'command="{command}"', f'outcome="{outcome}"'}
    return sum(
        float(m["value"])
        for m in _COMMANDS.finditer(metrics)
        if wanted <= set(m["labels"].split(","))
    )


Start = Callable[[IO[str], IO[str]], "subprocess.Popen[str]"]
"""Starts ``storyloom play --jsonl`` with [metrics] on, writing stdout and stderr to the files."""


Probe = Callable[[], tuple[int, str]]
"""Runs the image's HEALTHCHECK command (``python -m bot.adapters.discord.health``) where the
server runs: (exit status, what it printed)."""


def smoke(
    start: Start, fetch: Fetch, run: Runner, data_dir: Path, probe: Probe
) -> dict[str, object]:
    """Start ``storyloom play --jsonl`` with [metrics] on (``start``), wait for ``/healthz`` to
    answer 200 (503 while the model loads), run the HEALTHCHECK command (``probe``), play a
    story turn, wait for ``/metrics`` to count it, end the input; then score two texts and look
    into the SQLite file."""
    print("· storyloom play --jsonl with /healthz and /metrics …", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        with start(out, err) as process:  # closes the stdin pipe on every path
            try:
                assert process.stdin is not None
                body, seen_503 = _until(fetch, "/healthz", process, lambda s, _: s == 200)
                health = body.strip()
                healthcheck = probe()
                process.stdin.write(STORY_SCRIPT)
                process.stdin.flush()
                metrics, _ = _until(
                    fetch,
                    "/metrics",
                    process,
                    lambda s, body: commands_counted(body, "story", "story continue") >= 1,
                )
                process.stdin.close()
                process.wait(timeout=120)
            except (InstallCheckFailed, subprocess.TimeoutExpired, OSError) as exc:
                process.kill()
                process.wait()
                err.seek(0)
                raise InstallCheckFailed(f"{exc}\n{err.read()[-2000:]}") from None
        out.seek(0)
        err.seek(0)
        played, errors = out.read(), err.read()
    if process.returncode != 0:
        raise InstallCheckFailed(f"play exited with {process.returncode}:\n{errors[-2000:]}")
    print(
        f"  /healthz {health} ({'503 while starting, ' if seen_503 else ''}"
        f"done in {time.monotonic() - began:.0f} s)",
        flush=True,
    )
    if json.loads(health).get("status") != "ready":
        raise InstallCheckFailed(f"/healthz says {health}")
    if healthcheck[0] != 0 or not healthcheck[1].startswith("healthy: /healthz on port"):
        raise InstallCheckFailed(f"the HEALTHCHECK command did not find /healthz: {healthcheck}")
    if commands_counted(metrics, "story", "story start") != 1:
        raise InstallCheckFailed("/metrics did not count the /story start command")
    replies = [json.loads(line) for line in played.splitlines() if line.startswith("{")]
    first = next((r for r in replies if r.get("reply_to") == "in-2"), None)
    texts = [
        r["text"]
        for r in replies
        if first is not None and r.get("id") == first.get("id") and r["kind"] in ("message", "edit")
    ]
    if first is None or first["kind"] != "message" or len(texts[-1].split()) < 3:
        raise InstallCheckFailed(f"the installed bot did not write a continuation: {replies}")
    verdicts = run(["moderate"], f"{OFFENSIVE}\n{FRIENDLY}\n")
    scored = [json.loads(line) for line in verdicts.splitlines() if line.startswith("{")]
    if len(scored) != 2:
        raise InstallCheckFailed(f"`storyloom moderate` gave {len(scored)} verdicts for 2 texts")
    rude, kind = scored
    if not ("classifier" in rude.get("reason", "") and rude["verdict"] != "allow"):
        raise InstallCheckFailed(f"the classifier did not flag {OFFENSIVE!r}: {rude}")
    if kind["verdict"] != "allow":
        raise InstallCheckFailed(f"the classifier flagged {FRIENDLY!r}: {kind}")
    database = data_dir / "storyloom.db"
    if not database.is_file():
        raise InstallCheckFailed(f"no SQLite file was written at {database}")
    with closing(sqlite3.connect(database)) as db:
        stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
        turns = db.execute("SELECT count(*) FROM turns").fetchone()[0]
    if stories != 1 or turns < 1:
        raise InstallCheckFailed(f"the SQLite file holds {stories} stories and {turns} turns")
    return {
        "continuation": texts[-1],
        "health": json.loads(health),
        "healthcheck": healthcheck[1].strip(),
        "answered_503_first": seen_503,
        "metrics_bytes": len(metrics),
    }


def _until(
    fetch: Fetch, path: str, process: subprocess.Popen[str], done: Callable[[int, str], bool]
) -> tuple[str, bool]:
    """Poll ``path`` until ``done(status, body)``; (the body, whether a 503 was seen)."""
    seen_503, deadline = False, time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        status, body = fetch(path)
        if done(status, body):
            return body, seen_503
        seen_503 = seen_503 or status == 503
        time.sleep(0.25)
    raise InstallCheckFailed(f"{path} never showed what was expected (exit {process.poll()})")


def web_smoke(start: Start, probe: Probe) -> str:
    """Start ``storyloom web`` (``start``) and run the HEALTHCHECK command (``probe``) until it
    finds the web server's ``/healthz`` (the model loads first); what it printed."""
    print("· storyloom web and the HEALTHCHECK command …", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = start(out, err)
        try:
            deadline, said = time.monotonic() + 300, (1, "")
            while time.monotonic() < deadline and process.poll() is None:
                said = probe()
                if said[0] == 0:
                    break
                time.sleep(0.5)
        finally:
            if process.stdin is not None:
                process.stdin.close()
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        err.seek(0)
        errors = err.read()
    if said[0] != 0 or "storyloom web /healthz" not in said[1]:
        raise InstallCheckFailed(
            f"storyloom web did not come up healthy ({said[1].strip()}):\n{errors[-2000:]}"
        )
    print(f"  {said[1].strip()} (done in {time.monotonic() - began:.0f} s)", flush=True)
    return said[1].strip()


def fetch_local(port: int) -> Fetch:
    """GET from ``127.0.0.1:port``."""

    def fetch(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, OSError):
            return 0, ""

    return fetch


# -- a fresh virtualenv (image, floors) ----------------------------------------------------------


def _copy_sources(source: Path) -> None:
    for name in SOURCES:
        target = source / name
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)


def check_venv(
    kind: str, *, workdir: Path, torch: str | None = None, torch_index_url: str | None = None
) -> dict[str, object]:
    """Install one way into ``workdir``/venv and run the smoke checks; returns what was seen."""
    source = workdir / "src"
    _copy_sources(source)
    venv, empty = workdir / "venv", workdir / "run"
    empty.mkdir()
    _step("create the virtualenv", [sys.executable, "-m", "venv", str(venv)], cwd=workdir)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile"]
    if kind == "image":
        torch_version, extras, constraints = dockerfile_plan(_dockerfile())
        torch_version = torch or torch_version
        extra_args = ["-c", constraints] if constraints else []
    else:
        torch_version = torch or "2.13.0"
        extras = ",".join(FLOOR_EXTRAS)
        pins = workdir / "floors.txt"
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        pins.write_text("\n".join(floor_pins(pyproject, FLOOR_EXTRAS)) + "\n")
        extra_args = ["-c", str(pins)]
    index = ["--index-url", torch_index_url] if torch_index_url else []
    _step(f"install torch {torch_version}", [*pip, *index, f"torch=={torch_version}"], cwd=workdir)
    _step(
        f'install ".[{extras}]" {" ".join(extra_args)}'.strip(),
        [*pip, *extra_args, f".[{extras}]"],
        cwd=source,
    )
    freeze = _step("list what was installed", [python, "-m", "pip", "freeze"], cwd=empty)
    storyloom = str(venv / "bin" / "storyloom")

    def run(args: Sequence[str], stdin: str | None) -> str:
        return _step(f"storyloom {' '.join(args)}", [storyloom, *args], cwd=empty, stdin=stdin)

    port = _free_port()

    served = {"STORYLOOM_METRICS__ENABLED": "true", "STORYLOOM_METRICS__PORT": str(port)}

    def start(out: IO[str], err: IO[str]) -> subprocess.Popen[str]:
        argv = [storyloom, "play", "--jsonl"]
        return _popen(argv, out, err, cwd=empty, env=os.environ | served)

    def probe_with(env: dict[str, str]) -> Probe:
        def probe() -> tuple[int, str]:
            argv = [python, "-m", "bot.adapters.discord.health"]
            done = subprocess.run(
                argv, cwd=empty, env=os.environ | env, capture_output=True, text=True, check=False
            )
            return done.returncode, done.stdout

        return probe

    seen = smoke(start, fetch_local(port), run, empty / "var", probe_with(served))
    web = {"STORYLOOM_WEB__PORT": str(_free_port()), "STORYLOOM_METRICS__PORT": str(port)}

    def start_web(out: IO[str], err: IO[str]) -> subprocess.Popen[str]:
        return _popen([storyloom, "web"], out, err, cwd=empty, env=os.environ | web)

    if "web" in extras.split(","):  # the image's extras (floors installs the runtime only)
        seen["web"] = web_smoke(start_web, probe_with(web))
    versions = dict(
        line.split("==", 1) for line in freeze.splitlines() if "==" in line and " @ " not in line
    )
    return {"kind": kind, "versions": versions} | seen


# -- Docker ------------------------------------------------------------------------------------


def _quiet(argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 30) -> str:
    """stdout of a short command, or "" when it fails or is missing."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def docker_daemon() -> bool:
    """True when a Docker daemon answers ``docker info``."""
    return bool(_quiet(["docker", "info", "--format", "{{.ServerVersion}}"]).strip())


def _builder() -> tuple[list[str], dict[str, str]]:
    """The command that builds with BuildKit (it reads Dockerfile.dockerignore), and its env."""
    env = dict(os.environ)
    if _quiet(["docker", "buildx", "version"]):
        return ["docker", "buildx", "build", "--load"], env
    env["DOCKER_BUILDKIT"] = "1"
    for client in dict.fromkeys(filter(None, (shutil.which("docker"), "/usr/bin/docker"))):
        version = _quiet([client, "version", "--format", "{{.Client.Version}}"]).strip()
        if version and int(version.split(".")[0]) < 23:  # BuildKit built into the client
            return [client, "build"], env
    raise InstallCheckFailed(
        "building docker/Dockerfile needs BuildKit (its Dockerfile.dockerignore filters the "
        "context): install docker-buildx, or use a docker client older than 23"
    )


def _base_image() -> str:
    """The Dockerfile's base image when Docker can get it, else a local Debian base."""
    default = f"python:{_dockerfile_arg('PYTHON_VERSION')}-slim"
    if _quiet(["docker", "image", "inspect", default]) or _quiet(
        ["docker", "pull", "-q", default], timeout=300
    ):
        return default
    if _quiet(["docker", "image", "inspect", LOCAL_BASE]):
        return LOCAL_BASE
    debootstrap = shutil.which("debootstrap")
    if os.geteuid() != 0 or debootstrap is None:
        raise InstallCheckFailed(
            f"Docker cannot pull {default} and this machine cannot build a base image instead "
            "(needs root and debootstrap: apt-get install debootstrap)"
        )
    with tempfile.TemporaryDirectory(prefix="storyloom-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _step(
            "debootstrap a Debian bookworm base with Python 3.11",
            [
                debootstrap,
                "--variant=minbase",
                "--include=python3,python3-venv,python-is-python3,ca-certificates",
                "bookworm",
                str(rootfs),
                "http://deb.debian.org/debian",
            ],
        )
        host_cas = Path("/etc/ssl/certs/ca-certificates.crt")
        if host_cas.is_file():
            shutil.copy2(host_cas, rootfs / "etc/ssl/certs/ca-certificates.crt")
        # `with` closes the pipe: an unclosed one is a ResourceWarning, an error under pytest
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                [
                    "docker",
                    "import",
                    "--change",
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--change",
                    f"ENV PIP_CERT={host_cas} SSL_CERT_FILE={host_cas}",
                    "-",
                    LOCAL_BASE,
                ],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
    if imported.returncode != 0:
        raise InstallCheckFailed(f"docker import of the base image failed: {imported.stderr}")
    return LOCAL_BASE


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10):
            return True
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def _torch_index(torch_version: str, workdir: Path) -> Iterator[str]:
    """The Dockerfile's PyTorch index when it answers; else a local index of the CPU wheel (and
    its dependencies) that this machine's pip finds, served on 127.0.0.1 while the build runs."""
    default = _dockerfile_arg("TORCH_INDEX_URL")
    if _reachable(f"{default.rstrip('/')}/torch/"):
        yield default
        return
    wheels = workdir / "wheels"
    pip = [sys.executable, "-m", "pip", "download", "--only-binary", ":all:", "-d", str(wheels)]
    _step(f"download torch {torch_version}", [*pip, "--no-deps", f"torch=={torch_version}"])
    if not any("+cpu" in w.name for w in wheels.glob("torch-*.whl")):
        raise InstallCheckFailed(
            f"{default} is out of reach and pip finds no CPU wheel of torch {torch_version} here"
        )
    _step("download its dependencies", [*pip, f"torch=={torch_version}"])
    simple = workdir / "index" / "simple"
    for wheel in wheels.glob("*.whl"):
        project = simple / re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        project.mkdir(parents=True, exist_ok=True)
        shutil.move(wheel, project / wheel.name)
        with (project / "index.html").open("a", encoding="utf-8") as page:
            page.write(f'<a href="{wheel.name}">{wheel.name}</a>\n')
    handler = functools.partial(_QuietHandler, directory=str(workdir / "index"))
    try:  # the same address each run keeps Docker's cached torch layer (the URL is a build arg)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", LOCAL_INDEX_PORT), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_docker(*, workdir: Path) -> dict[str, object]:
    """Build docker/Dockerfile, run the image offline, then scrape its /healthz and /metrics."""
    if not docker_daemon():
        raise InstallCheckFailed("no Docker daemon answers `docker info`")
    build, env = _builder()
    torch_version, _, _ = dockerfile_plan(_dockerfile())
    args = {"BASE_IMAGE": _base_image()}
    name = f"storyloom-check-{uuid.uuid4().hex[:8]}"
    image = f"{IMAGE}:{name.rsplit('-', 1)[1]}"  # one tag per run: parallel runs never mix
    with _torch_index(torch_version, workdir) as index:
        args["TORCH_INDEX_URL"] = index
        _step(
            f"build docker/Dockerfile on {args['BASE_IMAGE']}",
            [
                *build,
                "--network",
                "host",
                "--label",
                "org.storyloom.check=1",
                "-f",
                str(DOCKERFILE),
                *(f"--build-arg={k}={v}" for k, v in args.items()),
                "-t",
                image,
                str(ROOT),
            ],
            env=env,
        )
    data = workdir / "data"
    data.mkdir()
    data.chmod(0o777)  # the image runs as uid 10001

    offline = ("docker", "run", "--rm", "-i", "--network", "none", "-v", f"{data}:/data")

    def run(cli_args: Sequence[str], stdin: str | None) -> str:
        return _step(
            f"docker run {image} {' '.join(cli_args)} (no network)",
            [*offline, image, *cli_args],
            stdin=stdin,
        )

    def start(out: IO[str], err: IO[str]) -> subprocess.Popen[str]:
        served = ("--name", name, "-e", "STORYLOOM_METRICS__ENABLED=true")
        return _popen([*offline, *served, image, "play", "--jsonl"], out, err)

    def start_web(out: IO[str], err: IO[str]) -> subprocess.Popen[str]:
        return _popen([*offline, "--name", f"{name}-web", image, "web"], out, err)

    try:
        seen = smoke(start, fetch_in_container(name), run, data, healthcheck_in(name))
        seen["web"] = web_smoke(start_web, healthcheck_in(f"{name}-web"))
    finally:  # the build cache keeps the layers for the next run
        _quiet(["docker", "rm", "-f", name, f"{name}-web"])
        _quiet(["docker", "image", "rm", image])
    return {"kind": "docker", "base": args["BASE_IMAGE"]} | seen


_FETCH_SCRIPT = """
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:9464" + sys.argv[1], timeout=5)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
except OSError:
    print(0)
"""


def healthcheck_in(name: str) -> Probe:
    """The image's own HEALTHCHECK command, run in the container ``name`` (``docker exec``)."""

    def probe() -> tuple[int, str]:
        argv = ["docker", "exec", name, "python", "-m", "bot.adapters.discord.health"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return 1, str(exc)
        return done.returncode, done.stdout + done.stderr

    return probe


def fetch_in_container(name: str) -> Fetch:
    """GET from the container's own port 9464 (``docker exec``; it runs with no network)."""

    def fetch(path: str) -> tuple[int, str]:
        out = _quiet(["docker", "exec", name, "python", "-c", _FETCH_SCRIPT, path])
        status, _, body = out.partition("\n")
        return (int(status), body) if status.strip().isdigit() else (0, "")

    return fetch


def _popen(
    argv: Sequence[str],
    out: IO[str],
    err: IO[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=out,
        stderr=err,
        cwd=cwd,
        env=env,
        text=True,
    )


def check(
    kind: str, *, workdir: Path, torch: str | None = None, torch_index_url: str | None = None
) -> dict[str, object]:
    """Run the ``kind`` check in ``workdir``; raises InstallCheckFailed naming the failed step."""
    if kind == "docker":
        return check_docker(workdir=workdir)
    return check_venv(kind, workdir=workdir, torch=torch, torch_index_url=torch_index_url)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "kind", choices=("docker", "image", "floors"), help="what to install (see above)"
    )
    parser.add_argument("--torch", help="torch version to install instead of the default")
    parser.add_argument("--torch-index-url", help="where pip finds that torch (venv kinds)")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: temporary)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=False)
            seen = check(
                args.kind, workdir=args.keep, torch=args.torch, torch_index_url=args.torch_index_url
            )
        else:
            with tempfile.TemporaryDirectory(prefix=f"storyloom-{args.kind}-") as tmp:
                seen = check(
                    args.kind,
                    workdir=Path(tmp),
                    torch=args.torch,
                    torch_index_url=args.torch_index_url,
                )
    except InstallCheckFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    versions = seen.get("versions", {})
    assert isinstance(versions, dict)
    shown = ", ".join(f"{n} {versions[n]}" for n in ("torch", "transformers") if n in versions)
    took = time.monotonic() - started
    print(f"ok: {args.kind} install runs{f' ({shown})' if shown else ''} in {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
