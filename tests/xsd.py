"""Test helper: validate MusicXML (and .mxl containers) against the MusicXML 4.0 XSD in ../shared/musicxml-xsd.

With ``xmllint`` on PATH (Debian's libxml2-utils) this runs, as the schema's
README says::

    XML_CATALOG_FILES=../shared/musicxml-xsd/catalog.xml \\
      xmllint --noout --nonet --schema ../shared/musicxml-xsd/musicxml.xsd FILE

Without xmllint it uses lxml's XMLSchema, resolving the schema's two imports to
the local copies. The test is skipped only when the schema folder is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
XSD_DIR = ROOT.parent / "shared" / "musicxml-xsd"
SCORE_XSD = XSD_DIR / "musicxml.xsd"
CONTAINER_XSD = XSD_DIR / "container.xsd"
CATALOG = XSD_DIR / "catalog.xml"


def _require_schemas() -> None:
    if not XSD_DIR.is_dir():
        pytest.skip(f"MusicXML schemas not found at {XSD_DIR}")
    missing = [p.name for p in (SCORE_XSD, CONTAINER_XSD, CATALOG) if not p.is_file()]
    assert not missing, f"{XSD_DIR} lacks {', '.join(missing)}"


def _xmllint(path: Path, schema: Path) -> str | None:
    """None if valid, else xmllint's complaint."""
    env = dict(os.environ, XML_CATALOG_FILES=str(CATALOG))
    done = subprocess.run(
        ["xmllint", "--noout", "--nonet", "--schema", str(schema), str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[-2000:]


@lru_cache(maxsize=None)
def _lxml_schema(schema: Path):  # noqa: ANN202
    from lxml import etree

    class Local(etree.Resolver):
        def resolve(self, url, pubid, context):  # noqa: ANN001, ANN201
            if url and (url.startswith("http://www.musicxml.org/xsd/") or url.startswith("http://www.w3.org/")):
                local = XSD_DIR / url.rsplit("/", 1)[-1]
                if local.is_file():
                    return self.resolve_filename(str(local), context)
            return None

    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(Local())
    return etree.XMLSchema(etree.parse(str(schema), parser))


def _lxml(path: Path, schema: Path) -> str | None:
    from lxml import etree

    compiled = _lxml_schema(schema)
    try:
        document = etree.parse(str(path), etree.XMLParser(no_network=True, resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        return f"not well-formed XML: {exc}"
    if compiled.validate(document):
        return None
    return "\n".join(str(e) for e in list(compiled.error_log)[:20])


def schema_errors(path: str | Path, schema: Path | None = None) -> str | None:
    """None when ``path`` validates against ``schema`` (default: the score schema), else the errors."""
    _require_schemas()
    schema = schema or SCORE_XSD
    if shutil.which("xmllint"):
        return _xmllint(Path(path), schema)
    return _lxml(Path(path), schema)


def assert_valid_musicxml(path: str | Path) -> None:
    """Assert a .musicxml file, or the score and container inside an .mxl, are schema-valid."""
    path = Path(path)
    if path.suffix.lower() != ".mxl":
        errors = schema_errors(path)
        assert errors is None, f"{path} is not valid MusicXML 4.0:\n{errors}"
        return
    _require_schemas()
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
        names = archive.namelist()
        assert names[0] == "mimetype", f"{path}: 'mimetype' must be the first entry, got {names}"
        assert archive.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        container = Path(folder) / "container.xml"
        container.write_bytes(archive.read("META-INF/container.xml"))
        errors = schema_errors(container, CONTAINER_XSD)
        assert errors is None, f"{path}: META-INF/container.xml is not valid:\n{errors}"
        from xml.etree import ElementTree

        rootfile = ElementTree.parse(container).getroot().find("rootfiles/rootfile")
        assert rootfile is not None, f"{path}: container names no rootfile"
        inner = Path(folder) / "score.musicxml"
        inner.write_bytes(archive.read(rootfile.get("full-path")))
        errors = schema_errors(inner)
        assert errors is None, f"{path}: {rootfile.get('full-path')} is not valid MusicXML 4.0:\n{errors}"
