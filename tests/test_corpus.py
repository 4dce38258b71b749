"""The corpus: split rule, the committed midi_corpus/, and small builds."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from composer import corpus
from composer.corpus import COLLECTIONS, MANIFEST_FIELDS, SPLITS, CorpusError, build, discover, info, iter_files, load_manifest, split_of
from composer.errors import ComposerError
from composer.formats import read

ROOT = Path(__file__).resolve().parents[1]
MIDI_CORPUS = ROOT / "midi_corpus"


# -- split rule ------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, sha1, expected",
    [
        # sha1 written out by hand so the rule, not just the function, is pinned down.
        ("piece0.mid", "1d087441c4c66641690353417b3683dc5e20bde8", "test"),  # int(...) % 10 == 0
        ("piece15.mid", "818a8529816318a501f6e0504fbb133aae9c6b25", "valid"),  # == 1
        ("piece25.mid", "daccfd6c3c34ee0bcae7a724862021ed46bcd5e6", "train"),  # == 2
        ("bwv66.mid", None, "train"),  # == 9
        ("Ünïcode.mid", "80c2dc740dc7497d6a8e41c61067f1c05c83c170", "train"),  # UTF-8 bytes, == 4
    ],
)
def test_split_of(name: str, sha1: str | None, expected: str) -> None:
    if sha1 is not None:
        assert hashlib.sha1(name.encode("utf-8")).hexdigest() == sha1
    assert split_of(name) == expected
    assert split_of(f"some/folder/{name}") == expected  # the folder does not count


def test_collections_table() -> None:
    assert COLLECTIONS["chorales"][0] == "chorale"
    assert COLLECTIONS["folk"][0] == "folk"


def test_import_is_cheap() -> None:
    code = "import sys, composer.corpus; print('music21' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# -- the committed corpus ------------------------------------------------------
needs_corpus = pytest.mark.skipif(not (MIDI_CORPUS / "chorales" / "manifest.csv").is_file(), reason="midi_corpus/ not built")


@needs_corpus
@pytest.mark.parametrize("collection", ["chorales", "folk"])
def test_manifest_matches_files(collection: str) -> None:
    rows = load_manifest(MIDI_CORPUS, collection)
    listed = [r["file"] for r in rows]
    assert listed == sorted(listed)
    on_disk = sorted(p.name for p in (MIDI_CORPUS / collection).glob("*.mid"))
    assert listed == on_disk
    for row in rows:
        assert row["split"] == split_of(row["file"])
        assert row["file"].isascii() and row["file"].endswith(".mid")
        assert row["notes"] > 0 and row["bars"] > 0
    # The manifest on disk is exactly what load_manifest read (no extra columns).
    with (MIDI_CORPUS / collection / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == corpus.MANIFEST_FIELDS


@needs_corpus
def test_chorales_are_four_named_voices() -> None:
    files = iter_files(MIDI_CORPUS, "chorales")
    assert len(files) >= 300
    rows = {r["file"]: r for r in load_manifest(MIDI_CORPUS, "chorales")}
    phrases: list[int] = []
    for path in files:
        score = read(path)
        assert [p.name for p in score.parts] == ["Soprano", "Alto", "Tenor", "Bass"], path
        assert {p.program for p in score.parts} == {52}
        assert len(score.notes) == rows[path.name]["notes"], path
        assert score.markers["tick"].max(initial=0) <= score.end_tick, path
        phrases.append(len(score.phrase_end_ticks))
    # Fermatas mark the phrase ends: all but one encoding (bwv112.5 has none) has them, about six a chorale.
    assert sum(n == 0 for n in phrases) <= 2 and 5 <= sorted(phrases)[len(phrases) // 2] <= 8


@needs_corpus
def test_folk_has_enough_single_melodies() -> None:
    files = iter_files(MIDI_CORPUS, "folk")
    assert len(files) >= 1000
    sectioned = 0
    sample = files[:: max(1, len(files) // 50)]  # a spread-out sample
    for path in sample:
        score = read(path)
        assert [p.name for p in score.parts] == ["Melody"]
        sectioned += len(score.section_start_ticks) > 0 and len(score.phrase_end_ticks) > 0
    assert sectioned >= 0.8 * len(sample)  # strains between repeat signs and double bars: most tunes have two or more


@needs_corpus
@pytest.mark.parametrize("collection", corpus.SHIPPED_COLLECTIONS)
def test_shipped_collections_record_a_licence_and_no_non_commercial_source(collection: str) -> None:
    rows = load_manifest(MIDI_CORPUS, collection)
    with (MIDI_CORPUS / collection / corpus.SOURCES).open(encoding="utf-8", newline="") as handle:
        sources = {row["source"]: row for row in csv.DictReader(handle)}
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["source"].split("/", 1)[0]] = counts.get(row["source"].split("/", 1)[0], 0) + 1
    assert {s: int(r["files"]) for s, r in sources.items()} == counts
    assert all(r["licence"] and "non-commercial" not in r["licence"].lower() for r in sources.values())
    assert "essenFolksong" not in counts and not any(r["file"].startswith("essen_") for r in rows)


def test_essen_is_a_collection_built_only_on_request() -> None:
    assert COLLECTIONS["essen"][0] == "folk" and "essen" not in corpus.SHIPPED_COLLECTIONS
    assert "non-commercial" in COLLECTIONS["essen"][1]


def test_cli_builds_the_shipped_collections_unless_told(monkeypatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from composer.cli import cli

    asked: list[tuple[str, ...]] = []
    monkeypatch.setattr(corpus, "build", lambda out, collections, **kw: asked.append(tuple(collections)) or {})
    for extra in ([], ["--collection", "essen"]):
        result = CliRunner().invoke(cli, ["corpus", "build", "-o", str(tmp_path / "c"), *extra])
        assert result.exit_code == 0, result.output
    assert asked == [("chorales", "folk"), ("essen",)]


def test_data_sources_follow_the_manifests_and_sources_csv(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write_collection(root / "folk", {"a.mid": "train", "b.mid": "train", "c.mid": "test"})
    rows = load_manifest(root, "folk")
    sources = {"a.mid": "bookA/one.abc#1", "b.mid": "bookB/two.abc#3", "c.mid": "bookA/one.abc#2"}
    with (root / "folk" / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "source": sources[row["file"]]})
    (root / "folk" / corpus.SOURCES).write_text("source,name,files,licence\nbookA,Book A,2,public domain\n", encoding="utf-8")
    _write_collection(root / "chorales", {"d.mid": "train"})
    train = [p.name for p in discover(root, splits="train")]
    assert corpus.data_sources(root, train) == [
        {"collection": "chorales", "source": "", "name": "", "files": 1, "licence": "not recorded"},
        {"collection": "folk", "source": "bookA", "name": "Book A", "files": 1, "licence": "public domain"},
        {"collection": "folk", "source": "bookB", "name": "bookB", "files": 1, "licence": "not recorded"},
    ]
    assert corpus.data_sources(root / "folk", ["a.mid", "c.mid"])[0]["files"] == 2  # one collection: bare names
    assert corpus.data_sources(tmp_path / "nowhere", ["a.mid"]) == []


@needs_corpus
def test_info_counts_agree_with_manifests() -> None:
    summary = info(MIDI_CORPUS)
    assert list(summary) == ["chorales", "folk"]
    for name in ("chorales", "folk"):
        rows = load_manifest(MIDI_CORPUS, name)
        splits = summary[name]
        assert list(splits) == ["train", "valid", "test"]
        assert sum(s["files"] for s in splits.values()) == len(rows)
        assert sum(s["notes"] for s in splits.values()) == sum(r["notes"] for r in rows)
        for split in ("train", "valid", "test"):
            assert len(iter_files(MIDI_CORPUS, name, split)) == splits[split]["files"]
            assert splits[split]["files"] > 0
    assert (MIDI_CORPUS / "README.md").is_file()


# -- building ------------------------------------------------------------------------
def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tiny_build_is_byte_identical(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    first = build(tmp_path / "a", collections=("chorales",), limit=3, jobs=2, progress=lambda *a: calls.append(a))
    second = build(tmp_path / "b", collections=("chorales",), limit=3, jobs=1)
    a, b = _contents(tmp_path / "a"), _contents(tmp_path / "b")
    assert a == b
    assert list(first) == ["chorales"]
    assert sum(name.endswith(".mid") for name in a) == first["chorales"]["written"] >= 2
    assert first == second
    assert calls[0] == ("chorales", 0, 3) and calls[-1] == ("chorales", 3, 3)
    # The fermatas of the chorales come through as phrase ends.
    assert all(len(read(tmp_path / "a" / name).phrase_end_ticks) >= 2 for name in a if name.endswith(".mid"))
    assert a["chorales/sources.csv"].decode().splitlines()[1].startswith(f'bach,"J. S. Bach, four-part chorales",{first["chorales"]["written"]},')
    # Rebuilding in place gives the same bytes, and leaves no temporary folders behind.
    build(tmp_path / "a", collections=("chorales",), limit=3, jobs=2)
    assert _contents(tmp_path / "a") == b
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_skipped_pieces_are_reported(tmp_path: Path) -> None:
    # bwv1.6 (the first chorale by name) has a horn part as well as four voices.
    summary = build(tmp_path / "c", collections=("chorales",), limit=2, jobs=1)
    skipped = summary["chorales"]["skipped"]
    assert skipped and skipped[0][0] == "bach/bwv1.6.mxl" and "expected 4 voices" in skipped[0][1]
    assert corpus.load_skipped(tmp_path / "c", "chorales") == [tuple(s) for s in skipped]
    assert "bach/bwv1.6.mxl" in (tmp_path / "c" / "README.md").read_text()


def test_folk_build_and_carry_over(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    build(out, collections=("chorales",), limit=1, jobs=1)
    build(out, collections=("folk",), limit=2, jobs=1)
    assert corpus.collections_of(out) == ["chorales", "folk"]
    rows = load_manifest(out, "folk")
    assert len(rows) == 2
    for row in rows:
        score = read(out / "folk" / row["file"])
        assert score.parts[0].name == "Melody" and score.num_parts == 1
        assert "#" in row["source"]


def test_refuses_to_replace_a_folder_that_is_not_a_corpus(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("do not lose me")
    with pytest.raises(CorpusError) as exc:
        build(out, collections=("chorales",), limit=1, jobs=1)
    assert "not a composer corpus" in str(exc.value) and str(out) in str(exc.value)
    assert (out / "thesis.txt").read_text() == "do not lose me"
    build(out, collections=("chorales",), limit=1, jobs=1, force=True)
    assert not (out / "thesis.txt").exists()
    assert corpus.is_corpus(out)


def test_interrupted_build_leaves_the_old_corpus(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    build(out, collections=("chorales",), limit=2, jobs=1)
    before = _contents(out)

    def stop(collection: str, done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(out, collections=("chorales",), limit=3, jobs=2, progress=stop)
    assert _contents(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


# A `composer corpus build` in its own process, building two pieces a collection, and
# killed (SIGKILL: no clean-up runs) at a chosen moment of the swap.
_CLI_BUILD = """
import os, signal, sys
import composer.corpus as corpus
from composer.corpus import building

real = building.build
corpus.build = lambda *a, **k: real(*a, **{**k, "limit": 2, "jobs": 1})
kill_at = sys.argv[1]
if kill_at == "exchange":  # the new folder is ready, the swap not begun
    building.exchange_paths = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)
elif kill_at == "between renames":  # no RENAME_EXCHANGE: the old corpus set aside, the new not yet in
    building.exchange_paths = lambda a, b: False
    replace = os.replace
    def second_rename(src, dst):
        if ".build-" in str(src):
            os.kill(os.getpid(), signal.SIGKILL)
        replace(src, dst)
    os.replace = second_rename
from composer.cli import cli
cli(sys.argv[2:])
"""


def _cli_build(kill_at: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", _CLI_BUILD, kill_at, "corpus", "build", "-o", str(out), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kill_at", ["exchange", "between renames"])
def test_build_killed_at_the_swap_leaves_a_complete_corpus(tmp_path: Path, kill_at: str) -> None:
    out = tmp_path / "corpus"
    build(out, collections=("chorales", "folk"), limit=3, jobs=1)
    before = _contents(out)
    proc = _cli_build(kill_at, out, "--collection", "chorales")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "corpus")
    if kill_at == "exchange":
        assert _contents(out) == before  # the old corpus, whole, where the user expects it
        assert len(leftovers) == 1 and leftovers[0].startswith(".corpus.build-")
    else:
        assert not out.exists() and any(name.startswith(".corpus.old-") for name in leftovers)
    # The next build puts the old corpus back (if it was set aside) and removes the rest.
    corpus.building.recover(out)
    assert _contents(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def test_rerun_with_fewer_collections_keeps_the_others(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    build(out, collections=("chorales", "folk"), limit=3, jobs=1)
    folk = _contents(out / "folk")
    chorales = _contents(out / "chorales")
    proc = _cli_build("no kill", out, "--collection", "chorales")
    assert proc.returncode == 0, proc.stderr
    assert corpus.collections_of(out) == ["chorales", "folk"]
    assert _contents(out / "folk") == folk  # carried over, byte for byte
    assert _contents(out / "chorales") != chorales and len(load_manifest(out, "chorales")) == 1
    assert "| folk |" in (out / "README.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def test_swap_falls_back_to_two_renames_without_exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "corpus"
    build(out, collections=("chorales",), limit=2, jobs=1)
    monkeypatch.setattr(corpus.building, "exchange_paths", lambda a, b: False)
    build(out, collections=("chorales",), limit=3, jobs=1)
    assert len(load_manifest(out, "chorales")) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def test_leftovers_of_older_versions_are_cleaned_once_an_hour_old(tmp_path: Path) -> None:
    out = tmp_path / "c2"
    (out / "chorales").mkdir(parents=True)
    (out / "chorales" / "manifest.csv").write_text(",".join(MANIFEST_FIELDS) + "\n")
    aged = [tmp_path / ".c2.build-abc123_x", tmp_path / ".c2.old-def456yz"]
    fresh = tmp_path / ".c2.build-fresh999"
    for folder in (*aged, fresh):
        (folder / "chorales").mkdir(parents=True)
    hours_ago = time.time() - 2 * 3600
    for folder in aged:
        os.utime(folder, (hours_ago, hours_ago))
    corpus.building.recover(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c2", fresh.name])
    # With no corpus in place, an older version's set-aside corpus goes back at once.
    shutil.rmtree(out)
    old = tmp_path / ".c2.old-ghi789"
    (old / "folk").mkdir(parents=True)
    (old / "folk" / "manifest.csv").write_text(",".join(MANIFEST_FIELDS) + "\n")
    corpus.building.recover(out)
    assert corpus.collections_of(out) == ["folk"] and not old.exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"collections": ("madrigals",)}, "unknown collection 'madrigals'"),
        ({"collections": ()}, "no collections"),
        ({"jobs": 0}, "jobs must be at least 1"),
        ({"limit": 0}, "limit must be at least 1"),
    ],
)
def test_build_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(CorpusError) as exc:
        build(tmp_path / "x", **kwargs)
    assert message in str(exc.value)
    assert not (tmp_path / "x").exists()


def test_reading_a_folder_that_is_not_a_corpus(tmp_path: Path) -> None:
    for call in (lambda: info(tmp_path / "nowhere"), lambda: load_manifest(tmp_path, "chorales"), lambda: iter_files(tmp_path, "folk")):
        with pytest.raises(CorpusError) as exc:
            call()
        assert "\n" not in str(exc.value) and str(tmp_path) in str(exc.value)
        assert isinstance(exc.value, ComposerError)


def test_unknown_collection_and_split(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    build(out, collections=("chorales",), limit=1, jobs=1)
    with pytest.raises(CorpusError, match="no collection 'folk'; this corpus has chorales"):
        load_manifest(out, "folk")
    with pytest.raises(CorpusError, match="split must be one of train, valid, test, got 'dev'"):
        iter_files(out, "chorales", "dev")


# -- which files make up a corpus folder: one discover for dataset and originality -----
def _write_collection(folder: Path, splits: dict[str, str]) -> None:
    """A collection folder with a manifest giving each file the split named (not necessarily split_of's)."""
    folder.mkdir(parents=True)
    with (folder / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        for name, split in splits.items():
            (folder / name).write_bytes(b"")  # discover lists files, it does not read them
            writer.writerow({"file": name, "title": name, "source": "", "key": "C", "meter": "4/4", "notes": 1, "bars": 1, "split": split})


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "root"
    _write_collection(root / "folk", {"b.mid": "test", "a.mid": "train"})
    _write_collection(root / "chorales", {"c.mid": "valid", "d.musicxml": "train"})
    _write_collection(root / "madrigals", {"m.mid": "train"})
    (root / "notes").mkdir()  # no manifest: not a collection, not read
    (root / "notes" / "x.mid").write_bytes(b"")
    plain = tmp_path / "plain"
    (plain / "sub").mkdir(parents=True)
    for name in ("piece15.mid", "piece0.MID", "sub/tune.abc", "sub/song.musicxml", "readme.txt"):
        (plain / name).write_bytes(b"")
    return {"root": root, "plain": plain}


def test_discover_a_corpus_root_and_one_collection(folders: dict[str, Path]) -> None:
    root = folders["root"]
    pieces = discover(root)
    assert [(p.name, p.style, p.split) for p in pieces] == [
        ("chorales/c.mid", "chorale", "valid"),
        ("chorales/d.musicxml", "chorale", "train"),
        ("folk/a.mid", "folk", "train"),
        ("folk/b.mid", "folk", "test"),  # the manifest's split, not split_of's
        ("madrigals/m.mid", "unknown", "train"),
    ]
    assert all(p.path == root / p.name for p in pieces)
    assert [(p.name, p.style) for p in discover(root / "folk")] == [("a.mid", "folk"), ("b.mid", "folk")]
    assert [p.name for p in discover(root, splits="train", midi_only=True)] == ["folk/a.mid", "madrigals/m.mid"]
    assert {p.style for p in discover(root, style="hymn")} == {"hymn"}


def test_discover_a_plain_folder(folders: dict[str, Path]) -> None:
    plain = folders["plain"]
    pieces = discover(plain)
    assert [(p.name, p.style, p.split) for p in pieces] == [
        ("piece0.MID", "unknown", split_of("piece0.MID")),
        ("piece15.mid", "unknown", "valid"),
        ("sub/song.musicxml", "unknown", split_of("song.musicxml")),
        ("sub/tune.abc", "unknown", split_of("tune.abc")),
    ]
    assert [p.name for p in discover(plain, midi_only=True)] == ["piece0.MID", "piece15.mid"]
    assert [p.name for p in discover(plain, splits=("valid",), midi_only=True)] == ["piece15.mid"]


def test_discover_errors_are_one_line_naming_the_folder(folders: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "abc-only").mkdir()
    (tmp_path / "abc-only" / "tune.abc").write_bytes(b"")
    cases = [
        (tmp_path / "nowhere", {}, "no such folder"),
        (folders["plain"] / "readme.txt", {}, "is a file, expected a folder of MIDI, MusicXML or ABC files"),
        (tmp_path / "empty", {}, "no MIDI, MusicXML or ABC files found in it or below"),
        (tmp_path / "abc-only", {"midi_only": True}, "no MIDI files found in it or below"),
        (folders["root"] / "chorales", {"splits": "test"}, "no MIDI, MusicXML or ABC files found in split test"),
        (folders["root"], {"splits": ["dev"]}, "split must be one of train, valid, test, got 'dev'"),
    ]
    for folder, kwargs, message in cases:
        with pytest.raises(CorpusError) as exc:
            discover(folder, **kwargs)
        assert message in str(exc.value) and "\n" not in str(exc.value)
        assert "split must" in message or str(folder) in str(exc.value)


def test_dataset_and_originality_read_the_files_discover_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.dataset import load_tokens
    from composer.formats import write
    from composer.originality import CorpusIndex, corpus_files
    from composer.tokens import Tokenizer
    from conftest import make_score

    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "root"
    rows = {f"piece{i}.mid": SPLITS[i % 3] for i in range(6)}
    _write_collection(root / "folk", rows)
    for i, name in enumerate(rows):
        write(make_score([(j, 1, 60 + (i + j) % 12, 0) for j in range(8)], parts=("Melody",)), root / "folk" / name, force=True)
    data = load_tokens(root, Tokenizer())
    for split in SPLITS:
        assert data.splits[split].names == [p.name for p in discover(root, splits=split)]
    assert corpus_files(root, ("valid", "test")) == [(p.name, p.path) for p in discover(root, splits=("valid", "test"), midi_only=True)]
    assert CorpusIndex.for_corpus(root).files == [p.name for p in discover(root, splits="train")]
    # A folder without manifests: originality takes every MIDI file whatever the splits; dataset splits them by name.
    plain = root / "folk"
    (plain / "manifest.csv").unlink()
    assert [name for name, _ in corpus_files(plain, "test")] == [p.name for p in discover(plain, midi_only=True)]
    data = load_tokens(plain, Tokenizer())
    assert sorted(n for s in SPLITS for n in data.splits[s].names) == sorted(rows)
    assert all(split_of(n) == s for s in SPLITS for n in data.splits[s].names)


def test_info_reads_a_corpus_one_collection_or_a_plain_folder(folders: dict[str, Path]) -> None:
    root, plain = folders["root"], folders["plain"]
    summary = info(root)
    assert list(summary) == ["chorales", "folk", "madrigals"]  # known collections first, as in COLLECTIONS
    assert summary["chorales"] == {"train": {"files": 1, "notes": 1}, "valid": {"files": 1, "notes": 1}, "test": {"files": 0, "notes": 0}}
    assert info(root / "folk") == {"folk": summary["folk"]}  # one collection: what --corpus and training accept
    loose = info(plain)  # no manifest: split_of's splits, notes not counted
    assert list(loose) == ["plain"] and sum(c["files"] for c in loose["plain"].values()) == 4
    assert loose["plain"]["valid"]["files"] >= 1 and all(c["notes"] is None for c in loose["plain"].values())


@needs_corpus
def test_corpus_info_command_takes_a_collection_folder() -> None:
    from click.testing import CliRunner

    from composer.cli import cli

    whole = CliRunner().invoke(cli, ["corpus", "info", str(MIDI_CORPUS)])
    folk = CliRunner().invoke(cli, ["corpus", "info", str(MIDI_CORPUS / "folk")])
    assert whole.exit_code == 0 and folk.exit_code == 0, folk.output
    assert folk.output.splitlines() == [line for line in whole.output.splitlines() if not line.startswith("chorales")]
    plain = CliRunner().invoke(cli, ["corpus", "info", str(MIDI_CORPUS.parent / "examples" / "seeds")])
    assert plain.exit_code == 0 and plain.output.splitlines()[-1].startswith("(no manifest: files split by the sha1 of their name")


def test_find_scores_lists_a_folder_as_rglob_does(tmp_path: Path) -> None:
    from composer.formats import find_scores

    for name in ("b.mid", "a/x.MID", "a/deep/y.abc", ".hidden.xml", "notes.txt", "a/noext"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.mid").mkdir()  # a folder, whatever its name says
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "z.mid").write_bytes(b"x")
    (tmp_path / "linked").symlink_to(outside, target_is_directory=True)  # not followed
    (tmp_path / "link.mid").symlink_to(tmp_path / "b.mid")  # a link to a file counts
    (tmp_path / "dangling.mid").symlink_to(tmp_path / "missing.mid")
    expected = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".abc", ".xml"))
    assert find_scores(tmp_path, (".mid", ".abc", ".xml")) == expected == [".hidden.xml", "a/deep/y.abc", "a/x.MID", "b.mid", "link.mid"]
