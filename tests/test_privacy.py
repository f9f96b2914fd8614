"""confcam promises to stay offline and to write only what it is asked to. A real `confcam analyze` run is
traced with strace: it must create no network socket, and open for writing, create or rename nothing but
its --json output (and /dev/null); an empty HOME, TMPDIR and working folder must hold only that output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, video

STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(STRACE is None, reason="needs strace (apt-get install strace)")

TRACED = "trace=socket,connect,bind,sendto,sendmsg,open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2"
NETWORK = re.compile(r"\b(socket|connect|bind|sendto|sendmsg)\(.*\b(AF_INET6?|AF_PACKET)\b")
OPEN = re.compile(r'\bopen(?:at)?\((?:(\w+), )?"([^"]*)", ([A-Z_|]+)')
MADE = re.compile(r'\b(?:creat|mkdir(?:at)?|rename(?:at2?)?)\((?:\w+, )?"[^"]*"(?:, (?:\w+, )?"([^"]*)")?')
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT")
DEVICES = {"/dev/null", "/dev/tty"}


def written_paths(trace: str, cwd: Path) -> set[str]:
    """Every path a successful call opened for writing, created, or renamed something to."""
    paths = set()
    for line in trace.splitlines():
        if re.search(r"= -1 ", line):
            continue
        opened = OPEN.search(line)
        if opened and any(flag in opened.group(3) for flag in WRITE_FLAGS):
            dirfd, path = opened.group(1), opened.group(2)
            relative_to = str(cwd) if dirfd in (None, "AT_FDCWD") else f"<fd {dirfd}>"
            paths.add(path if path.startswith("/") else f"{relative_to}/{path}")
        elif not opened and (made := MADE.search(line)):
            target = made.group(1) or re.search(r'"([^"]*)"', line).group(1)
            paths.add(target if target.startswith("/") else f"{cwd}/{target}")
    return paths


def tree(*folders: Path) -> set[Path]:
    return {path for folder in folders for path in folder.rglob("*")}


def test_analyze_opens_no_network_socket_and_writes_only_its_output(tmp_path: Path) -> None:
    clip = video("single_face.mp4")
    home, scratch, work = (tmp_path / name for name in ("home", "tmp", "work"))
    for folder in (home, scratch, work):
        folder.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("XDG_", "ORT_"))}
    env.update(HOME=str(home), TMPDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    trace = tmp_path / "trace.txt"
    command = [STRACE, "-f", "-qq", "-e", TRACED, "-e", "signal=none", "-o", str(trace)]
    command += [sys.executable, "-m", "confcam", "analyze", str(clip), "--max-frames", "10", "--json", "out.json"]

    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr[-2000:]
    calls = trace.read_text()
    assert "openat(" in calls, "strace recorded no file access; the trace is not usable"
    network = [line for line in calls.splitlines() if NETWORK.search(line)]
    assert not network, f"network sockets: {network[:5]}"
    output = work / "out.json"
    allowed = re.compile(rf"{re.escape(str(work))}/(out\.json|\.out\.\w+\.part\.json)")
    unexpected = {p for p in written_paths(calls, work) if p not in DEVICES and not allowed.fullmatch(p)}
    assert not unexpected, f"written outside the requested output: {sorted(unexpected)}"
    assert tree(home, scratch, work) == {output}
    assert output.stat().st_size > 0
