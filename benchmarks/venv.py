"""The peers' virtualenv: ``benchmarks/.venv-peers``, built from ``requirements.txt``.

djworkers is installed editable into the same venv (``-e .[redis,postgres,zmq]``)
so djworkers and every peer run with one interpreter and one set of client
libraries. The venv is rebuilt only when requirements.txt or pyproject.toml
change (a stamp file holds their hash).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-peers"
REQUIREMENTS = HERE / "requirements.txt"
STAMP = VENV / ".djworkers-bench-stamp"

#: Interpreters tried in order; the first that runs wins. pyenv shims need
#: PYENV_VERSION when the version is not the global one, so each is tried
#: plainly and with the pyenv versions found on the machine.
CANDIDATES = ("python3.13", "python3.12", "python3")


def _runs(command: list[str], env: dict[str, str] | None = None) -> bool:
    try:
        return subprocess.run(command + ["-c", ""], env=env, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _pyenv_versions() -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir()), reverse=True)


def find_python() -> tuple[list[str], dict[str, str]]:
    """The interpreter for the venv and the env it needs.

    First the version running the harness (the project's venv: djworkers and
    its peers then run on the project's Python), then 3.13, 3.12, python3.
    """
    own = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for name in dict.fromkeys((own, *CANDIDATES)):
        if _runs([name]):
            return [name], {}
        wanted = name.removeprefix("python")
        for version in _pyenv_versions():
            if wanted and version.startswith(wanted):
                env = dict(os.environ, PYENV_VERSION=version)
                if _runs([name], env):
                    return [name], {"PYENV_VERSION": version}
    return [sys.executable], {}


def _stamp() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _venv_minor() -> str:
    result = subprocess.run(
        [str(python()), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
    )
    return result.stdout.strip()


def python() -> Path:
    return VENV / "bin" / "python"


def ensure(log=print, force: bool = False) -> Path:
    """Create or update the peers' venv; return its python.

    A changed requirements.txt or pyproject.toml re-runs pip (quick when little
    changed); a venv of another Python version than the harness's is rebuilt.
    """
    wanted = _stamp()
    if not force and python().exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python()
    command, extra_env = find_python()
    env = dict(os.environ, **extra_env)
    if python().exists() and _venv_minor() != f"{sys.version_info.major}.{sys.version_info.minor}":
        import shutil

        log(f"{VENV} runs another Python than this one: rebuilding it")
        shutil.rmtree(VENV)
    if not python().exists():
        log(f"creating {VENV} with {' '.join(command)} {extra_env or ''}".rstrip())
        subprocess.run(command + ["-m", "venv", str(VENV)], env=env, check=True)
    log(f"installing {REQUIREMENTS.name} and djworkers (editable) into {VENV.name}")
    result = subprocess.run(
        [
            str(python()),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
            "-e",
            f"{ROOT}[redis,postgres,zmq]",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:  # pip's own words name the package that failed
        raise RuntimeError(f"installing the peers into {VENV} failed:\n{result.stdout}\n{result.stderr}")
    STAMP.write_text(wanted)
    return python()


def versions(py: Path) -> dict[str, str]:
    """Installed versions of the packages the report names."""
    names = [
        "python",
        "django",
        "djworkers",
        "redis",
        "hiredis",
        "pyzmq",
        "psycopg",
        "huey",
        "rq",
        "dramatiq",
        "celery",
        "kombu",
        "django-tasks-db",
    ]
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {'python': sys.version.split()[0]}\n"
        f"for n in {names[1:]!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    import json

    result = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)
