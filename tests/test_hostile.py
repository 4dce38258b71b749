"""Hostile inputs (issue 15): every small file that claims an enormous piece is refused in one line, fast.

Each hostile file is made here, in the test. A refusal names the file, exits
non-zero, writes nothing and leaves no temporary file behind.
"""

from __future__ import annotations

import errno
import json
import ctypes
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import mido
import numpy as np
import pytest

from composer.errors import ReadError, TokenizerError, WriteError
from composer.limits import MAX_BARS, MAX_INPUT_BYTES, MAX_MIDI_DELTA
from composer.score import Part, Score, fit_parts, notes_array

TIME_LIMIT = 60  # seconds for one command; each refusal takes about one (python's start-up)


# -- the hostile files ------------------------------------------------------
def one_note_midi(path: Path, *, start: int = 0, duration: int, ticks_per_beat: int = 480) -> Path:
    mid = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(mido.MidiTrack([
        mido.Message("note_on", note=60, velocity=64, time=start),
        mido.Message("note_off", note=60, velocity=0, time=duration),
    ]))
    mid.save(path)
    return path


MUSICXML_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="3.1"><part-list>'
    '<score-part id="P1"><part-name>Tune</part-name></score-part></part-list><part id="P1">'
)


def musicxml(path: Path, measures: list[str]) -> Path:
    body = "".join(f'<measure number="{i + 1}">{m}</measure>' for i, m in enumerate(measures))
    path.write_text(MUSICXML_HEAD + body + "</part></score-partwise>\n")
    return path


def note_xml(duration: int) -> str:
    return f"<note><pitch><step>C</step><octave>4</octave></pitch><duration>{duration}</duration></note>"


ATTRIBUTES = "<attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>"


def mxl_bomb(path: Path) -> Path:
    """An .mxl archive of about 70 KB whose score inflates past MAX_INPUT_BYTES."""
    inner = (MUSICXML_HEAD + f'<measure number="1">{ATTRIBUTES}{note_xml(4)}</measure></part></score-partwise>\n').encode()
    padding = b" " * (MAX_INPUT_BYTES + 1024)
    container = b'<?xml version="1.0"?><container><rootfiles><rootfile full-path="score.xml"/></rootfiles></container>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("score.xml", inner[:-1] + padding)
    return path


def hostile_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what its one-line refusal says)."""
    folder.mkdir(exist_ok=True)
    return {
        "long note": (one_note_midi(folder / "long_note.mid", duration=10**8), "longest note"),
        "late note": (one_note_midi(folder / "late_note.mid", start=MAX_MIDI_DELTA, duration=1, ticks_per_beat=1), "length"),
        "abc meter": (_text(folder / "meter.abc", "X:1\nT:t\nM:1000000/1\nL:1/4\nK:C\nCDEF|\n"), "time signature"),
        "abc long note": (_text(folder / "longc.abc", "X:1\nT:t\nM:4/4\nL:1/4\nK:C\nC100000000|\n"), "longest note"),
        "musicxml long note": (musicxml(folder / "long.musicxml", [ATTRIBUTES + note_xml(10**8)]), "longest note"),
        "musicxml many bars": (musicxml(folder / "bars.musicxml", [ATTRIBUTES + note_xml(4)] + ["<note><rest/><duration>4</duration></note>"] * MAX_BARS), "number of bars"),
        "mxl bomb": (mxl_bomb(folder / "bomb.mxl"), "inflated size"),
    }


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return hostile_files(tmp_path_factory.mktemp("hostile"))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "composer", *args], capture_output=True, text=True, timeout=TIME_LIMIT, cwd=cwd)


def assert_refused(proc: subprocess.CompletedProcess, path: Path, says: str, folder: Path, before: set[str]) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert len(lines) == 1 and path.name in lines[0] and says in lines[0], proc.stderr
    assert "unexpected" not in lines[0]
    assert set(os.listdir(folder)) == before, "a refused command left a file behind"


# -- each case, through the reader --------------------------------------------
@pytest.mark.parametrize("case", ["long note", "late note", "abc meter", "abc long note", "musicxml long note", "musicxml many bars", "mxl bomb"])
def test_hostile_file_is_refused_fast_by_the_reader(hostile, case):
    from composer.formats import read

    path, says = hostile[case]
    began = time.monotonic()
    with pytest.raises(ReadError, match=says) as caught:
        read(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert time.monotonic() - began < 20


def test_tinynotation_meter_is_refused_before_music21():
    from composer.io.notation import parse_tinynotation

    began = time.monotonic()
    with pytest.raises(ReadError, match=r"tinynotation: the time signature is 1000000/1"):
        parse_tinynotation("tinynotation: 1000000/1 c4 d e f")
    with pytest.raises(ReadError, match="time signature"):
        parse_tinynotation("4/4 c4 d e f 3/" + "9" * 1000 + " g")
    assert time.monotonic() - began < 5


def test_mxl_within_the_limit_still_reads(tmp_path):
    from composer.formats import read

    path = tmp_path / "ok.mxl"
    inner = MUSICXML_HEAD + f'<measure number="1">{ATTRIBUTES}{note_xml(4)}</measure></part></score-partwise>\n'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", '<?xml version="1.0"?><container><rootfiles><rootfile full-path="s.xml"/></rootfiles></container>')
        archive.writestr("s.xml", inner)
    assert len(read(path).notes) == 1


# -- writers and the tokenizer guard Scores built in Python ------------------------
def late_score() -> Score:
    return Score(notes_array([MAX_MIDI_DELTA + 5], [1], [60]), [Part("P")], ticks_per_beat=1)


def test_midi_writer_never_writes_a_delta_over_28_bits(tmp_path):
    from composer.io.midi import write_midi

    with pytest.raises(WriteError, match=r"2\^28-1") as caught:
        write_midi(late_score(), tmp_path / "late.mid")
    assert "late.mid" in str(caught.value)


def test_write_refuses_a_score_beyond_the_limits_and_leaves_nothing(tmp_path):
    from composer.formats import write

    for suffix in (".mid", ".musicxml", ".wav"):
        with pytest.raises(WriteError, match="length") as caught:
            write(late_score(), tmp_path / f"x{suffix}")
        assert f"x{suffix}" in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_tokenizer_encode_refuses_absurd_bar_counts_at_once():
    from composer.tokens import Tokenizer

    began = time.monotonic()
    with pytest.raises(TokenizerError, match="length"):
        Tokenizer().encode(late_score())
    assert time.monotonic() - began < 2


def test_a_score_that_passed_is_checked_again_once_it_holds_other_arrays():
    from composer.limits import check_score

    fine = Score(notes_array([0], [480], [60], [0]), [Part("Soprano")])
    assert check_score(fine, "fine") is fine and check_score(fine, "fine again") is fine  # the second is a lookup
    late = late_score()
    fine.notes = late.notes  # a field swapped in place of the one that passed
    fine.ticks_per_beat = late.ticks_per_beat
    with pytest.raises(ReadError, match="length"):
        check_score(fine, "swapped")


# -- more than 16 parts --------------------------------------------------------
def music21_test04() -> Path:
    import music21

    path = Path(music21.__file__).parent / "midi" / "testPrimitive" / "test04.mid"
    if not path.is_file():
        pytest.skip(f"music21's test file {path} is not installed")
    return path


def test_21_track_midi_file_reads_converts_and_tokenizes_with_a_round_trip(tmp_path):
    from composer.formats import read, write
    from composer.tokens import Tokenizer

    score = read(music21_test04())
    assert score.num_parts == 21
    write(score, tmp_path / "orchestra.mid")
    assert read(tmp_path / "orchestra.mid").num_parts == 21
    tokenizer = Tokenizer()
    merged = fit_parts(score, tokenizer.config.max_parts)
    assert merged.num_parts <= 16 and len(merged.notes) == len(score.notes)
    assert [p.name for p in merged.parts][:8] == ["Flute", "Oboe", "Clarinet", "Bassoon", "Horn", "Trumpet", "Timpani", "Violin1"]
    decoded = tokenizer.decode(tokenizer.encode(score))
    assert decoded.num_parts == merged.num_parts and len(decoded.notes) == len(score.notes)
    assert tokenizer.encode(decoded).tolist() == tokenizer.encode(merged).tolist()


def test_fit_parts_keeps_drums_apart_and_leaves_small_scores_alone():
    parts = [Part(f"Strings {i}", program=48) for i in range(20)] + [Part("Kit", is_drum=True)]
    score = Score(notes_array(list(range(21)), [1] * 21, [60] * 21, list(range(21))), parts)
    merged = fit_parts(score, 16)
    assert [(p.program, p.is_drum) for p in merged.parts] == [(48, False), (0, True)]
    assert len(merged.notes) == 21
    assert fit_parts(score, 32) is score


# -- model files ---------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    from composer.modelfile import Model, save_model
    from composer.nn import build_model
    from composer.tokens import Tokenizer

    tokenizer = Tokenizer()
    torch.manual_seed(0)
    network = build_model("transformer", {"vocab_size": len(tokenizer), "n_layers": 1, "d_model": 16, "n_heads": 2, "context_len": 32})
    folder = tmp_path_factory.mktemp("models")
    return save_model(Model(network.eval(), tokenizer, {"styles": {"chorale": {}}}), folder / "good.safetensors")


def edited_model(src: Path, dst: Path, *, config: dict | None = None, training: object = None, nan: bool = False) -> Path:
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(src), framework="numpy") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if config:
        meta["model_config"] = json.dumps({**json.loads(meta["model_config"]), **config})
    if training is not None:
        meta["training"] = json.dumps(training)
    if nan:
        tensors = {k: np.full_like(v, np.nan) for k, v in tensors.items()}
    save_file(tensors, str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("change, says", [
    ({"config": {"n_layers": 10**9}}, "n_layers must be <= 256"),
    ({"config": {"context_len": 10**9}}, "context_len must be <= 65536"),
    ({"config": {"n_layers": 3}}, "weights do not fit"),
    ({"nan": True}, "NaN or infinite"),
    ({"training": {"styles": 5}}, "'styles' is int"),
    ({"training": {"sampling": [1, 2]}}, "'sampling' is list"),
    ({"training": ["not", "an", "object"]}, "training metadata is list"),
])
def test_hostile_model_file_is_one_error_naming_it(tiny_model_file, tmp_path, change, says):
    from composer.modelfile import ModelFileError, load_model_file

    bad = edited_model(tiny_model_file, tmp_path / "chorale.safetensors", **change)
    began = time.monotonic()
    with pytest.raises(ModelFileError, match=says) as caught:
        load_model_file(bad)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)
    assert time.monotonic() - began < 5


def test_composer_models_lists_the_good_and_flags_the_bad(tiny_model_file, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "good.safetensors").write_bytes(tiny_model_file.read_bytes())
    edited_model(tiny_model_file, folder / "bad.safetensors", training={"test_bits_per_note": "low"})
    env = {**os.environ, "COMPOSER_MODELS": str(folder)}
    proc = subprocess.run([sys.executable, "-m", "composer", "models"], capture_output=True, text=True, timeout=TIME_LIMIT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "good" in proc.stdout and str(folder / "good.safetensors") in proc.stdout
    assert "bad.safetensors" not in proc.stdout
    assert "bad.safetensors" in proc.stderr and "'test_bits_per_note' is str" in proc.stderr


# -- full disk and errors on writing name the user's file ----------------------------
def test_write_errors_name_the_users_file_not_the_temporary_one(tmp_path):
    from composer.io import atomic_path

    target = tmp_path / "x.mid"
    with pytest.raises(WriteError) as caught:
        with atomic_path(target) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert str(caught.value) == f"{target}: cannot write (No space left on device)"
    with pytest.raises(WriteError) as caught:
        with atomic_path(target) as tmp:
            raise WriteError(f"{tmp}: cannot write MIDI (Read-only file system)")
    assert str(caught.value) == f"{target}: cannot write MIDI (Read-only file system)"
    assert os.listdir(tmp_path) == []


# -- the sweep: every hostile file through every command ----------------------------
SWEEP_OUTPUTS = (".mid", ".musicxml", ".mxl", ".svg", ".wav")


@pytest.fixture(scope="module")
def sweep_model(tmp_path_factory) -> Path:
    """A tiny random-weight model with style profiles, as tests/test_generate.py builds one."""
    torch = pytest.importorskip("torch")
    from composer.modelfile import Model, save_model
    from composer.nn import build_model
    from composer.tokens import Tokenizer

    tokenizer = Tokenizer()
    torch.manual_seed(0)
    network = build_model("transformer", {"vocab_size": len(tokenizer), "n_layers": 1, "d_model": 32, "n_heads": 2, "context_len": 64})
    styles = {"chorale": {"pieces": 10, "programs": [52, 52, 52, 52], "pitch_ranges": [[60, 81], [53, 74], [48, 69], [36, 62]]}}
    return save_model(Model(network, tokenizer, {"styles": styles}), tmp_path_factory.mktemp("sweep-model") / "tiny.safetensors")


@pytest.mark.slow  # about a minute: 63 commands, each a fresh python
def test_sweep_every_hostile_file_through_every_command(hostile, sweep_model, tmp_path):
    work = tmp_path / "out"
    work.mkdir()
    for name, (path, says) in hostile.items():
        runs = [("convert", str(path), "-o", f"out{suffix}") for suffix in SWEEP_OUTPUTS]
        runs += [("tokenize", str(path), "-o", "out.json"), ("originality", str(path))]
        runs += [("generate", str(path), "-o", "out.mid", "--bars", "4", "--model", str(sweep_model))]
        runs += [("harmonize", str(path), "-o", "out.mid", "--model", str(sweep_model))]
        for args in runs:
            before = set(os.listdir(work))
            proc = run_cli(*args, cwd=work)
            assert_refused(proc, path, says, work, before)


def test_short_wav_is_refused_and_a_whole_one_passes(tmp_path):
    from composer.render.audio import check_wav_complete, wav_bytes

    whole = tmp_path / "whole.wav"
    whole.write_bytes(wav_bytes(np.zeros(22050 * 2, "<i2"), 22050))
    check_wav_complete(whole, 2.0)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: 44 + 22050 * 2])  # a full disk: the header promises 2 s, 1 s arrived
    with pytest.raises(WriteError, match=r"cut.wav: the WAV written holds 1.0 s of a 2.0 s piece"):
        check_wav_complete(cut, 2.0)


def test_audio_longer_than_the_limit_is_refused_before_synthesis(tmp_path):
    from composer.formats import write

    slow = Score(notes_array([0], [4 * 480], [60]), [Part("P")], tempos=np.array([(0, 0.01)], [("tick", np.int64), ("qpm", np.float64)]))
    began = time.monotonic()
    with pytest.raises(WriteError, match="slow.wav: the audio length is 24,000 s"):
        write(slow, tmp_path / "slow.wav")
    assert time.monotonic() - began < 5 and os.listdir(tmp_path) == []


def test_corpus_build_killed_between_the_renames_is_recovered(tmp_path):
    from composer.corpus.building import recover

    out = tmp_path / "c2"
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    old = tmp_path / f".c2.old-{dead}-abc"
    (old / "bach").mkdir(parents=True)
    (old / "bach" / "manifest.csv").write_text("file,title,source,key,meter,notes,bars,split\n")
    (tmp_path / f".c2.build-{dead}-def" / "bach").mkdir(parents=True)
    live = tmp_path / f".c2.build-{os.getpid()}-ghi"
    live.mkdir()
    recover(out)
    assert (out / "bach" / "manifest.csv").is_file()  # the set-aside corpus is back
    assert sorted(os.listdir(tmp_path)) == sorted(["c2", live.name])  # a running build's folder is kept


def test_damaged_token_cache_is_rebuilt(tmp_path, monkeypatch):
    from composer.dataset import load_tokens
    from composer.tokens import Tokenizer

    folder = tmp_path / "tunes"
    folder.mkdir()
    for i in range(3):
        one_note_midi(folder / f"t{i}.mid", duration=480)
    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    first = load_tokens(folder, Tokenizer())
    split = next(s for s, part in first.splits.items() if len(part.tokens))
    good = np.asarray(first.splits[split].tokens).copy()
    damaged = good.copy()
    damaged[0] = 32000
    damaged.tofile(first.cache_dir / f"{split}.bin")
    again = load_tokens(folder, Tokenizer())
    assert np.asarray(again.splits[split].tokens).tolist() == good.tolist()


@pytest.mark.parametrize("phrases", ["not a list", [["x"]], [[-5]], [[10**30, "y"]]])
def test_damaged_phrase_ends_in_the_token_cache_are_rebuilt(tmp_path, monkeypatch, phrases):
    from composer.dataset import load_tokens
    from composer.tokens import Tokenizer

    folder = tmp_path / "tunes"
    folder.mkdir()
    for i in range(3):
        one_note_midi(folder / f"t{i}.mid", duration=480)
    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    first = load_tokens(folder, Tokenizer())
    meta_path = first.cache_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    split = next(s for s, info in meta["splits"].items() if info["names"])
    meta["splits"][split]["phrases"] = phrases if not isinstance(phrases, list) else phrases * len(meta["splits"][split]["names"])
    meta_path.write_text(json.dumps(meta))
    again = load_tokens(folder, Tokenizer())
    assert not again.from_cache and again.splits[split].phrases == first.splits[split].phrases


def test_model_save_leaves_no_hidden_file(tiny_model_file, tmp_path):
    from composer.modelfile import load_model_file, save_model

    copy = save_model(load_model_file(tiny_model_file), tmp_path / "copy.safetensors")
    assert os.listdir(tmp_path) == ["copy.safetensors"] and load_model_file(copy).arch == "transformer"


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs to fill (needs root): {done.stderr.strip() or done.returncode}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_full_disk_is_one_line_naming_the_users_file(small_disk, tmp_path):
    (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 8 * 1024))  # 8 KB left
    source = tmp_path / "tune.mid"
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([m for i in range(40) for m in (mido.Message("note_on", note=60 + i % 12, velocity=64, time=0), mido.Message("note_off", note=60 + i % 12, velocity=0, time=480))]))
    mid.save(source)
    for suffix in (".wav", ".musicxml"):
        before = set(os.listdir(small_disk))
        proc = run_cli("convert", str(source), "-o", str(small_disk / f"out{suffix}"), cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(lines) == 1, proc.stdout + proc.stderr
        assert f"out{suffix}" in lines[0] and ".tmp" not in lines[0] and "unexpected" not in lines[0], lines[0]
        assert set(os.listdir(small_disk)) == before


# -- swapping folders at once, and what killed runs of older versions left -------------
def test_exchange_paths_swaps_two_folders_at_once(tmp_path):
    from composer.io.atomic import exchange_paths

    a, b = tmp_path / "a", tmp_path / "b"
    (a / "inner").mkdir(parents=True)
    (a / "inner" / "x.txt").write_text("from a")
    b.mkdir()
    (b / "y.txt").write_text("from b")
    if not exchange_paths(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here (not Linux, or an old kernel or file system)")
    assert (b / "inner" / "x.txt").read_text() == "from a" and (a / "y.txt").read_text() == "from b"
    assert sorted(os.listdir(a)) == ["y.txt"] and sorted(os.listdir(b)) == ["inner"]
    with pytest.raises(FileNotFoundError):
        exchange_paths(a, tmp_path / "missing")


def test_exchange_paths_says_false_where_the_system_cannot(tmp_path, monkeypatch):
    from composer.io import atomic

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("a")
    monkeypatch.setattr(atomic, "_renameat2", lambda: None)  # another OS, or a C library without it
    assert atomic.exchange_paths(a, b) is False

    def old_kernel(*args):
        ctypes.set_errno(errno.ENOSYS)
        return -1

    monkeypatch.setattr(atomic, "_renameat2", lambda: old_kernel)
    assert atomic.exchange_paths(a, b) is False
    assert (a / "f").read_text() == "a" and os.listdir(b) == []  # nothing moved


def _age(path: Path, hours: float = 2) -> Path:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))
    return path


def test_safetensors_own_old_temporary_files_go_with_the_next_save(tiny_model_file, tmp_path):
    from composer.modelfile import load_model_file, save_model

    old, fresh, other = tmp_path / ".tmpA1b2C3", tmp_path / ".tmpZ9y8X7", tmp_path / ".tmpnotes.txt"
    for leftover in (old, fresh, other):
        leftover.write_bytes(b"\0" * 1000)
    _age(old)
    _age(other)  # not safetensors' name: kept however old
    save_model(load_model_file(tiny_model_file), tmp_path / "model.safetensors")
    assert sorted(os.listdir(tmp_path)) == sorted(["model.safetensors", fresh.name, other.name])


def test_old_token_cache_building_folders_go_with_the_next_cache_write(tmp_path, monkeypatch):
    from composer.dataset import load_tokens
    from composer.tokens import Tokenizer

    folder = tmp_path / "tunes"
    folder.mkdir()
    one_note_midi(folder / "t.mid", duration=480)
    cache = tmp_path / "cache"
    monkeypatch.setenv("COMPOSER_CACHE", str(cache))
    (cache / "tokens").mkdir(parents=True)
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    old, killed, fresh = cache / "tokens" / ".building-k3j4h5g6", cache / "tokens" / f".building-{dead}-abcd1234", cache / "tokens" / ".building-running1"
    for leftover in (old, killed, fresh):
        leftover.mkdir()
        (leftover / "train.bin").write_bytes(b"\0" * 100)
    _age(old)
    data = load_tokens(folder, Tokenizer())
    assert sorted(p.name for p in (cache / "tokens").iterdir()) == sorted([data.cache_dir.name, fresh.name])
