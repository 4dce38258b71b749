"""The fast paths must give exactly what the reference code gives.

* ``Tokenizer._encode_fast`` against ``Tokenizer._encode_general`` (the encoder as it
  was before the fast path): the same ids, or the same error, for every score.
* ``Score``'s canonical note order and tick sorting against the original lexsort/argsort code.
* The MIDI reader (plain-Python meta tables, tempo rounding, its own note ordering, the Score
  assembled directly) against the reader as it was, on the corpus and on random files.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composer.errors import ReadError, ScoreError, TokenizerError
from composer.io.midi import _by_tick_rows, _qpm, read_midi_bytes, score_from_symusic
from composer.score import (
    KEY_SIGNATURE_DTYPE,
    NOTE_DTYPE,
    SHARPS_MAX,
    SHARPS_MIN,
    TEMPO_DTYPE,
    TIME_SIGNATURE_DTYPE,
    VELOCITY_MIN,
    Part,
    Score,
    _by_tick,
    notes_array,
)
from composer.tokens import DEFAULT_TEMPOS_QPM, Tokenizer, TokenizerConfig
from conftest import corpus_files

CONFIGS = {
    "default": TokenizerConfig(),
    "coarse": TokenizerConfig(steps_per_beat=4, max_bar_beats=8, fine_duration_beats=1, max_duration_beats=2),
    "odd grid": TokenizerConfig(steps_per_beat=7, max_bar_beats=5, max_parts=3),
    "no 4/4": TokenizerConfig(steps_per_beat=12, max_bar_beats=2),  # meters it lacks fall back to a missing 4/4
    "fine": TokenizerConfig(steps_per_beat=96, max_bar_beats=32, max_parts=64),
}
TOKENIZERS = {name: Tokenizer(config) for name, config in CONFIGS.items()}
# The same vocabularies with the fast path switched off: encode() runs _encode_general.
REFERENCES = {name: Tokenizer(config) for name, config in CONFIGS.items()}
for _ref in REFERENCES.values():
    _ref._encode_fast = lambda score, style, eos: None


def outcome(fn):
    """What a call gives: ('ok', dtype, ids) or ('error', type, message)."""
    try:
        ids = fn()
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return ("error", type(exc), str(exc))
    return ("ok", ids.dtype, ids.tolist())


def general(tok: Tokenizer, score: Score, style: str, eos: bool):
    """What ``encode`` gives with the fast path switched off."""
    ref = REFERENCES[next(name for name, t in TOKENIZERS.items() if t is tok)]
    return outcome(lambda: ref.encode(score, style, eos=eos))


def check_same(tok: Tokenizer, score: Score, style: str = "unknown", eos: bool = True) -> bool:
    """encode (fast path where it applies) == general path; returns whether the fast path applied."""
    fast = outcome(lambda: tok.encode(score, style, eos=eos))
    assert fast == general(tok, score, style, eos)
    if fast[0] == "ok":
        assert fast[1] == np.int32
    if score.num_parts > tok.config.max_parts:
        return False
    return tok._encode_fast(score, style, eos) is not None


# -- the bundled corpus -----------------------------------------------------------------
@pytest.mark.parametrize("collection", ["chorales", "folk"])
def test_fast_encoder_equals_general_on_the_whole_bundled_corpus(collection):
    files = corpus_files(collection)
    assert len(files) > 300
    declined = []
    for path in files:
        score = read_midi_bytes(path.read_bytes(), str(path))
        for name, tok in TOKENIZERS.items():
            fast_applied = check_same(tok, score)
            if name == "default" and not fast_applied:
                declined.append(path.name)
        check_same(TOKENIZERS["default"], score, "chorale", eos=False)
    assert declined == []  # the corpus is exactly what the fast path is for


# -- random scores ------------------------------------------------------------------------
TPBS = (1, 3, 7, 24, 96, 100, 384, 480, 960, 1000)


@st.composite
def scores(draw):
    tpb = draw(st.sampled_from(TPBS))
    n_parts = draw(st.integers(1, 5))
    span = tpb * draw(st.integers(1, 48))
    grid = max(1, tpb // draw(st.sampled_from((1, 2, 3, 4, 6, 8, 12))))
    # On-grid and off-grid ticks alike: off-grid ones may share a step with a neighbour.
    tick = st.one_of(st.integers(0, span // grid).map(lambda k: k * grid), st.integers(0, span))
    duration = st.one_of(st.integers(1, 4 * tpb), st.integers(1, 40 * tpb), st.just(1))
    n = draw(st.integers(0, 40))
    rows = draw(
        st.lists(
            st.tuples(tick, duration, st.integers(0, 127), st.integers(0, n_parts - 1), st.integers(1, 127)),
            min_size=n,
            max_size=n,
        )
    )
    if rows and draw(st.booleans()):  # a chord, with an exact duplicate, in every part
        t = rows[0][0]
        rows += [(t, tpb, 60 + p, p, 80) for p in range(n_parts)] + [(t, tpb, 60, 0, 90)]
    notes = np.zeros(len(rows), NOTE_DTYPE)
    for i, (s, d, p, part, v) in enumerate(rows):
        notes[i] = (s, d, p, v, part)
    den = st.sampled_from((1, 2, 4, 8, 16, 32, 64))
    meters = draw(st.lists(st.tuples(tick, st.integers(1, 20), den), max_size=5))
    if draw(st.booleans()):
        meters.insert(0, (0, draw(st.integers(1, 13)), draw(den)))
    keys = draw(st.lists(st.tuples(tick, st.integers(-7, 7), st.booleans()), max_size=4))
    qpm = st.one_of(st.sampled_from([float(q) for q in DEFAULT_TEMPOS_QPM]), st.floats(5, 500), st.just(float(np.sqrt(120 * 126))))
    tempos = draw(st.lists(st.tuples(tick, qpm), max_size=4))
    parts = [Part(f"P{i}", program=draw(st.integers(0, 127)), is_drum=draw(st.booleans())) for i in range(n_parts)]
    return Score(notes, parts, ticks_per_beat=tpb, time_signatures=meters, key_signatures=keys, tempos=tempos)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores(), st.sampled_from(sorted(CONFIGS)), st.sampled_from(["unknown", "folk", "no such style"]), st.booleans())
def test_fast_encoder_equals_general_on_random_scores(score, config, style, eos):
    check_same(TOKENIZERS[config], score, style, eos)


@settings(max_examples=200, deadline=None)
@given(scores())
def test_fast_encoder_equals_general_on_decoded_and_reread_scores(score):
    """Scores the trusted constructors build (decode, the MIDI reader) go the same way."""
    from composer.io.midi import to_midi_file

    tok = TOKENIZERS["default"]
    check_same(tok, score)
    ids = tok.encode(score)
    check_same(tok, tok.decode(ids))
    check_same(tok, tok.decode(ids, ticks_per_beat=7))
    if len(score) and score.ticks_per_beat <= 0x7FFF:
        import io

        buffer = io.BytesIO()
        to_midi_file(score).save(file=buffer)
        check_same(tok, read_midi_bytes(buffer.getvalue()))


def test_the_fast_path_covers_meter_key_and_tempo_changes_and_off_grid_ticks():
    tok = TOKENIZERS["default"]
    notes = notes_array([0, 1, 2, 470, 480, 481, 1000, 2400, 2401, 5000], [480, 1, 10000, 480, 480, 7, 480, 960, 960, 480],
                        [60, 72, 64, 61, 62, 50, 70, 65, 66, 67], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    score = Score(
        notes,
        [Part("A"), Part("B", is_drum=True)],
        time_signatures=[(0, 3, 8), (700, 5, 8), (1500, 7, 16), (2000, 4, 4), (2100, 2, 4), (4000, 17, 64)],
        key_signatures=[(0, 2, False), (490, 2, False), (1200, -3, True), (1200, 4, False), (6000, 1, False)],
        tempos=[(0, 97.3), (10, 97.3), (1000, 240.0), (2401, 60.0)],
    )
    for tok in TOKENIZERS.values():
        assert check_same(tok, score) or tok is TOKENIZERS["no 4/4"]
    assert check_same(TOKENIZERS["default"], score, "folk", eos=False)


def test_the_fast_path_declines_what_could_overflow_and_empty_scores():
    """Scores it declines; each is kept small for the general path (it builds every bar)."""
    tok = TOKENIZERS["default"]
    big = 2**41  # ticks; the fast path takes ticks below 2**40
    tpb = 2**39  # so 2**41 ticks are 4 beats: one bar
    one = notes_array([0], [1], [60])
    assert not check_same(tok, Score(notes_array([], [], []), [Part("A")]))
    assert not check_same(tok, Score(notes_array([big], [1], [60]), [Part("A")], ticks_per_beat=tpb))
    assert not check_same(tok, Score(one, [Part("A")], ticks_per_beat=tpb, key_signatures=[(big, 0, False)]))
    assert not check_same(tok, Score(one, [Part("A")], ticks_per_beat=tpb, tempos=[(big, 90.0)]))
    assert not check_same(tok, Score(one, [Part("A")], ticks_per_beat=tpb, time_signatures=[(0, 4, 4), (big, 3, 4)]))
    assert not check_same(tok, Score(one, [Part("A")], ticks_per_beat=2**40))
    # Still in range: taken.
    assert check_same(tok, Score(notes_array([0, 2**30], [1, 2**30], [60, 61]), [Part("A")], ticks_per_beat=2**26))
    assert check_same(tok, Score(notes_array([0, 2**39], [1, 1], [60, 61]), [Part("A")], ticks_per_beat=2**38))


def test_durations_so_long_that_int64_wraps_give_the_general_paths_tokens():
    tok = TOKENIZERS["default"]
    for duration in (2**62, 2**63 - 10, 2**61 + 12345):
        for tpb in (480, 96, 1):
            score = Score(notes_array([0, 10], [duration, 5], [60, 62]), [Part("A")], ticks_per_beat=tpb)
            assert check_same(tok, score)


def test_the_fast_path_declines_where_the_general_sort_keys_would_overflow():
    """(last step + 1) * 6 * (notes + 1) * slots >= 2**62: too big to run the general path, so just the decline."""
    n = 20_000
    score = Score(notes_array(np.linspace(0, 2**40 - 1, n).astype(np.int64), [1] * n, [60] * n), [Part("A")], ticks_per_beat=1)
    assert TOKENIZERS["default"]._encode_fast(score, "unknown", True) is None


def test_errors_are_the_general_paths():
    tok = TOKENIZERS["no 4/4"]
    score = Score(notes_array([0, 480], [480, 480], [60, 62]), [Part("A")], time_signatures=[(0, 3, 4)])
    for style in ("unknown", "no such style"):
        assert general(tok, score, style, True)[0] == "error"
        check_same(tok, score, style)  # the meter's TokenizerError before the style's, as before
    # Four instrument families: nothing to merge (score.fit_parts), so four parts stay too many.
    too_many = Score(notes_array([0], [1], [60], [3]), [Part(str(i), program=8 * i) for i in range(4)])
    with pytest.raises(TokenizerError, match="at most 3"):
        TOKENIZERS["odd grid"].encode(too_many)


# -- Score: canonical order and tick maps against the original code -------------------------
def original_order(notes: np.ndarray) -> np.ndarray:
    if len(notes) < 2:
        return notes
    return notes[np.lexsort((notes["duration_ticks"], -notes["pitch"], notes["part"], notes["start_tick"]))]


def original_by_tick(events: np.ndarray) -> np.ndarray:
    if len(events) < 2:
        return events
    events = events[np.argsort(events["tick"], kind="stable")]
    keep = np.ones(len(events), bool)
    keep[:-1] = events["tick"][1:] != events["tick"][:-1]
    return events[keep]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(1, 4), st.integers(58, 62), st.integers(1, 3), st.integers(0, 2)), max_size=40),
    st.integers(3, 40),
    st.sampled_from([0, 2**40, 2**55, 2**62]),
)
def test_canonical_order_equals_the_original_lexsort(rows, n_parts, offset):
    """Many ties (few distinct starts, pitches and durations), the velocity telling apart exact duplicates."""
    notes = np.zeros(len(rows), NOTE_DTYPE)
    for i, (s, d, p, v, part) in enumerate(rows):
        notes[i] = (s + offset if s % 2 else s, d, p, v, part)
    parts = [Part(str(i)) for i in range(n_parts)]
    for trusted in (False, True):
        score = Score(notes.copy(), parts, _trusted=trusted)
        assert score.notes.tobytes() == original_order(notes).tobytes()
        assert not score.notes.flags.writeable


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 9), st.sampled_from((2, 4, 8))), max_size=12))
def test_tick_maps_sort_and_dedupe_as_before(rows):
    events = np.array(rows, TIME_SIGNATURE_DTYPE) if rows else np.zeros(0, TIME_SIGNATURE_DTYPE)
    assert _by_tick(events.copy()).tobytes() == original_by_tick(events).tobytes()
    score = Score(notes_array([0], [1], [60]), [Part("A")], time_signatures=events)
    expected = original_by_tick(events)
    if len(expected) == 0 or expected["tick"][0] > 0:
        expected = np.concatenate([np.array([(0, 4, 4)], TIME_SIGNATURE_DTYPE), expected])
    assert score.time_signatures.tobytes() == expected.tobytes()


def test_longer_tick_maps_sort_and_dedupe_as_before():
    rng = np.random.default_rng(1)
    for ticks in (np.arange(20) * 7, np.sort(rng.integers(0, 30, 20)), rng.integers(0, 30, 20), np.arange(20)[::-1]):
        events = np.zeros(len(ticks), TIME_SIGNATURE_DTYPE)
        events["tick"] = ticks
        events["numerator"] = np.arange(1, len(ticks) + 1)
        events["denominator"] = 4
        assert _by_tick(events.copy()).tobytes() == original_by_tick(events).tobytes()


def test_score_still_copies_and_validates_untrusted_input():
    notes = notes_array([0, 10], [5, 5], [60, 61])
    score = Score(notes, [Part("A")])
    assert score.notes is not notes and notes.flags.writeable
    notes["pitch"] = 0
    assert score.notes["pitch"].tolist() == [60, 61]
    ts = np.array([(0, 3, 4)], TIME_SIGNATURE_DTYPE)
    assert Score(notes_array([0], [1], [60]), [Part("A")], time_signatures=ts).time_signatures is not ts
    with pytest.raises(ScoreError, match="pitch"):
        Score(notes_array([0], [1], [128]), [Part("A")])
    with pytest.raises(ScoreError, match="part"):
        Score(notes_array([0], [1], [60], [1]), [Part("A")])
    keys = np.array([(0, 1, True)], KEY_SIGNATURE_DTYPE)
    tempos = np.array([(5, 90.0)], TEMPO_DTYPE)
    score = Score(notes_array([0], [1], [60]), [Part("A")], key_signatures=keys, tempos=tempos)
    assert score.key_signatures is not keys and score.key_signatures.tolist() == [(0, 1, True)]
    assert score.tempos.tolist() == [(0, 120.0), (5, 90.0)] and keys.flags.writeable and tempos.flags.writeable


# -- MIDI reader: tempo rounding -------------------------------------------------------------
def test_tempo_rounding_equals_numpys():
    rng = np.random.default_rng(0)
    mspq = np.concatenate([np.arange(-3, 200_000), rng.integers(200_000, 2**24, 300_000), rng.integers(-(2**31), 2**31, 50_000)])
    mspq = mspq.astype(np.int32)
    expected = np.round(60_000_000.0 / np.maximum(mspq, 1), 2)
    got = np.array([_qpm(m) for m in mspq.tolist()])
    assert got.tobytes() == expected.tobytes()


def test_reader_output_is_unchanged_for_clamped_and_unsorted_input():
    """Zero-length notes (clamped to one tick), several tracks, notes out of canonical order."""
    import io

    import mido

    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=6, denominator=8),
                                mido.MetaMessage("set_tempo", tempo=600_001, time=10)])
    mid.tracks.append(conductor)
    for channel, pitches in ((0, (60, 64, 67)), (1, (48, 52))):
        track = mido.MidiTrack()
        for p in pitches:  # ascending within the chord: the Score puts them high to low
            track.append(mido.Message("note_on", note=p, velocity=70, channel=channel))
        track.append(mido.Message("note_off", note=pitches[0], channel=channel, time=0))  # zero length
        for p in pitches[1:]:
            track.append(mido.Message("note_off", note=p, channel=channel, time=48))
        mid.tracks.append(track)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    score = read_midi_bytes(buffer.getvalue())
    rows = list(zip(*(score.notes[f].tolist() for f in ("start_tick", "duration_ticks", "pitch", "part"))))
    assert rows == [(0, 96, 67, 0), (0, 48, 64, 0), (0, 1, 60, 0), (0, 48, 52, 1), (0, 1, 48, 1)]  # as before the change
    assert score.tempos.tolist() == [(0, 120.0), (10, 100.0)]
    assert score.time_signatures.tolist() == [(0, 6, 8)]
    assert not any(a.flags.writeable for a in (score.notes, score.time_signatures, score.key_signatures, score.tempos))


# -- MIDI reader against the original reader --------------------------------------------------
def original_score_from_symusic(sm, source="<midi>"):
    """composer.io.midi.score_from_symusic as it was before the fast path (numpy on every table)."""

    def events(records, dtype, fields):
        arrays = records.numpy()
        out = np.zeros(len(arrays["time"]), dtype)
        out["tick"] = arrays["time"]
        for ours, theirs in fields.items():
            out[ours] = arrays[theirs]
        return out

    columns, parts, names_seen = [], [], {}
    for track in sm.tracks:
        arrays = track.notes.numpy()
        if len(arrays["time"]) == 0:
            continue
        name = track.name.strip() or ("Drums" if track.is_drum else f"Part {len(parts) + 1}")
        names_seen[name] = names_seen.get(name, 0) + 1
        if names_seen[name] > 1:
            name = f"{name} {names_seen[name]}"
        columns.append(arrays)
        parts.append(Part(name=name, program=int(track.program), is_drum=bool(track.is_drum)))
    if not columns:
        raise ReadError(f"{source}: MIDI file contains no notes")
    sizes = [len(c["time"]) for c in columns]
    notes = np.empty(sum(sizes), NOTE_DTYPE)
    notes["start_tick"] = np.concatenate([c["time"] for c in columns])
    notes["duration_ticks"] = np.maximum(np.concatenate([c["duration"] for c in columns]), 1)
    notes["pitch"] = np.concatenate([c["pitch"] for c in columns])
    notes["velocity"] = np.maximum(np.concatenate([c["velocity"] for c in columns]), VELOCITY_MIN)
    notes["part"] = np.repeat(np.arange(len(parts), dtype=np.int16), sizes)
    ts = events(sm.time_signatures, TIME_SIGNATURE_DTYPE, {"numerator": "numerator", "denominator": "denominator"})
    den = ts["denominator"]
    ts = ts[(ts["numerator"] > 0) & (den > 0) & ((den & (den - 1)) == 0)]
    keys = events(sm.key_signatures, KEY_SIGNATURE_DTYPE, {"sharps": "key", "minor": "tonality"})
    keys = keys[(keys["sharps"] >= SHARPS_MIN) & (keys["sharps"] <= SHARPS_MAX)]
    tempo_arrays = sm.tempos.numpy()
    tempos = np.zeros(len(tempo_arrays["time"]), TEMPO_DTYPE)
    tempos["tick"] = tempo_arrays["time"]
    tempos["qpm"] = np.round(60_000_000.0 / np.maximum(tempo_arrays["mspq"], 1), 2)
    notes = original_order(notes)  # what Score() did to them
    return Score(notes, parts, ticks_per_beat=int(sm.ticks_per_quarter), time_signatures=ts, key_signatures=keys,
                 tempos=tempos, _trusted=True)


def same_score(a: Score, b: Score) -> None:
    assert a.ticks_per_beat == b.ticks_per_beat and a.parts == b.parts and a.title == b.title and a.metadata == b.metadata
    for name in ("notes", "time_signatures", "key_signatures", "tempos"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name
        assert not x.flags.writeable and not y.flags.writeable


def parse(data: bytes):
    import symusic

    return symusic.Score.from_midi(data, sanitize_data=True)


@pytest.mark.parametrize("collection", ["chorales", "folk"])
def test_reader_equals_the_original_on_the_whole_bundled_corpus(collection):
    for path in corpus_files(collection):
        data = path.read_bytes()
        same_score(score_from_symusic(parse(data)), original_score_from_symusic(parse(data)))


KEY_NAMES = ["C", "G", "D", "A", "E", "B", "F#", "C#", "F", "Bb", "Eb", "Ab", "Db", "Gb", "Cb",
             "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m", "Dm", "Gm", "Cm", "Fm", "Bbm", "Ebm", "Abm"]


@st.composite
def midi_files(draw):
    """Type 0 and 1 files: chords in any order, repeated and zero-length notes, drums, and meter,
    key and tempo events at any tick in any track (several at one tick too)."""
    import io

    import mido

    file_type = draw(st.sampled_from((0, 1)))
    tpb = draw(st.sampled_from((1, 24, 96, 480, 1000)))
    mid = mido.MidiFile(type=file_type, ticks_per_beat=tpb)
    n_tracks = 1 if file_type == 0 else draw(st.integers(1, 4))
    for t in range(n_tracks):
        events = []  # (tick, order, message)
        for _ in range(draw(st.integers(0, 4))):
            tick = draw(st.integers(0, 8 * tpb))
            kind = draw(st.sampled_from(("time_signature", "key_signature", "set_tempo")))
            if kind == "time_signature":
                msg = mido.MetaMessage(kind, numerator=draw(st.integers(1, 20)), denominator=draw(st.sampled_from((1, 2, 4, 8, 16, 32))))
            elif kind == "key_signature":
                msg = mido.MetaMessage(kind, key=draw(st.sampled_from(KEY_NAMES)))
            else:
                msg = mido.MetaMessage(kind, tempo=draw(st.integers(1, 2**24 - 1)))
            events.append((tick, 0, msg))
        channels = [draw(st.sampled_from((0, 1, 9)))] if file_type == 1 else [0, 1, 9]
        for _ in range(draw(st.integers(0, 12))):
            channel = draw(st.sampled_from(channels))
            start = draw(st.integers(0, 8 * tpb))
            length = draw(st.sampled_from((0, 1, tpb // 3, tpb, 3 * tpb)))
            pitch = draw(st.integers(0, 127))
            events.append((start, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=draw(st.integers(1, 127)))))
            events.append((start + length, 1, mido.Message("note_off", channel=channel, note=pitch)))
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=draw(st.sampled_from(("", "Voice", "Voice "))))])
        now = 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(midi_files())
def test_reader_equals_the_original_on_random_files(data):
    sm = parse(data)
    expected = outcome_of(lambda: original_score_from_symusic(sm))
    got = outcome_of(lambda: score_from_symusic(parse(data)))
    if expected[0] == "error" or got[0] == "error":
        assert got == expected
        return
    same_score(score_from_symusic(parse(data)), original_score_from_symusic(sm))


def outcome_of(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001
        return ("error", type(exc), str(exc))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 9)), max_size=9))
def test_tick_rows_sort_and_dedupe_as_by_tick(rows):
    dtype = np.dtype([("tick", np.int64), ("value", np.int64)])
    expected = _by_tick(np.array(rows, dtype) if rows else np.zeros(0, dtype)).tolist()
    assert _by_tick_rows(list(rows)) == expected
