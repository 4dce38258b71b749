"""The examples run top to bottom, as written, the way a newcomer runs them.

Every notebook in examples/ is executed in a real Jupyter kernel (nbclient,
ipykernel's python3 kernel, which is this interpreter) and every example
script as a subprocess, with COMPOSER_EXAMPLES_QUICK=1 cutting pieces, steps
and sample counts so each takes seconds. They run in a scratch copy of the
repository's layout (tmp/examples with seeds/ linked, tmp/midi_corpus linked),
so what they write lands in the scratch folder, never in the repository, and
the token and index caches go to a scratch $COMPOSER_CACHE.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbclient  # test-only dependencies (extra `test`), with ipykernel
import nbformat
import numpy as np
import pytest

from conftest import CORPUS, ROOT
from test_readme import run_commands, shell_commands, this_interpreter_first, this_interpreter_kernel

EXAMPLES = ROOT / "examples"
SEEDS = EXAMPLES / "seeds"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
QUICK_ENV = "COMPOSER_EXAMPLES_QUICK"
CELL_TIMEOUT_S = 600  # a hung kernel fails the test instead of hanging CI
SEED_FORMATS = (".abc", ".txt", ".mid", ".musicxml")


def repo_files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    """tmp/examples laid out like the repository's examples/ folder; the examples run in it."""
    (tmp_path / "midi_corpus").symlink_to(CORPUS)
    work = tmp_path / "examples"
    work.mkdir()
    (work / "seeds").symlink_to(SEEDS)
    monkeypatch.setenv(QUICK_ENV, "1")
    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny sizes gain nothing from threads on a shared machine
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    this_interpreter_first(tmp_path / ".bin", monkeypatch)
    this_interpreter_kernel(tmp_path / ".jupyter", monkeypatch)
    return work


def check_outputs_readable(work: Path) -> list[Path]:
    """Every score an example wrote to its output/ folder reads back with notes in it."""
    import composer
    from composer.formats import READERS

    written = sorted(p for p in (work / "output").rglob("*") if p.is_file())
    assert written, "the example wrote nothing to output/"
    for path in written:
        assert path.stat().st_size > 0, path
        if path.suffix in READERS and "my_midi" not in path.parts:  # my_midi holds copied corpus files
            assert len(composer.read(path).notes) > 0, path
    return written


# -- stored form -------------------------------------------------------------
def test_the_readme_lists_every_example_and_no_other():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Examples\n", 1)[1].split("\n## ", 1)[0]
    linked = set(re.findall(r"\]\(examples/([\w.]+\.(?:ipynb|py))\)", section))
    assert linked == {p.name for p in NOTEBOOKS + SCRIPTS}
    assert {"quickstart.ipynb", "harmonize.ipynb", "train_your_own.ipynb", "train_your_own.py", "originality.ipynb"} <= linked
    assert QUICK_ENV in section


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has stored outputs (strip them)"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert nb.cells[0].cell_type == "markdown", "a notebook opens by saying what it does"


def test_seeds_hold_the_same_melody_in_every_format():
    import composer

    names = sorted({p.stem for p in SEEDS.iterdir() if p.suffix in SEED_FORMATS})
    assert len(names) >= 4
    for name in names:
        abc = composer.read(SEEDS / f"{name}.abc")
        assert abc.title and abc.num_bars >= 4, name
        versions = {
            ".txt": composer.parse_tinynotation((SEEDS / f"{name}.txt").read_text(encoding="utf-8")),
            ".mid": composer.read(SEEDS / f"{name}.mid"),
            ".musicxml": composer.read(SEEDS / f"{name}.musicxml"),
        }
        for suffix, score in versions.items():
            assert score.ticks_per_beat == abc.ticks_per_beat, (name, suffix)
            for field in ("start_tick", "duration_ticks", "pitch"):
                assert np.array_equal(score.notes[field], abc.notes[field]), (name, suffix, field)
            assert np.array_equal(score.time_signatures, abc.time_signatures), (name, suffix)
        for suffix in (".mid", ".musicxml"):  # the files written from the ABC keep its key
            assert np.array_equal(versions[suffix].key_signatures, abc.key_signatures), (name, suffix)


def test_make_seeds_writes_what_is_committed(tmp_path: Path):
    import composer

    proc = subprocess.run([sys.executable, str(SEEDS / "make_seeds.py"), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    made = sorted(tmp_path.iterdir())
    assert [p.name for p in made] == sorted(p.name for p in SEEDS.iterdir() if p.suffix in (".mid", ".musicxml"))
    for path in made:
        assert np.array_equal(composer.read(path).notes, composer.read(SEEDS / path.name).notes), path.name


# -- running them ------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path, workspace: Path):
    before = repo_files(EXAMPLES)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(workspace)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    shown = [o for c in code for o in c.outputs if o.output_type in ("display_data", "execute_result")]
    assert any("text/html" in o.data for o in shown), "no score was shown"
    for cell in code:
        for out in cell.outputs:
            assert not (out.output_type == "stream" and out.name == "stderr" and "Traceback" in out.text), out.text
        if ".plot()" in cell.source:  # a piano roll is drawn, not shown as "<Figure size ...>"
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source
    check_outputs_readable(workspace)
    # The commands a notebook shows (```bash blocks in its text) run too, as the README's do.
    commands = [c for cell in nb.cells if cell.cell_type == "markdown" for block in re.findall(r"^```bash\n(.*?)^```", cell.source, re.S | re.M) for c in shell_commands("bash", block)]
    run_commands(path.name, commands, workspace)
    assert repo_files(EXAMPLES) == before, "the notebook wrote into the repository"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_runs(path: Path, workspace: Path):
    before = repo_files(EXAMPLES)
    proc = subprocess.run([sys.executable, str(path)], cwd=workspace, capture_output=True, text=True, timeout=CELL_TIMEOUT_S, env=os.environ.copy())
    assert proc.returncode == 0, f"{path.name}\n{proc.stdout}\n{proc.stderr}"
    check_outputs_readable(workspace)
    assert repo_files(EXAMPLES) == before, "the script wrote into the repository"
