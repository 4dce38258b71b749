"""The fast paths must give exactly what the reference code gives.

* ``Tokenizer._encode_fast`` against ``Tokenizer._encode_general`` (the encoder as it
  was before the fast path): the same ids, or the same error, for every score.
* ``Score``'s canonical note order and tick sorting against the original lexsort/argsort code.
* The MIDI reader's plain-Python tempo rounding against numpy's ``np.round``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composer.errors import ScoreError, TokenizerError
from composer.io.midi import _qpm, read_midi_bytes
from composer.score import (
    KEY_SIGNATURE_DTYPE,
    NOTE_DTYPE,
    TEMPO_DTYPE,
    TIME_SIGNATURE_DTYPE,
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
    tok = TOKENIZERS["default"]
    assert not check_same(tok, Score(notes_array([], [], []), [Part("A")]))
    assert not check_same(tok, Score(notes_array([2**41], [1], [60]), [Part("A")]))
    assert not check_same(tok, Score(notes_array([0], [1], [60]), [Part("A")], key_signatures=[(2**41, 0, False)]))
    assert not check_same(tok, Score(notes_array([0], [1], [60]), [Part("A")], tempos=[(2**41, 90.0)]))
    assert not check_same(tok, Score(notes_array([0], [1], [60]), [Part("A")], time_signatures=[(0, 4, 4), (2**41, 3, 4)]))
    assert not check_same(tok, Score(notes_array([0], [1], [60]), [Part("A")], ticks_per_beat=2**41))
    # Fine ticks and many notes: the general path's sort keys would overflow int64, so it is left to it.
    n = 3000
    assert not check_same(tok, Score(notes_array(np.arange(n) * 2**27, [1] * n, [60] * n), [Part("A")], ticks_per_beat=1))
    # Still in range: taken.
    assert check_same(tok, Score(notes_array([0, 2**30], [1, 2**30], [60, 61]), [Part("A")]))


def test_errors_are_the_general_paths():
    tok = TOKENIZERS["no 4/4"]
    score = Score(notes_array([0, 480], [480, 480], [60, 62]), [Part("A")], time_signatures=[(0, 3, 4)])
    for style in ("unknown", "no such style"):
        assert general(tok, score, style, True)[0] == "error"
        check_same(tok, score, style)  # KeyError before the style's TokenizerError, as before
    too_many = Score(notes_array([0], [1], [60], [3]), [Part(str(i)) for i in range(4)])
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
    assert rows == [(0, 48, 67, 0), (0, 96, 64, 0), (0, 1, 60, 0), (0, 48, 52, 1), (0, 1, 48, 1)]
    assert score.tempos.tolist() == [(0, 120.0), (10, 100.0)]
    assert score.time_signatures.tolist() == [(0, 6, 8)]
    assert not any(a.flags.writeable for a in (score.notes, score.time_signatures, score.key_signatures, score.tempos))
