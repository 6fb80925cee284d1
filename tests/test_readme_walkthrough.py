"""The README's walkthrough, run: each `$` line of its code blocks in order, in a fresh folder, and
its output checked against the lines below it (`...` stands for any text). Lines without `$` are
shown, not run (the install, `kb serve`, `kb eval`)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # crawls and enriches the sample corpus (about a minute)


def walkthrough_steps(readme: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for every `$` line of the Walkthrough section."""
    section = readme.split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.S):
        current: list[str] | None = None  # a block's lines before its first `$` are not output
        for line in block.splitlines():
            if line.startswith("$ "):
                current = []
                steps.append((line[2:], current))
            elif current is not None and line.strip():
                current.append(line.rstrip())
    return steps


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual.rstrip()) is not None


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_readme_walkthrough_runs_as_written(tmp_path):
    if not port_free(8765):
        pytest.skip("port 8765 is taken: the walkthrough's feed URLs name it")
    steps = walkthrough_steps((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(steps) >= 12
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "KB_DB": ""}
    background: list[subprocess.Popen[bytes]] = []
    try:
        for command, expected in steps:
            if command.endswith("&"):
                background.append(subprocess.Popen(shlex.split(command[:-1]), cwd=tmp_path, env=env,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                for _ in range(100):
                    if not port_free(8765):
                        break
                    subprocess.run(["sleep", "0.1"])
                continue
            proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            actual = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
            wants_error = any(line.startswith("Error:") for line in expected)
            assert (proc.returncode != 0) == wants_error, (command, proc.stdout, proc.stderr)
            assert len(actual) == len(expected), (command, actual)
            for want, got in zip(expected, actual, strict=True):
                assert matches(want, got), (command, want, got)
    finally:
        for proc in background:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
