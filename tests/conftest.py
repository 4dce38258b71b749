"""Shared fixtures: small real files made with mido, and helpers to build scores."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# Before torch loads: OpenMP's spin-waiting makes torch threads crawl on a busy core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import mido  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from composer.score import Part, Score, notes_array  # noqa: E402

if TYPE_CHECKING:
    from composer.modelfile import Model

ROOT = Path(__file__).resolve().parent.parent


def benchmark_module(name: str):
    """A script of benchmarks/ imported as a module (once per session), to test its functions."""
    import importlib.util
    import sys

    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
CORPUS = ROOT / "midi_corpus"


def make_score(rows, parts=("Soprano",), tpb=480, **kw) -> Score:
    """rows: (start_beat, duration_beats, pitch, part) with beats as numbers or Fractions."""
    starts = [round(r[0] * tpb) for r in rows]
    durs = [round(r[1] * tpb) for r in rows]
    return Score(
        notes_array(starts, durs, [r[2] for r in rows], [r[3] if len(r) > 3 else 0 for r in rows]),
        [p if isinstance(p, Part) else Part(p) for p in parts],
        ticks_per_beat=tpb,
        **kw,
    )


def note_rows(score: Score) -> list[tuple[int, int, int, int]]:
    n = score.notes
    return list(zip(n["start_tick"].tolist(), n["duration_ticks"].tolist(), n["pitch"].tolist(), n["part"].tolist()))


@pytest.fixture
def type0_midi(tmp_path: Path) -> Path:
    """A type 0 file at 96 PPQ: melody on channel 1 (violin), a drum on channel 10, 3/4 in B flat, 100 qpm."""
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track += [
        mido.MetaMessage("track_name", name="Tune"),
        mido.MetaMessage("time_signature", numerator=3, denominator=4),
        mido.MetaMessage("key_signature", key="Bb"),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100)),
        mido.Message("program_change", program=40, channel=0),
        mido.Message("note_on", note=70, velocity=90, channel=0),
        mido.Message("note_on", note=36, velocity=100, channel=9),
        mido.Message("note_off", note=36, velocity=0, channel=9, time=48),
        mido.Message("note_off", note=70, velocity=0, channel=0, time=48),
        mido.Message("note_on", note=72, velocity=64, channel=0),
        mido.Message("note_off", note=72, velocity=0, channel=0, time=192),
    ]
    path = tmp_path / "type0.mid"
    mid.save(path)
    return path


@pytest.fixture
def type1_midi(tmp_path: Path) -> Path:
    """A type 1 file at 1000 PPQ with tempo, meter and key changes and two named tracks."""
    mid = mido.MidiFile(type=1, ticks_per_beat=1000)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("time_signature", numerator=4, denominator=4),
            mido.MetaMessage("key_signature", key="Em"),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120)),
            mido.MetaMessage("time_signature", numerator=6, denominator=8, time=4000),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(80)),
            mido.MetaMessage("key_signature", key="G", time=3000),
        ]
    )
    upper = mido.MidiTrack([mido.MetaMessage("track_name", name="Flute"), mido.Message("program_change", program=73, channel=0)])
    lower = mido.MidiTrack([mido.MetaMessage("track_name", name="Cello"), mido.Message("program_change", program=42, channel=1)])
    for track, channel, pitches in ((upper, 0, [76, 79, 81, 83]), (lower, 1, [40, 43, 45, 47])):
        for pitch in pitches:
            track.append(mido.Message("note_on", note=pitch, velocity=80, channel=channel))
            track.append(mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=2000))
    mid.tracks += [conductor, upper, lower]
    path = tmp_path / "type1.mid"
    mid.save(path)
    return path


def corpus_files(collection: str) -> list[Path]:
    return sorted((CORPUS / collection).glob("*.mid"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from threads, and spin-waiting OpenMP workers on a busy machine cost a lot."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def one_line_error(result, code: int = 1, *, after_progress: bool = False) -> str:
    """The ``Error: ...`` line of a command (a click ``CliRunner`` result) that failed the way composer promises.

    Exit 1 (the input or the environment is at fault): the whole output, stdout
    and stderr, is exactly one non-empty line, ``Error: <message>``. With
    ``after_progress`` (commands such as ``train`` that report progress on
    stderr before they fail) earlier lines are allowed on stderr only; the
    error is still the last line and the only one starting with ``Error:``.

    Exit 2 (click's usage error): stdout is empty and stderr is exactly click's
    standard three lines, ``Usage: PROG COMMAND ...``, ``Try 'PROG COMMAND -h'
    for help.`` and ``Error: <message>`` (nothing else: no progress, no output).

    Either way: no traceback, no uncaught exception, and a message after ``Error:``.
    Returns the ``Error:`` line.
    """
    assert code in (1, 2), f"one_line_error checks exit codes 1 and 2, not {code}"
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}:\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    out = [line for line in result.stdout.splitlines() if line.strip()]
    err = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in out + err if line.startswith("Error:")]
    assert len(errors) == 1 and err and err[-1] == errors[0], result.output
    assert errors[0].removeprefix("Error:").strip(), result.output
    if code == 2:
        assert not out and len(err) == 3, result.output
        assert err[0].startswith("Usage: ") and err[1].startswith("Try '") and err[1].endswith(" for help."), result.output
    elif after_progress:
        assert not out and not any(line.startswith(("Usage:", "Try '")) for line in err), result.output
    else:
        assert not out and len(err) == 1, result.output
    return errors[0]


def one_line_message(exc: pytest.ExceptionInfo, *parts: str) -> str:
    """The message of a raised ComposerError, checked to be what the command line prints as its one line.

    One non-empty line (no newline in it), from a ComposerError subclass (the
    kind the command line turns into ``Error: ...``), containing each of ``parts``.
    """
    from composer.errors import ComposerError

    message = str(exc.value)
    assert isinstance(exc.value, ComposerError), repr(exc.value)
    assert message.strip() and "\n" not in message and "\r" not in message, repr(message)
    for part in parts:
        assert part in message, (part, message)
    return message


def rewrite_safetensors(src: Path, dst: Path, **changes: str | None) -> Path:
    """A copy of a safetensors file with header entries changed (None drops one)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(changes)
    save_file(tensors, str(dst), metadata={k: v for k, v in meta.items() if v is not None})
    return dst


# A tiny random-weight model for generation tests (test_generate, test_lookahead)
RANGES = [[60, 81], [53, 74], [48, 69], [36, 62]]


def tiny_model(arch: str = "transformer", seed: int = 0, ahead: bool = False) -> "Model":
    """A random-weight model with the chorale and folk styles: the masks must hold whatever it says.

    ``ahead``: it takes the features ahead of each token (``composer.tokens.ahead``), as trained models do.
    """
    import torch

    from composer.modelfile import Model
    from composer.nn import build_model
    from composer.tokens import Tokenizer

    tok = Tokenizer()
    torch.manual_seed(seed)
    config = dict(vocab_size=len(tok), n_layers=1, d_model=32, n_heads=2, context_len=64) if arch == "transformer" else dict(vocab_size=len(tok), n_layers=1, d_embed=16, d_hidden=32)
    if ahead:
        from composer.tokens.ahead import AHEAD_SIZES

        config["ahead_sizes"] = AHEAD_SIZES
    styles = {
        "chorale": {"pieces": 10, "programs": [52, 52, 52, 52], "pitch_ranges": RANGES},
        "folk": {"pieces": 5, "programs": [0], "pitch_ranges": [[55, 84]]},
    }
    return Model(build_model(arch, config), tok, {"styles": styles})


@pytest.fixture(scope="module")
def model() -> "Model":
    return tiny_model()
