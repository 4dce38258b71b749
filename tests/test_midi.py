"""Reading and writing standard MIDI files: real files made with mido, read back with symusic."""

from pathlib import Path

import mido
import pytest

from composer.errors import ReadError, WriteError
from composer.formats import Written, read, write
from composer.io.midi import DRUM_CHANNEL, channels, read_midi
from composer.score import PHRASE_END, SECTION_START, Part
from conftest import make_score, note_rows


def test_type0_file_splits_channels_and_keeps_drums_apart(type0_midi):
    s = read(type0_midi)
    assert s.ticks_per_beat == 96
    assert [(p.program, p.is_drum) for p in s.parts] == [(40, False), (0, True)]
    assert note_rows(s) == [(0, 96, 70, 0), (0, 48, 36, 1), (96, 192, 72, 0)]
    assert s.time_signatures.tolist() == [(0, 3, 4)]
    assert s.key_signatures.tolist() == [(0, -2, False)]
    assert s.tempos["qpm"].tolist() == [100.0]


def test_type1_file_with_meter_tempo_and_key_changes(type1_midi):
    s = read(type1_midi)
    assert s.ticks_per_beat == 1000
    assert [p.name for p in s.parts] == ["Flute", "Cello"]
    assert [p.program for p in s.parts] == [73, 42]
    assert s.time_signatures.tolist() == [(0, 4, 4), (4000, 6, 8)]
    assert s.tempos.tolist() == [(0, 120.0), (4000, 80.0)]
    assert s.key_signatures.tolist() == [(0, 1, True), (7000, 1, False)]
    assert len(s) == 8


def test_write_then_read_round_trips(tmp_path):
    s = make_score(
        [(0, 1, 72, 0), (0, 2, 48, 1), (1, 0.5, 74, 0), (1.5, 0.5, 74, 0), (2, 1, 38, 2)],
        parts=(Part("Soprano", 52), Part("Bass", 32), Part("Kit", is_drum=True)),
        time_signatures=[(0, 1, 4), (480, 3, 4)],
        key_signatures=[(0, -3, True)],
        tempos=[(0, 66.0)],
        title="Test",
        metadata={"model": "chorale", "seed": "tinynotation: 4/4 c4 d=e", "note": "Dvořák"},
    )
    done = write(s, tmp_path / "out.mid")
    assert done == Written(tmp_path / "out.mid", "")  # MIDI has nothing to tell the user
    path = done.path
    back = read(path)
    assert back.title == "Test" and back.metadata == s.metadata  # text events read back, UTF-8 and '=' in values
    assert note_rows(back) == note_rows(s)  # the repeated 74 re-strikes: note-off goes first
    assert back.parts == s.parts
    assert back.time_signatures.tolist() == s.time_signatures.tolist()
    assert back.key_signatures.tolist() == s.key_signatures.tolist()
    assert back.tempos.tolist() == s.tempos.tolist()
    mid = mido.MidiFile(path)
    assert mid.type == 1 and len(mid.tracks) == 4
    used = {m.channel for t in mid.tracks[1:] for m in t if m.type == "note_on"}
    assert DRUM_CHANNEL in used and len(used) == 3


def test_markers_round_trip_as_marker_events_and_other_markers_are_ignored(tmp_path):
    markers = [(480, PHRASE_END), (480, SECTION_START), (1440, PHRASE_END)]
    s = make_score([(0, 1, 72), (1, 2, 74)], markers=markers)
    back = read(write(s, tmp_path / "m.mid").path)
    assert back.markers.tolist() == markers and note_rows(back) == note_rows(s)
    assert back == s
    conductor = mido.MidiFile(tmp_path / "m.mid").tracks[0]
    assert [(m.type, m.text) for m in conductor if m.type == "marker"] == [("marker", "phrase"), ("marker", "section"), ("marker", "phrase")]
    # A marker of another text (a DAW's "Chorus"), or one on a note track, is read as what it says, or not at all.
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("marker", text="Chorus", time=0), mido.MetaMessage("marker", text="Section", time=960)]))
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=80), mido.MetaMessage("marker", text="phrase", time=480), mido.Message("note_off", note=60, time=0)]))
    mid.save(tmp_path / "daw.mid")
    assert read(tmp_path / "daw.mid").markers.tolist() == [(480, PHRASE_END), (960, SECTION_START)]


def test_drums_go_on_channel_10_and_the_rest_skip_it():
    parts = tuple(Part(f"P{i}", is_drum=i == 2) for i in range(17))
    numbers = channels(parts)
    assert DRUM_CHANNEL == 9  # zero-based, as MIDI messages count: "channel 10" to musicians
    assert numbers[2] == DRUM_CHANNEL
    assert numbers[:2] + numbers[3:] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 0]  # 15 melodic, then round again


def test_never_overwrites_without_force_and_leaves_no_temporary_files(tmp_path):
    s = make_score([(0, 1, 60)])
    path = tmp_path / "a.mid"
    path.write_bytes(b"precious")
    with pytest.raises(WriteError, match="file exists"):
        write(s, path)
    assert path.read_bytes() == b"precious"
    write(s, path, force=True)
    assert read(path) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mid"]
    with pytest.raises(WriteError, match="unsupported output suffix"):
        write(s, tmp_path / "a.xyz")
    with pytest.raises(WriteError, match="does not exist"):
        write(s, tmp_path / "missing" / "a.mid")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"RIFF....WAVEfmt ", "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01", "corrupt or truncated"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x00\x01\xe0", "contains no notes"),
    ],
)
def test_bad_midi_input_gets_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(ReadError, match=message) as info:
        read(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_real_file(type1_midi, tmp_path):
    data = type1_midi.read_bytes()
    cut = tmp_path / "cut.mid"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError, match="cut.mid: corrupt or truncated"):
        read_midi(cut)


def test_read_errors_for_paths(tmp_path):
    with pytest.raises(ReadError, match="no such file"):
        read(tmp_path / "nope.mid")
    with pytest.raises(ReadError, match="is a folder"):
        read(tmp_path)
    (tmp_path / "x.doc").write_bytes(b"x")
    with pytest.raises(ReadError, match="unsupported input suffix '.doc'"):
        read(tmp_path / "x.doc")


def test_names_outside_latin1_round_trip(tmp_path):
    s = make_score([(0, 1, 60)], parts=(Part("Sopran – Ü ♪"),), title="Lied – ♪")
    written = write(s.replace(metadata={"seed": "“quoted”"}), tmp_path / "u.mid")
    assert read(written).parts[0].name == "Sopran – Ü ♪"


def test_leading_text_reads_the_first_tracks_opening_meta_events_and_never_raises(tmp_path, type0_midi):
    from composer.io.midi import leading_text

    assert read(type0_midi).title == "Tune"  # a type 0 file's only track name
    s = make_score([(0, 1, 60)], title="Song", metadata={"random_seed": "7"})
    data = write(s, tmp_path / "a.mid").path.read_bytes()
    assert leading_text(data) == ("Song", {"random_seed": "7"})
    for n in range(len(data)):  # any truncation: what was read, or nothing, never an error
        title, metadata = leading_text(data[:n])
        assert title in ("", "Song") and metadata in ({}, {"random_seed": "7"})


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    import os
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)  # a process that has exited: its PID names no live process (barring reuse)
    stale = tmp_path / f".a.{dead_pid}.x1y2z3.tmp.mid"
    live = tmp_path / f".a.{os.getpid()}.q9w8e7.tmp.mid"  # a writer still running: left alone
    other = tmp_path / f".b.{dead_pid}.x1y2z3.tmp.mid"  # another file's: not this write's business
    for path in (stale, live, other):
        path.write_bytes(b"half a file")
    write(make_score([(0, 1, 60)]), tmp_path / "a.mid")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.mid", live.name, other.name])


def test_reading_midi_leaves_symusics_soundfont_downloader_unimported(type1_midi):
    """symusic imports pySmartDL (urllib, http, ssl) at import; a stand-in defers it until it is used."""
    import subprocess
    import sys

    code = f"""
import sys
from composer.io.midi import read_midi
read_midi({str(type1_midi)!r})
assert "pySmartDL" not in sys.modules and "http.client" not in sys.modules, sorted(sys.modules)
import pySmartDL, symusic.soundfont
class Fake:
    def __init__(self, *args, **kwargs):
        self.args = args
pySmartDL.SmartDL = Fake
made = symusic.soundfont.SmartDL("url", "path")  # symusic's own name forwards to the real module
assert isinstance(made, Fake) and made.args == ("url", "path")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
