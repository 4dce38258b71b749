"""Audio (.wav): FluidSynth with a General MIDI soundfont when the system has both, else pretty_midi.

* ``fluidsynth`` backend: the score's MIDI file (``composer.io.midi.to_midi_file``)
  rendered by the ``fluidsynth`` program (``fluidsynth -ni -F out.wav SOUNDFONT in.mid``)
  with the first soundfont found: ``$COMPOSER_SOUNDFONT``, then the usual
  places (``SOUNDFONT_PLACES``; Debian's fluid-soundfont-gm installs the first).
  Stereo, 16 bit.
* ``pretty_midi`` backend: ``PrettyMIDI.synthesize()`` (sine waves; drums are
  silent), written as mono 16-bit WAV with the ``wave`` module.

Either way the samples are then peak-normalized: the loudest sits at
``PEAK_DBFS`` (-1 dBFS), the same for the same score on every run.

``render_wav`` returns the backend it used, and ``write_wav`` (the ``.wav``
entry of ``composer.formats.WRITERS``) says it for the user ("synthesized with
fluidsynth"), which ``composer.formats.write`` hands back. Force a backend
with the ``backend`` argument or ``COMPOSER_AUDIO_BACKEND=fluidsynth|pretty_midi``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from composer.errors import WriteError
from composer.limits import check_audio_seconds
from composer.score import Score

FLUIDSYNTH = "fluidsynth"
PRETTY_MIDI = "pretty_midi"
BACKENDS = (FLUIDSYNTH, PRETTY_MIDI)
BACKEND_ENV = "COMPOSER_AUDIO_BACKEND"
SOUNDFONT_ENV = "COMPOSER_SOUNDFONT"
SOUNDFONT_PLACES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "~/.local/share/soundfonts/default.sf2",
)
DEFAULT_SAMPLE_RATE = 44100
PEAK_DBFS = -1.0  # every WAV is scaled so its loudest sample sits here (fluidsynth alone peaks near -21 dBFS)
PEAK = 10 ** (PEAK_DBFS / 20)  # of full scale: about 0.891
TAIL_SECONDS = 1.0  # let the last notes ring (pretty_midi's release)
SILENCE = 8  # of 32767: about -72 dBFS; fluidsynth's output is cut after its last louder sample


def find_soundfont() -> Path | None:
    """$COMPOSER_SOUNDFONT if set (it must exist), else the first General MIDI soundfont in SOUNDFONT_PLACES."""
    chosen = os.environ.get(SOUNDFONT_ENV, "").strip()
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise WriteError(f"{SOUNDFONT_ENV}={chosen}: no such soundfont file")
        return path
    for place in SOUNDFONT_PLACES:
        path = Path(place).expanduser()
        if path.is_file():
            return path
    return None


def fluidsynth_available() -> bool:
    """True when both the fluidsynth program and a soundfont are there."""
    return shutil.which(FLUIDSYNTH) is not None and find_soundfont() is not None


def choose_backend(backend: str | None = None) -> str:
    """The backend to use: the argument, else $COMPOSER_AUDIO_BACKEND, else fluidsynth when available."""
    backend = (backend or os.environ.get(BACKEND_ENV, "") or "auto").strip().lower().replace("-", "_")
    if backend == "auto":
        return FLUIDSYNTH if fluidsynth_available() else PRETTY_MIDI
    if backend not in BACKENDS:
        raise WriteError(f"audio backend must be one of auto, {', '.join(BACKENDS)}; got {backend!r}")
    return backend


def _midi_bytes(score: Score) -> bytes:
    from composer.io.midi import to_midi_file

    buffer = io.BytesIO()
    to_midi_file(score).save(file=buffer)
    return buffer.getvalue()


def _fluidsynth(score: Score, path: Path, sample_rate: int) -> None:
    program = shutil.which(FLUIDSYNTH)
    if program is None:
        raise WriteError("audio backend fluidsynth: the fluidsynth program is not installed")
    soundfont = find_soundfont()
    if soundfont is None:
        raise WriteError(f"audio backend fluidsynth: no General MIDI soundfont found (set {SOUNDFONT_ENV})")
    seconds = seconds_of(score)
    with tempfile.TemporaryDirectory(prefix="composer-audio-") as folder:
        midi = Path(folder) / "score.mid"
        midi.write_bytes(_midi_bytes(score))
        command = [program, "-ni", "-q", "-T", "wav", "-r", str(sample_rate), "-F", str(path), str(soundfont), str(midi)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60 + 2 * seconds, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise WriteError(f"fluidsynth took longer than {exc.timeout:.0f} s; gave up") from exc
        except OSError as exc:
            raise WriteError(f"cannot run fluidsynth ({exc.strerror})") from exc
    if done.returncode != 0 or not path.is_file() or path.stat().st_size <= 44:
        said = " ".join((done.stderr or done.stdout or "").split())[:200] or f"exit status {done.returncode}"
        raise WriteError(f"fluidsynth failed: {said}")
    _trim_and_normalize(path, seconds)


def normalize_peak(samples: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """int16 samples scaled (all channels alike) so the loudest is ``peak`` of full scale; silence stays silent."""
    loudest = int(np.max(np.abs(samples.astype(np.int32)))) if samples.size else 0
    if loudest == 0:
        return samples
    return np.clip(np.round(samples.astype(np.float64) * (peak * 32767 / loudest)), -32768, 32767).astype("<i2")


def _trim_and_normalize(path: Path, seconds: float) -> None:
    """Cut the near-silent seconds fluidsynth leaves after the last note has died away; peak at ``PEAK_DBFS``."""
    try:
        with wave.open(str(path), "rb") as src:
            params = src.getparams()
            frames = src.readframes(params.nframes)
    except (wave.Error, EOFError) as exc:
        raise WriteError(f"fluidsynth wrote an unreadable WAV ({exc})") from exc
    if params.sampwidth != 2:
        return
    samples = np.frombuffer(frames, "<i2").reshape(-1, params.nchannels)
    loud = np.flatnonzero(np.abs(samples).max(axis=1) >= SILENCE)
    keep = max(int(loud[-1]) + 1 if len(loud) else 0, int(seconds * params.framerate))
    keep = min(len(samples), keep + int(0.05 * params.framerate))
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        out.writeframes(normalize_peak(samples[:keep]).tobytes())


def synthesize(score: Score, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """pretty_midi's sine-wave synthesis of the score: int16 mono samples, peak-normalized."""
    try:
        import pretty_midi
    except ImportError as exc:
        raise WriteError("no audio synthesis available: install pretty_midi, or fluidsynth and a soundfont") from exc
    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(_midi_bytes(score)))
        audio = pm.synthesize(fs=sample_rate)
    except Exception as exc:  # pretty_midi rejects some files (e.g. > 1e7 ticks)
        raise WriteError(f"pretty_midi cannot synthesize this score ({' '.join(str(exc).split())[:200]})") from exc
    length = int(round((seconds_of(score) + TAIL_SECONDS) * sample_rate))
    audio = np.asarray(audio, np.float64)[:length]
    if len(audio) < length:
        audio = np.concatenate([audio, np.zeros(length - len(audio))])
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0:
        audio = audio * (PEAK / peak)
    return np.round(audio * 32767).astype("<i2")


def wav_bytes(samples: np.ndarray, sample_rate: int, channels: int = 1) -> bytes:
    """16-bit PCM WAV file bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.asarray(samples, "<i2").tobytes())
    return buffer.getvalue()


def seconds_of(score: Score) -> float:
    """Seconds from the start to the end of the last note, following the tempo map."""
    return ticks_to_seconds(score, score.end_tick)


def ticks_to_seconds(score: Score, ticks: int | np.ndarray) -> float | np.ndarray:
    """Tick positions to seconds through the score's tempo map."""
    tempos = score.tempos
    starts = tempos["tick"].astype(np.float64)
    sec_per_tick = 60.0 / (tempos["qpm"] * score.ticks_per_beat)
    offsets = np.concatenate([[0.0], np.cumsum(np.diff(starts) * sec_per_tick[:-1])])
    t = np.asarray(ticks, np.float64)
    index = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
    seconds = offsets[index] + (t - starts[index]) * sec_per_tick[index]
    return float(seconds) if np.ndim(seconds) == 0 else seconds


def render_wav(score: Score, path: str | Path, *, backend: str | None = None, sample_rate: int = DEFAULT_SAMPLE_RATE) -> str:
    """Write the score as a WAV file; returns the backend used ("fluidsynth" or "pretty_midi")."""
    if len(score.notes) == 0:
        raise WriteError("cannot write audio: the score has no notes")
    path = Path(path)
    check_audio_seconds(seconds_of(score), str(path), WriteError)  # (issue 15) before a sample is made
    chosen = choose_backend(backend)
    if chosen == FLUIDSYNTH:
        _fluidsynth(score, path, sample_rate)
    else:
        data = wav_bytes(synthesize(score, sample_rate), sample_rate)
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise WriteError(f"{path}: cannot write WAV ({exc.strerror})") from exc
    check_wav_complete(path, seconds_of(score))  # (issue 15) a full disk must not pass for a short piece
    return chosen


def check_wav_complete(path: Path, seconds: float) -> None:
    """Raise WriteError unless ``path`` is a whole WAV file at least ``seconds`` long (a full disk cuts it short)."""
    try:
        with wave.open(str(path), "rb") as src:
            params = src.getparams()
            data = src.readframes(params.nframes)
    except (wave.Error, EOFError, OSError) as exc:
        raise WriteError(f"{path}: the WAV written is unreadable ({exc}); is the disk full?") from exc
    whole = len(data) == params.nframes * params.nchannels * params.sampwidth
    if not whole or params.nframes < int(seconds * params.framerate):
        have = len(data) / max(1, params.nchannels * params.sampwidth) / params.framerate
        raise WriteError(f"{path}: the WAV written holds {have:.1f} s of a {seconds:.1f} s piece; is the disk full?")


def wav_data(score: Score, *, sample_rate: int = 22050, backend: str | None = None, mono: bool = False) -> tuple[bytes, str]:
    """(WAV file bytes, backend) without touching the caller's folders; ``mono`` mixes stereo down."""
    with tempfile.TemporaryDirectory(prefix="composer-audio-") as folder:
        path = Path(folder) / "score.wav"
        used = render_wav(score, path, backend=backend, sample_rate=sample_rate)
        data = path.read_bytes()
    if mono:
        with wave.open(io.BytesIO(data), "rb") as src:
            channels, rate = src.getnchannels(), src.getframerate()
            frames = src.readframes(src.getnframes())
        if channels > 1 and src.getsampwidth() == 2:
            samples = np.frombuffer(frames, "<i2").reshape(-1, channels).astype(np.int32).mean(axis=1)
            data = wav_bytes(np.round(samples).astype("<i2"), rate)
    return data, used


def write_wav(score: Score, path: str | Path) -> str:
    """The WRITERS entry: ``render_wav`` with the default backend; returns which synthesizer made the WAV."""
    return f"synthesized with {render_wav(score, path)}"
