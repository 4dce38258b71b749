"""The README's set-up commands work as written, and CI runs the same test command."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

README = ROOT / "README.md"


def setup_commands() -> list[str]:
    """The bash blocks of the README's "Set-up" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_states_exactly_two_setup_commands():
    commands = setup_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands)
    main, tests = commands
    assert main.startswith("pip install -e . && composer ")
    assert tests == "pip install -e '.[test]' && python -m pytest"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    last = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")][-1]
    assert last.strip() == setup_commands()[1]


def test_readme_main_job_runs_as_written(tmp_path):
    """Everything after the install step, run from a folder that has the corpus beside it."""
    main = setup_commands()[0]
    steps = [s.strip() for s in main.split("&&")][1:]
    (tmp_path / "midi_corpus").symlink_to(ROOT / "midi_corpus")
    (tmp_path / "models").symlink_to(ROOT / "models")
    for step in steps:
        argv = shlex.split(step)
        assert argv[0] == "composer"
        proc = subprocess.run([sys.executable, "-m", "composer", *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{step}\n{proc.stderr}"
    written = [p for p in tmp_path.iterdir() if not p.is_symlink()]
    assert written, "the main job wrote nothing"
