"""Harmonize Bach's sopranos and compare with his own lower voices, for a lookup table and a model, in one run.

    python benchmarks/harmonize_bach.py [--model chorale] [--split valid] [--limit N] [--samples N] [--particles K ...] [--compare MODEL ...] [--json OUT]

For each chorale of the split (valid unless ``--split test`` is given: never
tune on test) the soprano is harmonized, and the result is compared with
Bach's alto, tenor and bass on an eighth-note grid up to the melody's end:

* ``bass_pc``: share of grid points where the bass pitch class is Bach's;
* ``chord_jaccard``: mean Jaccard overlap of the sounding pitch-class sets;
* ``exact_atb``: share of (grid point, alto/tenor/bass) with Bach's exact pitch;
* ``final_tonic_triad`` / ``final_bass_tonic``: share of pieces whose chord
  under the melody's last note is a tonic triad (root and third, the fifth
  optional; a Picardy third counts) / has the tonic in the bass;
* ``sounds_after_end``: share of pieces where a note sounds after the melody's last note ends;
* ``melody_kept``: share of pieces whose top part is the soprano note for note;
* ``vl_faults_100``: parallel fifths, octaves and voice crossings per 100 notes (composer.metrics.voice_leading);
* ``voice_silent``: share of grid points before the melody ends where alto, tenor or bass is silent (a voice dropping out);
* ``off_grid``: share of the lower voices' notes that start or end off the sixteenth-note grid (tuplets; Bach's chorales have none);
* ``restruck``: share of the lower voices' notes that strike again, at once, the pitch their voice just left, one of the two
  an eighth or shorter (a voice stuttering in eighths where Bach would hold the note or move).

Rows: Bach himself (the ceiling of the final-chord figures), a lookup table
built from the train split (the most frequent chord, as a pitch-class set and
bass relative to the key, under each soprano scale degree), the model's
harmonizer alone where it has one (``composer.harmony``: its likeliest pitch
class of each lower voice under each melody note, voiced as the table's chords
are), the model as shipped (random seed fixed) and without what harmonizing
adds to its scores (the harmonizer's or the counted prior's, ``harmony_weight=0``), the model given the soprano
without its fermatas (the corpus keeps them as phrase-end markers, which a
model with features ahead is told of; a plain MIDI melody has none), any ``--compare`` model (the
previous shipped model, which saw no melody ahead), the model decoding greedily
(``top_k=1``), one row per ``--harmony-weights W``, and one row per ``--particles K``: K samples weighted by the model's probability
of the melody notes ahead (``composer.lookahead``).
The scoring functions are importable (tests/test_harmonize_bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from composer.score import Score, select_parts  # noqa: E402
from composer.theory import Key, key_tonic_pitch_class, seed_key  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHORALES = ROOT / "midi_corpus" / "chorales"
RANGES = ((60, 79), (55, 74), (48, 67), (40, 60))  # SATB, as composer.metrics has them
FIGURES = ("bass_pc", "chord_jaccard", "exact_atb", "final_tonic_triad", "final_bass_tonic", "sounds_after_end", "melody_kept", "vl_faults_100",
           "voice_silent", "off_grid", "restruck")


# -- scoring ---------------------------------------------------------------------
def melody_end(score: Score) -> int:
    """The tick where the top part's last note ends."""
    top = score.notes[score.notes["part"] == 0]
    return int((top["start_tick"] + top["duration_ticks"]).max())


def voice_grid(score: Score, step: int, end: int, parts: int = 4) -> np.ndarray:
    """int[parts, T]: each part's highest sounding pitch at ticks 0, step, ... before ``end`` (-1 silent)."""
    times = np.arange(0, end, step)
    grid = np.full((parts, len(times)), -1, np.int64)
    for n in score.notes:
        part = int(n["part"])
        if part >= parts:
            continue
        on = (times >= n["start_tick"]) & (times < n["start_tick"] + n["duration_ticks"])
        grid[part, on] = np.maximum(grid[part, on], int(n["pitch"]))
    return grid


def _pc_set(column: np.ndarray) -> frozenset[int]:
    return frozenset(int(p) % 12 for p in column if p >= 0)


def is_tonic_triad(pcs: Iterable[int], key: Key) -> bool:
    """Root and a third of the tonic (a major third in minor too: the Picardy third), the fifth optional, nothing else."""
    tonic = key_tonic_pitch_class(*key)
    rel = {(p - tonic) % 12 for p in pcs}
    thirds = {3, 4} if key[1] else {4}
    return 0 in rel and bool(rel & thirds) and rel <= {0, 7} | thirds


def final_chord(score: Score) -> tuple[frozenset[int], int]:
    """(pitch classes sounding at the melody's last onset, bass pitch class or -1)."""
    top = score.notes[score.notes["part"] == 0]
    last = int(top["start_tick"].max())
    sounding = score.notes[(score.notes["start_tick"] <= last) & (score.notes["start_tick"] + score.notes["duration_ticks"] > last)]
    lowest = sounding[sounding["part"] == sounding["part"].max()] if len(sounding) else sounding
    bass = int(lowest["pitch"].min()) % 12 if len(lowest) and score.num_parts > 1 and int(lowest["part"][0]) > 0 else -1
    return frozenset(int(p) % 12 for p in sounding["pitch"]), bass


def melody_kept(reference: Score, candidate: Score) -> bool:
    """The candidate's top part is the reference's, note for note (start, length, pitch)."""
    def rows(score: Score) -> list[tuple[int, int, int]]:
        top = score.notes[score.notes["part"] == 0]
        scale = 480 / score.ticks_per_beat
        return sorted((round(int(n["start_tick"]) * scale), round(int(n["duration_ticks"]) * scale), int(n["pitch"])) for n in top)
    return rows(reference) == rows(candidate)


def vl_faults(score: Score) -> tuple[int, int]:
    """(parallel fifths + octaves + voice crossings, notes) of a four-part score."""
    from composer.metrics import voice_leading

    if score.num_parts != 4:
        return 0, len(score.notes)
    vl = voice_leading(score)
    return vl.parallel_fifths + vl.parallel_octaves + vl.voice_crossings, vl.notes


def restruck(score: Score) -> float:
    """Share of the lower voices' notes (each voice's first excepted) that strike again, with no gap, the pitch just left,
    one of the two notes an eighth or shorter; nan without such notes."""
    eighth = score.ticks_per_beat // 2
    again = total = 0
    for part in range(1, score.num_parts):
        notes = np.sort(score.part_notes(part), order="start_tick", kind="stable")
        before, after = notes[:-1], notes[1:]
        joined = after["start_tick"] == before["start_tick"] + before["duration_ticks"]
        short = np.minimum(before["duration_ticks"], after["duration_ticks"]) <= eighth
        again += int((joined & short & (after["pitch"] == before["pitch"])).sum())
        total += len(after)
    return again / total if total else np.nan


def compare(reference: Score, candidate: Score) -> dict[str, float]:
    """Per-piece figures of ``candidate`` against Bach's ``reference`` (both four parts, soprano on top)."""
    key = seed_key(reference)
    end = melody_end(reference)
    step = reference.ticks_per_beat // 2
    ref = voice_grid(reference, step, end)
    scale = candidate.ticks_per_beat / reference.ticks_per_beat
    cand = voice_grid(candidate, max(int(round(step * scale)), 1), int(round(end * scale)))[:, : ref.shape[1]]
    bass_on = ref[3] >= 0
    bass = float(np.mean((ref[3] % 12 == cand[3] % 12) & (cand[3] >= 0) & bass_on) / bass_on.mean()) if bass_on.any() else np.nan
    jaccard = []
    for t in range(ref.shape[1]):
        a, b = _pc_set(ref[:, t]), _pc_set(cand[:, t])
        if a or b:
            jaccard.append(len(a & b) / len(a | b))
    inner = ref[1:] >= 0
    exact = float(((ref[1:] == cand[1:]) & inner).sum() / inner.sum()) if inner.any() else np.nan
    pcs, bass_pc = final_chord(candidate)
    faults, notes = vl_faults(candidate)
    after = candidate.notes["start_tick"] + candidate.notes["duration_ticks"] > round(end * scale)
    lower = candidate.notes[candidate.notes["part"] > 0]
    sixteenth = max(candidate.ticks_per_beat // 4, 1)
    off_grid = (lower["start_tick"] % sixteenth != 0) | (lower["duration_ticks"] % sixteenth != 0)
    return {
        "bass_pc": bass,
        "chord_jaccard": float(np.mean(jaccard)) if jaccard else np.nan,
        "exact_atb": exact,
        "final_tonic_triad": float(is_tonic_triad(pcs, key)),
        "final_bass_tonic": float(bass_pc == key_tonic_pitch_class(*key)),
        "sounds_after_end": float(bool(after.any())),
        "melody_kept": float(melody_kept(reference, candidate)),
        "faults": float(faults),
        "notes": float(notes),
        "voice_silent": float((cand[1:] < 0).any(axis=0).mean()) if cand.shape[1] else np.nan,
        "off_grid": float(off_grid.mean()) if len(lower) else np.nan,
        "restruck": restruck(candidate),
    }


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each figure over pieces; voice-leading faults pooled per 100 notes."""
    out = {name: float(np.nanmean([r[name] for r in rows])) for name in FIGURES if name != "vl_faults_100"}
    notes = sum(r["notes"] for r in rows)
    out["vl_faults_100"] = 100.0 * sum(r["faults"] for r in rows) / notes if notes else float("nan")
    return out


# -- the lookup-table baseline ------------------------------------------------------
class LookupTable:
    """The most frequent chord (pitch-class set and bass, relative to the tonic) under each soprano degree, per mode."""

    def __init__(self, pieces: Iterable[Score]) -> None:
        counts: dict[tuple[bool, int], Counter] = defaultdict(Counter)
        for score in pieces:
            if score.num_parts != 4:
                continue
            key = seed_key(score)
            tonic = key_tonic_pitch_class(*key)
            grid = voice_grid(score, score.ticks_per_beat // 2, melody_end(score))
            for t in range(grid.shape[1]):
                column = grid[:, t]
                if (column < 0).any():
                    continue
                rel = frozenset((int(p) - tonic) % 12 for p in column)
                counts[(key[1], (int(column[0]) - tonic) % 12)][(rel, (int(column[3]) - tonic) % 12)] += 1
        self.table = {k: c.most_common(1)[0][0] for k, c in counts.items()}

    def chord(self, key: Key, soprano: int) -> tuple[frozenset[int], int]:
        """(absolute pitch classes, bass pitch class) under ``soprano`` in ``key``."""
        tonic = key_tonic_pitch_class(*key)
        found = self.table.get((key[1], (soprano - tonic) % 12))
        if found is None:  # an unseen degree: the note itself as a bare fifth above the bass
            return frozenset({soprano % 12, (soprano + 5) % 12}), (soprano + 5) % 12
        pcs, bass = found
        return frozenset((p + tonic) % 12 for p in pcs), (bass + tonic) % 12

    def harmonize(self, melody: Score) -> Score:
        """Alto, tenor and bass under each melody note: the table's chord (``voice_chords``)."""
        key = seed_key(melody)
        return voice_chords(melody, lambda start, soprano: self.chord(key, soprano))


class HarmonizerChords:
    """The model's harmonizer alone (``composer.harmony``): under each melody note, each lower voice's likeliest pitch
    class at the note's first eighth, voiced as the lookup table's chords are: what the language model adds is the rest."""

    def __init__(self, model: Any) -> None:
        from composer import harmony

        profile = next((p for p in model.training.get("styles", {}).values() if "harmonizer" in p), None)
        self.harmonizer = None if profile is None else harmony.decode_harmonizer(profile["harmonizer"])

    def harmonize(self, melody: Score) -> Score:
        from composer import harmony

        key = seed_key(melody)
        tonic = key_tonic_pitch_class(*key)
        best = self.harmonizer.log_probs(melody, key).argmax(-1)  # [T, voices]
        step = harmony.grid_step_ticks(melody.ticks_per_beat)

        def chord(start: int, soprano: int) -> tuple[frozenset[int], int]:
            row = best[min(start // step, len(best) - 1)]
            return frozenset({soprano % 12} | {(int(p) + tonic) % 12 for p in row}), (int(row[-1]) + tonic) % 12
        return voice_chords(melody, chord)


def voice_chords(melody: Score, chord_of: Callable[[int, int], tuple[frozenset[int], int]]) -> Score:
    """Alto, tenor and bass under each melody note: ``chord_of(start tick, soprano)``'s (pitch classes, bass pitch
    class), the bass first, then the inner voices filling what is missing, each voice nearest its last pitch in its range."""
    import dataclasses

    from composer.score import Part, notes_array

    top = melody.notes[melody.notes["part"] == 0]
    rows = [(int(n["start_tick"]), int(n["duration_ticks"]), int(n["pitch"]), 0) for n in top]
    previous = [None, 67, 57, 48]
    for start, length, soprano, _ in list(rows):
        pcs, bass_pc = chord_of(start, soprano)
        chosen = [soprano]
        for voice in (3, 1, 2):
            lo, hi = RANGES[voice]
            hi = min(hi, soprano - 1) if voice != 3 else hi
            wanted = {bass_pc} if voice == 3 else (pcs - {p % 12 for p in chosen}) or pcs
            options = [p for p in range(lo, hi + 1) if p % 12 in wanted] or [p for p in range(lo, hi + 1) if p % 12 in pcs] or [max(lo, min(hi, previous[voice]))]
            pitch = min(options, key=lambda p: (abs(p - previous[voice]), p))
            previous[voice] = pitch
            chosen.append(pitch)
            rows.append((start, length, pitch, voice))
    rows.sort(key=lambda r: (r[0], r[3]))
    notes = notes_array([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], part=[r[3] for r in rows])
    parts = [dataclasses.replace(melody.parts[0], name=n) if i == 0 else Part(name=n, program=melody.parts[0].program) for i, n in enumerate(("Soprano", "Alto", "Tenor", "Bass"))]
    return melody.replace(notes=notes, parts=parts)


# -- the run ------------------------------------------------------------------------
def chorales(split: str, limit: int | None = None) -> list[tuple[str, Score]]:
    """(name, score) of the split's four-part chorales, sorted by name."""
    from composer.corpus import discover
    from composer.formats import read

    out = []
    for piece in discover(CHORALES, splits=split, midi_only=True):
        score = read(piece.path)
        if score.num_parts == 4:
            out.append((piece.name, score))
        if limit is not None and len(out) >= limit:
            break
    return out


def run(split: str, limit: int | None, model_name: str, random_seed: int, particles: Iterable[int] = (), harmony_weights: Iterable[float] = (),
        others: Iterable[str] = (), temperatures: Iterable[float] = ()) -> dict[str, dict[str, float]]:
    import composer

    pieces = chorales(split, limit)
    table = LookupTable(score for _, score in chorales("train"))
    model = composer.load_model(model_name)
    systems: dict[str, Callable[[Score], Score]] = {
        "Bach": lambda melody: melody,  # replaced below by the reference itself
        "lookup table (train)": table.harmonize,
        f"{model_name} without the harmony prior (seed {random_seed})": lambda melody: model.harmonize(melody, random_seed=random_seed, harmony_weight=0),
        f"{model_name} (seed {random_seed})": lambda melody: model.harmonize(melody, random_seed=random_seed),
        f"{model_name} greedy (top_k=1)": lambda melody: model.harmonize(melody, random_seed=random_seed, top_k=1),
        # the corpus's sopranos carry Bach's fermatas (phrase ends); a plain MIDI melody has none
        f"{model_name}, the melody without its fermatas (seed {random_seed})": lambda melody: model.harmonize(melody.replace(markers=None), random_seed=random_seed),
    }
    chords = HarmonizerChords(model)
    if chords.harmonizer is not None:
        systems[f"{model_name}'s harmonizer alone, voiced as the table"] = chords.harmonize
    for other in others:  # another model file (the previous shipped model), as it harmonizes by default
        systems[f"{other} (seed {random_seed})"] = lambda melody, m=composer.load_model(other): m.harmonize(melody, random_seed=random_seed)
    for t in temperatures:  # colder sampling: the likelier chords
        systems[f"{model_name} --temperature {t:g} (seed {random_seed})"] = lambda melody, t=t: model.harmonize(melody, random_seed=random_seed, temperature=t)
    for w in harmony_weights:  # composer.harmony: the melody-ahead prior at weight w
        systems[f"{model_name} --harmony-weight {w:g} (seed {random_seed})"] = lambda melody, w=w: model.harmonize(melody, random_seed=random_seed, harmony_weight=w)
    for k in particles:  # composer.lookahead: k samples weighted by the melody notes ahead
        systems[f"{model_name} --particles {k} (seed {random_seed})"] = lambda melody, k=k: model.harmonize(melody, random_seed=random_seed, particles=k)
    results: dict[str, dict[str, float]] = {}
    for name, make in systems.items():
        start = time.perf_counter()
        rows = [compare(score, score if name == "Bach" else make(select_parts(score, [0]))) for _, score in pieces]
        results[name] = summarize(rows) | {"pieces": len(rows), "seconds": time.perf_counter() - start}
    return results


def markdown(results: dict[str, dict[str, float]]) -> str:
    percent = {"vl_faults_100"}
    head = "| system | " + " | ".join(FIGURES) + " | pieces |"
    lines = [head, "|" + "---|" * (len(FIGURES) + 2)]
    for name, figures in results.items():
        cells = [f"{figures[f]:.2f}" if f in percent else f"{100 * figures[f]:.1f}%" for f in FIGURES]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {figures['pieces']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chorale")
    parser.add_argument("--split", default="valid", choices=("train", "valid", "test"), help="valid unless you mean test: never tune on test")
    parser.add_argument("--limit", "--samples", dest="limit", type=int, default=None, help="only the first N chorales of the split")
    parser.add_argument("--random-seed", type=int, default=1)
    parser.add_argument("--particles", type=int, nargs="*", default=[], metavar="K", help="also a row per K: the model with --particles K (K=1 is the model's row as shipped)")
    parser.add_argument("--harmony-weights", type=float, nargs="*", default=[], metavar="W", help="also a row per W: the model with --harmony-weight W")
    parser.add_argument("--compare", nargs="*", default=[], metavar="MODEL", help="also a row per model (name or file), e.g. the previous shipped model: "
                        "git show 8890d4b:models/chorale.safetensors > /tmp/chorale-before-ahead.safetensors")
    parser.add_argument("--temperatures", type=float, nargs="*", default=[], metavar="T", help="also a row per T: the model with --temperature T")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    results = run(args.split, args.limit, args.model, args.random_seed, args.particles, args.harmony_weights, args.compare, args.temperatures)
    print(f"split {args.split}, eighth-note grid, {next(iter(results.values()))['pieces']} chorales")
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
