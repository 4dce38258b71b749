"""Originality: exact answers on small hand-made corpora, brute force as the oracle, the real corpus, the CLI."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from composer import originality
from composer.cli import cli
from composer.corpus import SPLITS, CorpusError
from composer.formats import read, write
from composer.originality import (
    NGRAM_NOTES,
    CorpusIndex,
    OriginalityError,
    check_originality,
    corpus_files,
    decode_symbol,
    lines_of,
    seed_end_tick,
    suffix_array,
)
from composer.score import Part, Score, notes_array, slice_bars, stack, transpose
from composer.theory import pickup_bars
from conftest import CORPUS, make_score, one_line_error


def melody(pitches, beats, part=0, start=0):
    """Rows for make_score: notes one after another, each lasting until the next."""
    rows, at = [], Fraction(start)
    for pitch, length in zip(pitches, beats):
        rows.append((at, Fraction(length), pitch, part))
        at += Fraction(length)
    return rows


# Ode to Joy, 8 bars of 4/4 (30 notes): no passage of more than 5 notes occurs twice in it.
ODE_PITCHES = [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62, 62, 62, 64, 60, 62, 64, 65, 64, 60, 62, 64, 65, 64, 62, 60, 62, 55]
ODE_BEATS = [1] * 12 + [1.5, 0.5, 2] + [1, 1, 1, 1, 1, 0.5, 0.5, 1, 1, 1, 0.5, 0.5, 1, 1, 1, 1, 2]
# Steps that occur nowhere in the small corpus: intervals over an octave, 5/3 of a beat apart.
ALIEN_INTERVALS = [13, -14, 15, -13]
ALIEN_BEATS = Fraction(5, 3)


def ode() -> Score:
    return make_score(melody(ODE_PITCHES, ODE_BEATS), parts=("Melody",))


def ode_start_then_alien(notes: int) -> Score:
    """The first ``notes`` notes of Ode to Joy, then four notes whose steps are in no corpus file."""
    rows = melody(ODE_PITCHES[:notes], ODE_BEATS[:notes])
    at, pitch = rows[-1][0] + ALIEN_BEATS, ODE_PITCHES[notes - 1]
    for step in ALIEN_INTERVALS:
        pitch += step
        rows.append((at, ALIEN_BEATS, pitch, 0))
        at += ALIEN_BEATS
    return make_score(rows, parts=("Melody",))


def small_pieces() -> dict[str, Score]:
    frere = melody([60, 62, 64, 60, 60, 62, 64, 60, 64, 65, 67, 64, 65, 67], [1] * 10 + [2, 1, 1, 2], part=0)
    bass = melody([48, 43, 48, 43], [4, 4, 4, 4], part=1)
    # chords in one part: the top line (72 71 69 67 65 64) is what counts
    chords = []
    for i, top in enumerate([72, 71, 69, 67, 65, 64]):
        chords += [(i, 1, top, 0), (i, 1, top - 5, 0), (i, 1, top - 9, 0)]
    return {
        "ode.mid": ode(),
        "frere.mid": make_score(frere + bass, parts=("Soprano", "Bass")),
        "chords.mid": make_score(chords, parts=("Piano",)),
    }


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("COMPOSER_CACHE", str(folder))
    return folder


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A folder of MIDI files without manifests (so every file counts)."""
    folder = tmp_path / "small"
    folder.mkdir()
    for name, score in small_pieces().items():
        write(score, folder / name)
    return folder


@pytest.fixture(scope="module")
def small_index() -> CorpusIndex:
    return CorpusIndex.from_scores(small_pieces().items(), corpus="small")


@pytest.fixture(scope="module")
def real_index(tmp_path_factory) -> CorpusIndex:
    """The whole bundled corpus, built once into a fresh cache and read back from it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPOSER_CACHE", str(tmp_path_factory.mktemp("cache")))
        built = CorpusIndex.for_corpus(CORPUS, splits=SPLITS)
        originality._MEMO.clear()
        index = CorpusIndex.for_corpus(CORPUS, splits=SPLITS)
    assert index is not built and np.array_equal(index.sa, built.sa) and index.files == built.files
    return index


# -- lines and symbols -----------------------------------------------------------
def test_lines_take_the_top_note_of_each_onset_and_skip_drums():
    score = Score(
        notes_array([0, 0, 480, 720, 0, 0, 960], [480, 480, 240, 240, 120, 960, 480], [64, 60, 67, 65, 42, 36, 38], [0, 0, 0, 0, 1, 2, 2]),
        [Part("Piano"), Part("Drums", is_drum=True), Part("Bass", program=32)],
    )
    lines = lines_of(score)
    assert lines.part.tolist() == [0, 2]
    assert lines.start.tolist() == [0, 3, 5]
    assert score.notes["pitch"][lines.note].tolist() == [64, 67, 65, 36, 38]
    # +3 semitones a quarter later, -2 an eighth later; the bass: +2 two quarters later
    assert [decode_symbol(s) for s in lines.text[[0, 1, 3]]] == [(3, 24), (-2, 12), (2, 48)]
    assert lines.text[2] == lines.text[4] == 0  # each line's last note: the end mark


def test_symbols_ignore_key_and_resolution_but_not_rhythm():
    score = ode()
    assert np.array_equal(lines_of(transpose(score, -7)).text, lines_of(score).text)
    fine = make_score(melody(ODE_PITCHES, ODE_BEATS), tpb=10080)
    assert np.array_equal(lines_of(fine).text, lines_of(score).text)
    swung = make_score(melody(ODE_PITCHES, [Fraction(4, 3), Fraction(2, 3)] * 6 + ODE_BEATS[12:]))
    assert not np.array_equal(lines_of(swung).text, lines_of(score).text)


def test_suffix_array_sorts_suffixes():
    rng = np.random.default_rng(3)
    for text in ([2, 2, 2, 2, 2], [3, 1, 2, 3, 1, 2, 3, 1], rng.integers(1, 4, 200).tolist()):
        expected = sorted(range(len(text)), key=lambda i: text[i:])
        assert suffix_array(np.array(text)).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(
    corpus=st.lists(st.lists(st.integers(2, 4), max_size=10), min_size=1, max_size=5),
    query=st.lists(st.lists(st.integers(2, 5), max_size=10), min_size=1, max_size=3),
)
def test_matching_statistics_agree_with_brute_force(corpus, query):
    text = np.array([s for line in corpus for s in [*line, 1]], np.int64)
    starts = np.cumsum([0] + [len(line) + 1 for line in corpus])
    index = CorpusIndex(text, suffix_array(text), np.zeros(len(text), np.int32), starts, np.zeros(len(corpus), np.int32), ["x"] * len(corpus), ["f"])
    q = np.array([s for line in query for s in [*line, 0]], np.int64)
    lengths, where = index.matching_statistics(q)
    for i in range(len(q)):
        best = 0
        for t in range(len(text)):
            k = 0
            while i + k < len(q) and t + k < len(text) and q[i + k] == text[t + k]:
                k += 1
            best = max(best, k)
        assert lengths[i] == best
        assert np.array_equal(text[where[i] : where[i] + best], q[i : i + best])


# -- hand-worked answers on the small corpus ---------------------------------------
def test_a_copy_is_found_whole(small_index):
    report = small_index.check(ode())
    assert (report.longest_notes, report.longest_bars) == (32, 8.0)
    assert (report.source, report.source_part, report.source_start_bar) == ("ode.mid", "Melody", 1)
    assert (report.score_part, report.score_start_bar, report.score_start_note) == ("Melody", 1, 0)
    assert (report.ngrams, report.ngrams_found, report.ngram_share) == (32 - 7, 25, 1.0)


def test_a_transposed_copy_in_another_meter_grid_is_found_whole(small_index):
    copy = transpose(make_score(melody(ODE_PITCHES, ODE_BEATS), tpb=96), 5)
    report = small_index.check(copy)
    assert (report.longest_notes, report.longest_bars, report.source, report.ngram_share) == (32, 8.0, "ode.mid", 1.0)


def test_the_top_line_of_chords_is_found_under_other_chords(small_index):
    rows = []
    for i, top in enumerate([79, 78, 76, 74, 72, 71]):  # transposed up a fifth, other chord notes beneath
        rows += [(i, 1, top, 0), (i, 1, top - 3, 0), (i, 1, top - 12, 0)]
    report = small_index.check(make_score(rows))
    assert (report.longest_notes, report.source) == (6, "chords.mid")


def test_ngram_share_hand_worked(small_index):
    # 9 notes of the tune then 3 alien steps: 13 notes, n-grams starting at notes 0..5;
    # found: those at 0 (notes 0-7) and 1 (notes 1-8); the one at 2 runs into the first alien step.
    report = small_index.check(ode_start_then_alien(9))
    assert (report.ngrams, report.ngrams_found) == (6, 2)
    assert report.ngram_share == pytest.approx(2 / 6)
    assert (report.longest_notes, report.longest_bars, report.source_start_bar) == (9, 2.25, 1)


def test_seed_from_the_corpus_is_not_counted_against_the_piece(small_index):
    # The seed is the tune's first two bars (notes 0-7); the piece goes on with two more of its notes
    # (8 and 9: the passage 0-9 runs past the seed), then leaves it.
    piece = ode_start_then_alien(10)
    seed_end = seed_end_tick(piece, 2)
    assert seed_end == 8 * 480
    whole = small_index.check(piece)
    assert (whole.longest_notes, whole.longest_bars) == (10, 2.5)
    seeded = small_index.check(piece, seed_end_tick=seed_end)
    assert (seeded.longest_notes, seeded.score_start_bar, seeded.source, seeded.source_start_bar) == (2, 3, "ode.mid", 3)
    assert seeded.longest_bars == pytest.approx(0.5)
    # n-grams after the seed: notes 8..13, too few for one 8-note n-gram
    assert (seeded.ngrams, seeded.notes_compared, seeded.seed_bars) == (0, 6, 2.0)
    assert "seed: the first 2 bars" in str(seeded)


def test_a_seed_alone_counts_nothing(small_index):
    piece = ode()
    report = small_index.check(piece, seed_end_tick=piece.end_tick)
    assert (report.longest_notes, report.source, report.ngrams, report.notes_compared) == (0, None, 0, 0)


def test_a_new_piece_shares_only_short_passages(small_index):
    # "Greensleeves", 3/4: not in the small corpus
    tune = make_score(
        melody([57, 60, 62, 64, 65, 64, 62, 59, 55, 57, 59, 60, 57, 57, 56, 57, 59, 56, 52], [1, 2, 1, 1.5, 0.5, 1, 2, 1, 1.5, 0.5, 1, 2, 1, 1.5, 0.5, 1, 2, 1, 2]),
        time_signatures=[(0, 3, 4)],
    )
    report = small_index.check(tune)
    assert 0 < report.longest_notes < NGRAM_NOTES
    assert (report.ngrams_found, report.ngram_share) == (0, 0.0)


def test_several_parts_are_each_compared(small_index):
    frere = small_pieces()["frere.mid"]
    report = small_index.check(stack([ode_start_then_alien(3), transpose(frere, 2)]))
    assert (report.longest_notes, report.score_part, report.source, report.source_part) == (14, "Soprano", "frere.mid", "Soprano")


def test_empty_and_one_note_scores():
    index = CorpusIndex.from_scores(small_pieces().items())
    for score in (Score(), make_score([(0, 1, 60)]), Score(notes_array([0], [480], [36], 0), [Part("Kit", is_drum=True)])):
        report = index.check(score)
        assert (report.longest_notes, report.longest_bars, report.ngrams, report.ngram_share, report.source) == (0, 0.0, 0, 0.0, None)
        assert "none" in str(report)


def test_bars_follow_meter_changes_and_pickups(small_index):
    # a one-beat pickup bar, then 4/4: the tune's notes 0-7 start on the pickup
    rows = melody(ODE_PITCHES[:12], ODE_BEATS[:12])
    score = make_score(rows, time_signatures=[(0, 1, 4), (480, 4, 4)])
    report = small_index.check(score)
    assert (report.longest_notes, report.score_start_bar) == (12, 1)
    assert report.longest_bars == pytest.approx(1 + 11 / 4)


score_rows = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(1, 3000), st.integers(0, 127), st.integers(0, 2)),
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(rows=score_rows, tpb=st.sampled_from([24, 96, 480, 1000]), meter=st.sampled_from([(4, 4), (3, 4), (6, 8), (5, 16)]), seed_tick=st.integers(0, 6000), drums=st.booleans(), shift=st.integers(-20, 20))
def test_any_small_score_gets_a_sound_report(small_index, rows, tpb, meter, seed_tick, drums, shift):
    parts = [Part("A"), Part("B"), Part("Kit", is_drum=True) if drums else Part("C")]
    score = Score(notes_array(*zip(*rows)) if rows else None, parts, ticks_per_beat=tpb, time_signatures=[(0, *meter)])
    report = small_index.check(score, seed_end_tick=seed_tick)
    assert 0 <= report.ngrams_found <= report.ngrams and 0.0 <= report.ngram_share <= 1.0
    assert 0 <= report.longest_notes <= report.notes_compared <= len(score)
    assert (report.longest_notes == 0) == (report.source is None) and report.longest_bars >= 0
    if report.longest_notes:
        assert report.score_start_note is not None and score.notes["start_tick"][report.score_start_note] >= seed_tick
    json.dumps(report.to_dict())
    str(report)
    if len(score) and 0 <= score.notes["pitch"].min() + shift and score.notes["pitch"].max() + shift <= 127:
        assert small_index.check(transpose(score, shift), seed_end_tick=seed_tick) == report


# -- folders, the cache, errors -----------------------------------------------------
def test_a_folder_is_indexed_once_and_the_cache_follows_the_files(small_corpus, cache):
    calls = []
    index = CorpusIndex.for_corpus(small_corpus, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3, 3) and index.files == ["chords.mid", "frere.mid", "ode.mid"]
    assert len(list((cache / "originality").glob("*.npz"))) == 1
    originality._MEMO.clear()
    calls.clear()
    again = CorpusIndex.for_corpus(small_corpus, progress=lambda done, total: calls.append((done, total)))
    assert calls == [] and np.array_equal(again.sa, index.sa) and again.line_part == index.line_part
    # a new file: a new index that finds it
    (small_corpus / "sub").mkdir()
    write(transpose(ode_start_then_alien(6), 1), small_corpus / "sub" / "new.mid")
    newer = CorpusIndex.for_corpus(small_corpus)
    assert "sub/new.mid" in newer.files
    assert newer.check(ode_start_then_alien(6)).longest_notes == 10


def test_check_originality_reads_a_file_and_reuses_the_index(small_corpus, cache, tmp_path):
    piece = tmp_path / "piece.mid"
    write(transpose(ode_start_then_alien(9), -2), piece)
    first = check_originality(piece, small_corpus)
    assert (first.longest_notes, first.ngrams_found, first.source, first.corpus_splits) == (9, 2, "ode.mid", ())
    (cached,) = (cache / "originality").glob("*.npz")
    cached.unlink()  # the index stays in memory: the second check needs no file
    assert check_originality(read(piece), small_corpus) == first
    assert not cached.exists()


def test_the_cache_is_written_through_the_atomic_writer(small_corpus, cache):
    """Written as io's atomic writer writes (the user's usual file mode), and a killed writer's temporary file is cleared."""
    originality._MEMO.clear()
    key = originality._fingerprint(originality.corpus_files(small_corpus), ())
    path = originality._cache_path(key)
    path.parent.mkdir(parents=True)
    dead = 4194305  # above the largest Linux PID: no such process
    leftover = path.parent / f".{path.stem}.{dead}.abc.tmp.npz"
    leftover.write_bytes(b"half an index")
    CorpusIndex.for_corpus(small_corpus)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_damaged_cache_is_rebuilt(small_corpus, cache):
    CorpusIndex.for_corpus(small_corpus)
    (cached,) = (cache / "originality").glob("*.npz")
    cached.write_bytes(b"not an npz file")
    originality._MEMO.clear()
    index = CorpusIndex.for_corpus(small_corpus)
    assert index.check(ode()).longest_notes == 32
    assert cached.read_bytes()[:2] == b"PK"  # written again


def test_unreadable_corpus_files_are_skipped_and_listed(small_corpus, cache):
    (small_corpus / "broken.mid").write_bytes(b"MThd garbage")
    index = CorpusIndex.for_corpus(small_corpus)
    assert len(index.files) == 3 and len(index.failures) == 1 and "broken.mid" in index.failures[0]


def test_manifest_splits_choose_the_files(cache):
    train = corpus_files(CORPUS / "chorales")
    every = corpus_files(CORPUS, SPLITS)
    assert 0 < len(train) < len(every) and all(name.endswith(".mid") and "/" not in name for name, _ in train)
    assert len(every) == 1710 and every[0][0].startswith("chorales/")


def test_bad_corpus_folders_and_options(tmp_path, small_corpus):
    # Which files make up a corpus folder is composer.corpus.discover's to say, with its error.
    with pytest.raises(CorpusError, match="nowhere: no such folder"):
        corpus_files(tmp_path / "nowhere")
    (tmp_path / "no-midi").mkdir()
    (tmp_path / "no-midi" / "text.txt").write_text("no music")
    with pytest.raises(CorpusError, match="no-midi: no MIDI files found in it or below"):
        corpus_files(tmp_path / "no-midi")
    # MusicXML and ABC files are not indexed (they read ~100x slower than MIDI): a folder of them has no MIDI files.
    (tmp_path / "no-midi" / "tune.abc").write_text("X:1\nT:Tune\nM:4/4\nK:C\nCDEF|GABc|\n")
    with pytest.raises(CorpusError, match="no MIDI files"):
        corpus_files(tmp_path / "no-midi")
    with pytest.raises(CorpusError, match="is a file, expected a folder of MIDI files"):
        corpus_files(tmp_path / "no-midi" / "text.txt")
    with pytest.raises(CorpusError, match="split must be one of"):
        corpus_files(small_corpus, ["training"])
    with pytest.raises(CorpusError, match="give at least one of"):
        corpus_files(small_corpus, [])
    with pytest.raises(OriginalityError, match="not shorter than the score"):
        seed_end_tick(ode(), 8)


# -- the real corpus ---------------------------------------------------------------
def test_a_real_chorale_copied_and_transposed_is_found_whole(real_index):
    path = CORPUS / "chorales" / "bwv328.mid"  # 49 bars of 4/4, 966 notes
    score = read(path)
    longest_line = int(np.diff(lines_of(score).start).max())
    for piece in (score, transpose(score, -3)):
        report = real_index.check(piece)
        assert (report.longest_notes, report.longest_bars, report.source, report.source_start_bar) == (longest_line, 49.0, "chorales/bwv328.mid", 1)
        assert report.ngram_share == 1.0


def test_a_real_chorale_continued_from_its_seed(real_index):
    # The seed: the chorale's pickup and first 8 bars, from the corpus (a pickup is not a bar, as under --bars).
    # The continuation: a folk tune's first 4 bars (17 notes) in the top part.
    score = read(CORPUS / "chorales" / "bwv328.mid")
    assert pickup_bars(score) == 1
    seed = slice_bars(score, 0, 9)
    tune = slice_bars(read(CORPUS / "folk" / "oneills1850_0123.mid"), 0, 4)
    moved = tune.notes.copy()
    moved["start_tick"] += int(score.bar_starts()[9])
    piece = Score(np.concatenate([seed.notes, moved]), score.parts, ticks_per_beat=score.ticks_per_beat, time_signatures=score.time_signatures)
    unseeded = real_index.check(piece)
    assert (unseeded.source, unseeded.source_start_bar) == ("chorales/bwv328.mid", 1) and unseeded.longest_notes > 30
    seeded = real_index.check(piece, seed_end_tick=seed_end_tick(piece, 8))
    assert (seeded.longest_notes, seeded.source, seeded.source_start_bar, seeded.score_start_bar) == (len(tune), "folk/oneills1850_0123.mid", 1, 10)
    assert seeded.ngrams == len(tune) - 7 and seeded.ngram_share == 1.0


def test_a_random_melody_shares_only_short_passages_with_the_real_corpus(real_index):
    rng = np.random.default_rng(7)
    pitches = np.clip(60 + np.cumsum(rng.integers(-7, 8, 128)), 36, 96)
    beats = rng.choice([0.5, 1, 1.5, 2], 128)
    piece = make_score(melody(pitches.tolist(), [Fraction(b).limit_denominator(2) for b in beats]))
    report = real_index.check(piece)
    assert 2 <= report.longest_notes < NGRAM_NOTES and report.ngrams_found == 0


# -- the command line ----------------------------------------------------------------
def run(*args):
    return CliRunner().invoke(cli, ["originality", *map(str, args)])


def test_cli_reports_a_copy(small_corpus, cache, tmp_path):
    copy = tmp_path / "copy.mid"
    write(transpose(ode(), 2), copy)
    first = run(copy, "--corpus", small_corpus)
    assert first.exit_code == 0, first.output
    assert "indexing the corpus" in first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "longest passage also in the corpus: 32 notes, 8.0 bars (Melody, from bar 1), found in ode.mid (Melody) at bar 1"
    assert lines[1] == "8-note n-grams found in the corpus: 100.0% (25 of 25)"
    assert lines[2] == f"corpus: {small_corpus} (3 files)"
    again = run(copy, "--corpus", small_corpus, "--json")
    assert again.exit_code == 0 and "indexing" not in again.stderr
    doc = json.loads(again.stdout)
    assert (doc["longest_notes"], doc["source"], doc["ngram_share"], doc["corpus_files"]) == (32, "ode.mid", 1.0, 3)


def test_cli_seed_bars(small_corpus, cache, tmp_path):
    piece = tmp_path / "piece.mid"
    write(ode_start_then_alien(10), piece)
    result = run(piece, "--corpus", small_corpus, "--seed-bars", 2, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["longest_notes"] == 2


def test_cli_split_choice_on_a_real_collection(cache, tmp_path):
    result = run(CORPUS / "folk" / "aird_book1_0005.mid", "--corpus", CORPUS / "folk", "--split", "test", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["source"] == "aird_book1_0005.mid" and doc["ngram_share"] == 1.0  # a test piece, and the test split
    assert doc["corpus_splits"] == ["test"] and doc["corpus_files"] == 137


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["missing.mid"], 1, "missing.mid: no such file"),
        (["{piece}", "--corpus", "{tmp}/nowhere"], 1, "nowhere: no such folder"),
        (["{piece}", "--corpus", "{tmp}/empty"], 1, "no MIDI files"),
        (["{piece}", "--corpus", "{small}", "--seed-bars", "9"], 1, "not shorter than the score"),
        (["{piece}", "--split", "training"], 2, "Invalid value for '--split'"),
        (["{tmp}/notes.txt"], 1, "unsupported input suffix"),
        (["{tmp}/broken.mid"], 1, "broken.mid: corrupt or truncated MIDI file"),
        (["{piece}", "--corpus", "{tmp}/notes.txt"], 1, "is a file, expected a folder"),
    ],
)
def test_cli_bad_input_is_one_line(args, code, message, small_corpus, cache, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("c d e")
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    piece = tmp_path / "piece.mid"
    write(ode(), piece)
    result = run(*[a.format(piece=piece, tmp=tmp_path, small=small_corpus) for a in args])
    assert message in one_line_error(result, code)

# -- the index shipped with the models ----------------------------------------------------
def shipped_meta() -> dict:
    path = originality.shipped_index_path()
    assert path is not None and path.parent.name == "models"
    return originality.read_index(path)[1]


def test_the_shipped_index_is_the_train_split_the_models_learned_from():
    from composer.modelfile import find_model, read_header

    path = originality.shipped_index_path()
    assert path.stat().st_size < 2_000_000  # it ships inside the package: keep it small
    shipped, meta = originality.read_index(path)
    assert shipped.files == [name for name, _ in corpus_files(CORPUS)] and meta["splits"] == ["train"]
    for collection, model in (("chorales", "chorale"), ("folk", "folk")):
        trained_on = json.loads(read_header(find_model(model))["training"])["train_files_sha1"]
        assert meta["files_sha1"][collection] == trained_on  # the same files, the same contents
    rebuilt = CorpusIndex.build(CORPUS)  # up to date with the corpus: rebuild with benchmarks/build_originality_index.py
    for name in ("text", "sa", "bar", "line_start", "line_file"):
        assert np.array_equal(getattr(shipped, name), getattr(rebuilt, name)), name
    assert shipped.line_part == rebuilt.line_part


def test_rebuilding_the_shipped_index_gives_the_same_bytes(small_corpus, tmp_path):
    first = originality.build_shipped_index(small_corpus, tmp_path / "a.npz")
    second = originality.build_shipped_index(small_corpus, tmp_path / "b.npz")
    assert first.read_bytes() == second.read_bytes()
    index, meta = originality.read_index(first)
    assert index.files == sorted(small_pieces())
    assert meta["corpus"] == "small" and meta["splits"] == [] and set(meta["files_sha1"]) == {""}


def piece_from_a_train_chorale() -> Score:
    """Bars 5-12 of chorale bwv10 (train split), up a tone: a passage copied from what the models learned."""
    return transpose(slice_bars(read(CORPUS / "chorales" / "bwv10.mid"), 4, 12), 2)


def test_without_a_corpus_folder_the_command_uses_the_shipped_index(tmp_path, monkeypatch, cache):
    monkeypatch.chdir(tmp_path)  # no midi_corpus here: as after pip install, anywhere
    write(piece_from_a_train_chorale(), tmp_path / "piece.mid")
    result = run("piece.mid")
    assert result.exit_code == 0, result.output
    assert "indexing" not in result.stderr and not cache.exists()  # nothing to index: the shipped index is read
    lines = result.stdout.splitlines()
    assert "found in chorales/bwv10.mid" in lines[0] and "at bar 5" in lines[0]
    assert lines[2] == "corpus: midi_corpus (the index shipped with the models), train split (1386 files)"
    report = check_originality(tmp_path / "piece.mid")  # from Python: the same answer
    assert report.corpus == "midi_corpus (the index shipped with the models)" and report.source == "chorales/bwv10.mid" and report.ngram_share == 1.0
    assert (report.longest_notes, report.longest_bars) == (int(np.diff(lines_of(piece_from_a_train_chorale()).start).max()), 8.0)  # a whole line
    plain = run("piece.mid", "--split", "test")
    assert plain.exit_code == 1 and "holds the train split only, not test; give the corpus folder with --corpus" in plain.output.strip().splitlines()[-1]


def test_a_midi_corpus_folder_here_comes_before_the_shipped_index(small_corpus, tmp_path, monkeypatch, cache):
    here = tmp_path / "work"
    here.mkdir()
    small_corpus.rename(here / "midi_corpus")
    monkeypatch.chdir(here)
    write(transpose(ode(), 2), here / "copy.mid")
    result = run("copy.mid")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2] == "corpus: midi_corpus (3 files)"
    assert check_originality("copy.mid").source == "ode.mid"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "version", "missing", "arrays"])
def test_a_damaged_or_foreign_shipped_index_is_one_line(damage, small_index, tmp_path, monkeypatch):
    path = tmp_path / "originality_index.npz"
    good = tmp_path / "good.npz"
    originality.write_index(small_index, good, meta={"corpus": "small", "splits": ["train"]}, compress=True)
    if damage == "garbage":
        path.write_bytes(b"not an index at all")
    elif damage == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "version":
        originality.write_index(small_index, path, meta={"splits": ["train"], "version": originality.INDEX_VERSION + 1})
    elif damage == "arrays":
        broken = CorpusIndex(small_index.text, small_index.sa[:-1], small_index.bar, small_index.line_start, small_index.line_file, small_index.line_part, small_index.files)
        originality.write_index(broken, path, meta={"splits": ["train"]})
    monkeypatch.setattr(originality, "shipped_index_path", lambda: None if damage == "missing" else path)
    monkeypatch.chdir(tmp_path)
    write(ode(), tmp_path / "piece.mid")
    result = run("piece.mid")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    expected = {
        "garbage": "damaged originality index (not a complete .npz archive)",
        "truncated": "damaged originality index (not a complete .npz archive)",
        "arrays": f"damaged originality index ({len(small_index.text)} notes, but {len(small_index.text) - 1} suffixes",
        "version": f"originality index version {originality.INDEX_VERSION + 1} (24 steps a beat), this composer reads version {originality.INDEX_VERSION}",
        "missing": "no midi_corpus folder here and no originality_index.npz shipped with the models; give a folder of MIDI files with --corpus",
    }[damage]
    assert expected in line
    if damage != "missing":
        assert line.startswith(f"Error: {path}: ") and line.endswith("; reinstall composer, rebuild it with 'python benchmarks/build_originality_index.py', or give --corpus")
    with pytest.raises(OriginalityError):
        check_originality(ode())
