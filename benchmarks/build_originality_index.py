"""Rebuild the originality index shipped with the models: ``models/originality_index.npz``.

    python benchmarks/build_originality_index.py [--corpus midi_corpus] [-o models/originality_index.npz]

It indexes the train split of the bundled corpus (what the shipped models
learned from), so that ``composer originality`` without ``--corpus`` works
wherever composer is installed, with no ``midi_corpus`` folder at hand. The
same corpus gives the same bytes. Rebuild it after ``composer corpus build``
changes the corpus, and whenever ``composer.originality.INDEX_VERSION`` is
bumped (a shipped index of another version is refused with one error line).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from composer.originality import build_shipped_index, read_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="midi_corpus", help="the corpus folder (default: midi_corpus)")
    parser.add_argument("-o", "--output", default=None, help="where to write it (default: models/originality_index.npz of this checkout)")
    args = parser.parse_args()
    path = build_shipped_index(args.corpus, args.output)
    index, meta = read_index(path)
    print(f"wrote {path}: {len(index.files)} files, {len(index.text)} notes, {Path(path).stat().st_size / 1e6:.2f} MB; files_sha1 {meta['files_sha1']}")


if __name__ == "__main__":
    main()
