"""Read the Dockerfiles, and carry out their Python build steps without a container engine.

No image can be built here, so ``emulate`` does what the Dockerfile's stages do to the file
system, under a scratch directory standing in for ``/``: WORKDIR, ENV, COPY from the build
context and every ``uv`` command (the step that installs the locked dependencies). Other RUN
lines (installing uv itself, creating the user) and the base image are taken on trust.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.k8s.cluster import ROOT

DOCKERFILES = {
    "user-api": ROOT / "services" / "user-api" / "Dockerfile",
    "bank-webhook": ROOT / "services" / "bank-webhook" / "Dockerfile",
    "operator": ROOT / "operator" / "Dockerfile",
}


@dataclass
class Instruction:
    keyword: str
    args: str

    def words(self) -> list[str]:
        return shlex.split(self.args)


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(path: Path) -> list[Stage]:
    """Stages of a Dockerfile: comment lines dropped, continuation lines joined."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    logical: list[str] = []
    pending = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            stages[-1].instructions.append(Instruction(keyword, " ".join(args.split())))
    return stages


def uv_binary() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv is needed (make installs one)"
    return found


@dataclass
class Emulated:
    root: Path  # stands in for /
    env: dict[str, str]

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    @property
    def venv(self) -> Path:
        return self.path(self.env["UV_PROJECT_ENVIRONMENT"])


def emulate(dockerfile: Path, root: Path) -> Emulated:
    """Apply every stage's WORKDIR, ENV, context COPY and uv RUN under ``root``."""
    env: dict[str, str] = {}
    for stage in parse(dockerfile):
        workdir = "/"
        for instruction in stage.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = instruction.args
                (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
            elif instruction.keyword == "ENV":
                for word in instruction.words():
                    key, _, value = word.partition("=")
                    env[key] = value
            elif instruction.keyword == "COPY" and "--from=" not in instruction.args:
                *sources, dest = [w for w in instruction.words() if not w.startswith("--")]
                target = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
                for source in sources:
                    _copy(ROOT / source, root / target.lstrip("/"), dest.endswith("/"))
            elif instruction.keyword == "RUN" and "uv" in instruction.words():
                words = instruction.words()
                _run_uv(words[words.index("uv") + 1 :], root, root / workdir.lstrip("/"), env)
    return Emulated(root, env)


def _copy(source: Path, target: Path, into_directory: bool) -> None:
    if source.is_dir():
        shutil.copytree(
            source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    elif source.name in ("./", ".") or into_directory or target.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.name)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _run_uv(args: list[str], root: Path, cwd: Path, env: dict[str, str]) -> None:
    mapped = {
        key: str(root / value.lstrip("/")) if value.startswith("/opt/") else value
        for key, value in env.items()
        if key.startswith("UV_")
    }
    # The image's interpreter is python:3.11's; here, the same minor version of this machine.
    mapped["UV_PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    done = subprocess.run(
        [uv_binary(), *args],
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | mapped,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"uv {' '.join(args)} failed:\n{done.stderr}{done.stdout}"
