"""The README's set-up commands work as written, and CI runs the same test command."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

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


# -- the whole README, top to bottom -------------------------------------------
# A reader follows the README in order in one folder: a clone's root. The test
# does the same in a scratch folder that has the repository's midi_corpus/,
# models/ and examples/ linked in, and runs every command and code block as
# written, in order (so a later block may use what an earlier one wrote, as
# `composer originality song.mid` uses the set-up's song.mid):
# * ```bash blocks: every line is a command;
# * ``` blocks without a language: the lines starting with "$ " are commands
#   typed at a prompt (the other lines are the output shown);
# * ```python blocks: one notebook cell each, in a real kernel, every bare
#   expression shown (as if it had a cell of its own), so that what a comment
#   says a notebook shows is rendered too.
# Two rules, and no other change:
# * a `pip install ... && CMD` line runs only CMD (the test environment is installed),
#   and the README's test command is what CI runs (checked above), not re-run here;
# * the sizes named in SIZE_OPTIONS are cut to 2 (training steps, sample counts, harmonizer epochs),
#   so a block that runs for minutes runs in seconds; the README says so.
SIZE_OPTIONS = (
    (re.compile(r"(--steps[ =])\d+"), r"\g<1>2"),
    (re.compile(r"(--samples[ =])\d+"), r"\g<1>2"),
    (re.compile(r"(--harmonizer-epochs[ =])\d+"), r"\g<1>2"),
    (re.compile(r"\b(max_steps=)\d+"), r"\g<1>2"),
    (re.compile(r"\b(samples=)\d+"), r"\g<1>2"),
)
TEST_COMMAND = "python -m pytest"
LINKED = ("midi_corpus", "models", "examples")


def readme_blocks() -> list[tuple[str, str, str]]:
    """(section heading, language, block) for every fenced block, in order."""
    blocks = []
    for section in re.split(r"\n(?=## )", README.read_text(encoding="utf-8")):
        heading = section.splitlines()[0].lstrip("# ").strip()
        blocks += [(heading, language, block) for language, block in re.findall(r"^```(\w*)\n(.*?)^```", section, re.S | re.M)]
    return blocks


def cut_sizes(code: str) -> str:
    for pattern, replacement in SIZE_OPTIONS:
        code = pattern.sub(replacement, code)
    return code


def shell_commands(language: str, block: str) -> list[str]:
    """The commands of a block: continuation lines joined, comments, output and install steps dropped."""
    if language not in ("bash", ""):
        return []
    commands = []
    for line in re.sub(r"\s*\\\n\s*", " ", block).splitlines():
        line = line.strip()
        if language == "":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        steps = [s.strip() for s in line.split("&&")]
        steps = [s for s in steps if not s.startswith(("pip install", TEST_COMMAND))]
        if steps:
            commands.append(" && ".join(steps))
    return commands


def test_size_rules_touch_only_sizes():
    line = "composer train x --steps 3000 -o m.safetensors --samples=100 --bars 16"
    assert cut_sizes(line) == "composer train x --steps 2 -o m.safetensors --samples=2 --bars 16"
    assert cut_sizes("TrainConfig(max_steps=500, eval_every=50)") == "TrainConfig(max_steps=2, eval_every=50)"
    assert shell_commands("bash", "pip install -e . && composer models \\\n  --help\n# a note\n") == ["composer models --help"]
    assert shell_commands("", "$ composer models\nchorale  ...\n") == ["composer models"]
    assert shell_commands("", "BOS Style_chorale Bar") == []


def test_readme_has_commands_and_code_to_run():
    blocks = readme_blocks()
    assert any(language == "python" for _, language, _ in blocks)
    assert sum(len(shell_commands(language, block)) for _, language, block in blocks) >= 4
    for _, language, block in blocks:
        if language == "bash" and not shell_commands(language, block):
            assert block.strip() == setup_commands()[1], f"a bash block with nothing to run: {block!r}"


def repository_listing() -> set[Path]:
    """What the scratch folder links to: nothing the README runs may write there."""
    return {p for name in LINKED for p in (ROOT / name).rglob("*") if "__pycache__" not in p.parts}


def this_interpreter_first(folder: Path, monkeypatch) -> None:
    """`composer` and `python` on PATH run this interpreter, whatever else PATH holds."""
    folder.mkdir()
    for name, argv in (("composer", f'"{sys.executable}" -m composer'), ("python", f'"{sys.executable}"')):
        (folder / name).write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def this_interpreter_kernel(folder: Path, monkeypatch) -> str:
    """A kernel spec, first on JUPYTER_PATH, that runs ipykernel in this interpreter; its name."""
    import json

    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(folder), *filter(None, [os.environ.get("JUPYTER_PATH")])]))
    return "python3"


def run_commands(where: str, commands: list[str], cwd: Path) -> None:
    """Each command through bash, sizes cut; the first failure fails the test, naming it."""
    for command in commands:
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", cut_sizes(command)], cwd=cwd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{where}: {command}\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture
def clone_root(tmp_path: Path, monkeypatch) -> Path:
    """A scratch folder that looks like the repository root to the README's commands."""
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    this_interpreter_first(tmp_path / ".bin", monkeypatch)
    this_interpreter_kernel(tmp_path / ".jupyter", monkeypatch)
    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / ".cache"))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # threads as the environment says; no spin-waiting on a busy core
    return tmp_path


def run_python_block(heading: str, code: str, cwd: Path) -> None:
    import nbclient  # test-only dependencies (extra `test`), with ipykernel
    import nbformat

    show_all = nbformat.v4.new_code_cell('get_ipython().ast_node_interactivity = "all"')
    nb = nbformat.v4.new_notebook(cells=[show_all, nbformat.v4.new_code_cell(code)])
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"README section {heading!r}, python block:\n{exc}")
    shown = [o for o in nb.cells[1].outputs if o.output_type in ("display_data", "execute_result")]
    assert shown, f"{heading}: the block showed nothing"
    if ".generate(" in code:
        assert any("text/html" in o.data for o in shown), f"{heading}: no score was shown"


def test_readme_runs_top_to_bottom(clone_root: Path):
    before = repository_listing()
    ran = 0
    for heading, language, block in readme_blocks():
        if language == "python":
            run_python_block(heading, cut_sizes(block), clone_root)
            ran += 1
        commands = shell_commands(language, block)
        run_commands(f"README section {heading!r}", commands, clone_root)
        ran += len(commands)
    assert ran >= 5
    assert repository_listing() == before, "a README command wrote into the repository"


# -- what the README says about its own examples ---------------------------------
def test_readme_says_how_long_the_set_up_seed_is():
    """The originality section's seed length is the set-up seed's, measured, not guessed."""
    from composer.io.notation import parse_tinynotation

    seed = re.search(r'"(tinynotation: [^"]+)"', setup_commands()[0]).group(1)
    score = parse_tinynotation(seed)
    end = int((score.notes["start_tick"] + score.notes["duration_ticks"]).max())
    last_start = int(score.notes["start_tick"].max())
    bar = 4 * score.ticks_per_beat  # 4/4
    text = README.read_text(encoding="utf-8").split("## Originality", 1)[1]
    assert f"{end / bar:g} bars of 4/4" in text and f"{end // score.ticks_per_beat}-beat seed" in text
    assert f"starts in bar {last_start // bar + 1}" in text and f"--seed-bars {last_start // bar + 1}" in text


def test_readme_python_training_example_is_a_quick_one():
    """A reader runs the Python block as written: its training must take a minute or two, not half an hour."""
    python = "\n".join(block for _, language, block in readme_blocks() if language == "python")
    config = re.search(r"TrainConfig\((.*)\)\n", python).group(1)
    call = re.search(r"composer\.train\((.*)\)\n", python).group(1)
    assert "config=config" in call
    assert int(re.search(r"max_steps=(\d+)", config).group(1)) <= 200
    assert int(re.search(r"seq_len=(\d+)", config).group(1)) <= 128
    assert '"n_layers": 1' in call and int(re.search(r'"d_hidden": (\d+)', call).group(1)) <= 128


def test_readme_set_up_installs_no_torch_and_says_where_it_is():
    setup = README.read_text(encoding="utf-8").split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert "nothing of torch" in setup and "pip\ninstall -e '.[train]'" in setup
