"""Sheet music as SVG, PNG or PDF, engraved by verovio from our MusicXML; no MuseScore or LilyPond.

* **SVG**: one file. verovio lays the whole score out on one continuous page
  (page height fitted to the music, systems broken to the page width); a
  score too long for verovio's largest page (60,000 units) gets its pages
  stacked one under another in the same file.
* **PNG**: that same continuous page, rasterized (``PNG_PPI`` pixels an inch,
  white background).
* **PDF**: A4 pages (verovio's page breaks), one PDF page each, vector graphics;
  a last page holding one lone system is avoided where tighter staff spacing
  fits it on the page before (``ORPHAN_RELAYOUTS``).

PNG and PDF need the PyPI package ``vl-convert-python`` (self-contained
wheels: resvg and svg2pdf with fonts bundled, no system cairo), and a
PDF ``pypdf`` to join the pages and put each page's fonts in a fixed order
(the same score gives the same PDF bytes on every run). verovio draws inline music
symbols in text (the note of a tempo mark) with its SMuFL web font, which
those renderers cannot use, so for PNG/PDF such glyphs are replaced by their
outlines from verovio's own glyph files.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import Any

from composer.errors import WriteError
from composer.io import save_bytes
from composer.score import Score

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
A4_WIDTH_PT = 595.276
A4_HEIGHT_PT = 841.89
PAGE_WIDTH = 2100  # verovio units: A4 at 10 units a millimetre
PAGE_HEIGHT = 2970
MAX_PAGE_HEIGHT = 60000  # verovio's limit
SCALE = 40  # percent; 2100 units -> 840 px
PNG_PPI = 144.0  # 2x the SVG's 72 px an inch
MUSIC_FONT = "Leipzig"
GLYPH_SPACE_EM = 0.15  # a space between inline music glyphs (the dot after a tempo mark's note), in ems
# verovio's default staff spacing is 12 (half staff spaces); tried in order to pull a lone last system back.
ORPHAN_RELAYOUTS: tuple[dict[str, Any], ...] = ({"spacingStaff": 10}, {"spacingStaff": 8}, {"spacingStaff": 8, "spacingSystem": 2})


def _base_options(scale: int) -> dict[str, Any]:
    return {
        "pageWidth": PAGE_WIDTH,
        "pageHeight": PAGE_HEIGHT,
        "scale": scale,
        "footer": "none",
        "header": "auto",
        "breaks": "auto",
        "font": MUSIC_FONT,
        "xmlIdChecksum": True,  # the same score gives the same SVG
        "mnumInterval": 0,
    }


def _toolkit(musicxml: str, options: dict[str, Any]) -> Any:
    import verovio

    verovio.enableLog(verovio.LOG_OFF)  # it warns on stderr about things it copes with
    tk = verovio.toolkit()
    tk.setOptions(options)
    try:
        loaded = tk.loadData(musicxml)
    except Exception as exc:  # the binding raises for some malformed input
        raise WriteError(f"verovio cannot read the score ({' '.join(str(exc).split())[:200]})") from exc
    if not loaded or tk.getPageCount() < 1:
        raise WriteError("verovio cannot engrave this score")
    return tk


def _musicxml_text(score: Score) -> str:
    from composer.render.musicxml import to_musicxml

    return to_musicxml(score).decode("utf-8")


def svg_pages(score: Score, *, continuous: bool = False, max_pages: int | None = None, scale: int = SCALE, view_box: bool = False) -> list[str]:
    """verovio SVG pages: A4 pages, or with ``continuous`` as few as possible, as tall as the music needs."""
    options = _base_options(scale)
    options["svgViewBox"] = view_box
    if continuous:
        options.update(pageHeight=MAX_PAGE_HEIGHT, adjustPageHeight=True)
    musicxml = _musicxml_text(score)
    tk = _toolkit(musicxml, options)
    if not continuous:
        tk = _without_orphan(tk, musicxml, options)
    count = tk.getPageCount()
    if max_pages is not None:
        count = min(count, max_pages)
    pages = [tk.renderToSVG(i + 1) for i in range(count)]
    if not pages or not all("<svg" in page for page in pages):
        raise WriteError("verovio rendered no SVG for this score")
    if 'class="measure' not in pages[0]:
        # verovio loads malformed MusicXML "successfully" and draws an empty page.
        raise WriteError("verovio engraved no music from this score (it found no measures it could read)")
    return pages


def systems_on_page(tk: Any, page: int) -> int:
    """How many systems verovio put on ``page`` (counted from 1)."""
    return tk.renderToSVG(page).count('class="system"')


def _without_orphan(tk: Any, musicxml: str, options: dict[str, Any]) -> Any:
    """A layout whose last page is not one lone system where tighter staff spacing saves that page.

    verovio breaks pages conservatively (a 21-bar chorale: three systems on
    page 1, its bottom third blank, the last bar alone on page 2). Tighter
    spacing between staves (``ORPHAN_RELAYOUTS``, in order) is tried; the first
    that needs fewer pages is kept, else the original layout.
    """
    pages = tk.getPageCount()
    if pages < 2 or systems_on_page(tk, pages) > 1:
        return tk
    for tighter in ORPHAN_RELAYOUTS:
        again = _toolkit(musicxml, {**options, **tighter})
        if again.getPageCount() < pages:
            return again
    return tk


_SIZE = re.compile(r"^\s*([0-9.]+)\s*(px)?\s*$")


def _size(svg: ET.Element, name: str) -> float:
    match = _SIZE.match(svg.get(name, ""))
    if not match:
        raise WriteError(f"verovio wrote an SVG without a plain {name}")
    return float(match.group(1))


def stack_pages(pages: list[str]) -> str:
    """One SVG document with the pages one under another (the page itself when there is one)."""
    if len(pages) == 1:
        return pages[0]
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    roots = [ET.fromstring(page) for page in pages]
    width = max(_size(r, "width") for r in roots)
    y = 0.0
    outer = ET.Element(f"{{{SVG_NS}}}svg", {"version": "1.1"})
    for root in roots:
        root.set("x", "0")
        root.set("y", f"{y:g}")
        y += _size(root, "height")
        outer.append(root)
    outer.set("width", f"{width:g}px")
    outer.set("height", f"{y:g}px")
    return ET.tostring(outer, encoding="unicode")


def to_svg(score: Score) -> str:
    """The score engraved as one SVG document (see the module docstring)."""
    return stack_pages(svg_pages(score, continuous=True))


# -- inline music glyphs ----------------------------------------------------
@lru_cache(maxsize=None)
def _font_metrics(font: str) -> tuple[float, dict[str, float]]:
    """(units per em, advance width of each glyph by code point) of a verovio music font."""
    import verovio

    folder = Path(verovio.toolkit().getResourcePath())
    try:
        root = ET.parse(folder / f"{font}.xml").getroot()
    except (OSError, ET.ParseError):
        return 1000.0, {}
    return float(root.get("units-per-em", "1000")), {g.get("c", ""): float(g.get("h-a-x", "0")) for g in root.iter("g")}


@lru_cache(maxsize=None)
def _glyph(font: str, code: str) -> tuple[str, float, float] | None:
    """(outline path data, advance width, units per em) of a SMuFL glyph; the outline is upside down."""
    import verovio

    folder = Path(verovio.toolkit().getResourcePath())
    try:
        shape = ET.parse(folder / font / f"{code}.xml").getroot()
    except (OSError, ET.ParseError):
        return None
    path = shape if shape.tag == "path" else shape.find("path")
    if path is None or not path.get("d"):
        return None
    units, advances = _font_metrics(font)
    return path.get("d", ""), advances.get(code, units / 2), units


def _font_px(element: ET.Element) -> float:
    match = _SIZE.match(element.get("font-size", ""))
    return float(match.group(1)) if match else 0.0


def inline_music_glyphs(svg: str) -> str:
    """Make verovio's SVG safe for resvg: SMuFL characters that open a ``<text>`` become outlines.

    Renderers without web-font support draw nothing for those characters (the
    note of a tempo mark); a glyph in the middle of a text is left alone.
    Tooltip ``<title>`` elements inside texts are dropped too: resvg then
    mis-places the text (the score's title lands in the top left corner).
    """
    if f'font-family="{MUSIC_FONT}"' not in svg and "<title" not in svg:
        return svg
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(svg)
    text_tag, tspan_tag = f"{{{SVG_NS}}}text", f"{{{SVG_NS}}}tspan"
    parents = {child: parent for parent in root.iter() for child in parent}
    # verovio puts tooltip <title>s inside texts; resvg then loses the text's position.
    for title in [e for e in root.iter(f"{{{SVG_NS}}}title") if parents.get(e) is not None and parents[e].tag in (text_tag, tspan_tag)]:
        parents[title].remove(title)
    for text in list(root.iter(text_tag)):
        spans = list(text.iter(tspan_tag))
        before = (text.text or "").strip()
        for span in spans:
            if span.get("font-family") != MUSIC_FONT:
                if (span.text or "").strip():
                    break  # only glyphs before any plain text
                continue
            if before:
                break
            chars = span.text or ""
            size = _font_px(span)
            try:
                x, y = float(text.get("x", "")), float(text.get("y", ""))
            except ValueError:
                break
            group = ET.Element(f"{{{SVG_NS}}}g")
            advance = 0.0
            for char in chars:
                glyph = _glyph(MUSIC_FONT, f"{ord(char):04X}")
                if glyph is None:
                    advance += size * (GLYPH_SPACE_EM if char.isspace() else 0.5)
                    continue
                d, width, units = glyph
                factor = size / units
                ET.SubElement(
                    group,
                    f"{{{SVG_NS}}}path",
                    {"d": d, "transform": f"translate({x + advance:.1f},{y:.1f}) scale({factor:.4f},{-factor:.4f})"},
                )
                advance += width * factor
            # Drop the glyph's tspan and the tspans left empty by that: resvg
            # mis-places a text whose first tspan is empty.
            span.text = ""
            node = span
            while node is not text and not (node.text or "").strip() and len(node) == 0:
                parent = parents[node]
                parent.remove(node)
                node = parent
            text.set("x", f"{x + advance:.1f}")
            holder = parents.get(text)
            if holder is not None:
                holder.insert(list(holder).index(text), group)
    return ET.tostring(root, encoding="unicode")


# -- PNG and PDF ----------------------------------------------------------------
def _vl_convert() -> Any:
    try:
        import vl_convert
    except ImportError as exc:
        raise WriteError("PNG and PDF output need the vl-convert-python package (pip install vl-convert-python)") from exc
    return vl_convert


def _convert(function: Any, svg: str, what: str, **kw: Any) -> bytes:
    try:
        return function(svg, **kw)
    except Exception as exc:  # the Rust side raises ValueError or its own types
        raise WriteError(f"cannot rasterize the engraved score to {what} ({' '.join(str(exc).split())[:200]})") from exc


def to_png(score: Score, *, ppi: float = PNG_PPI) -> bytes:
    """The continuous SVG page rasterized to PNG on white."""
    vl = _vl_convert()
    svg = _white_background(inline_music_glyphs(to_svg(score)))
    return _convert(vl.svg_to_png, svg, "PNG", ppi=ppi)


def _white_background(svg: str) -> str:
    """Put a white rectangle under an SVG page (PNG is transparent otherwise)."""
    end = svg.find(">", svg.find("<svg")) + 1
    # An inline style: verovio's stylesheet strokes every rect.
    return svg[:end] + '<rect x="0" y="0" width="100%" height="100%" style="fill:#ffffff;stroke:none"/>' + svg[end:]


def _a4(svg: str) -> str:
    """The page at A4 size (the PDF takes one SVG pixel as one point)."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(svg)
    if root.get("viewBox") is None:
        root.set("viewBox", f"0 0 {_size(root, 'width'):g} {_size(root, 'height'):g}")
    root.set("width", f"{A4_WIDTH_PT}px")
    root.set("height", f"{A4_HEIGHT_PT}px")
    return ET.tostring(root, encoding="unicode")


def to_pdf(score: Score) -> bytes:
    """A4 pages as one vector PDF."""
    vl = _vl_convert()
    pages = svg_pages(score, view_box=True)
    pdfs = [_convert(vl.svg_to_pdf, _a4(inline_music_glyphs(page)), "PDF") for page in pages]
    try:
        from pypdf import PdfReader, PdfWriter
    except ImportError as exc:
        if len(pdfs) == 1:
            return pdfs[0]  # right, but its bytes may differ from run to run
        raise WriteError(f"a PDF of {len(pdfs)} pages needs the pypdf package to join them (pip install pypdf)") from exc
    writer = PdfWriter()
    for data in pdfs:
        for page in PdfReader(io.BytesIO(data)).pages:
            _sort_resources(page)
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _sort_resources(page: Any) -> None:
    """Put each resource dictionary of a page (fonts, ...) in name order, in place.

    The rasterizer writes a page's fonts in an order that changes from run to
    run; pypdf numbers objects in the order it meets them, so sorted resources
    give the same bytes every time.
    """
    from pypdf.generic import DictionaryObject

    resources = page.get("/Resources")
    if resources is None:
        return
    resources = resources.get_object()
    for name in list(resources.keys()):
        entry = resources[name].get_object()
        if isinstance(entry, DictionaryObject):
            items = sorted(entry.items())
            entry.clear()
            entry.update(items)


def write_svg(score: Score, path: str | Path) -> None:
    """Write the engraved score as one SVG file."""
    save_bytes(Path(path), to_svg(score).encode("utf-8"), "SVG")


def write_png(score: Score, path: str | Path) -> None:
    """Write the engraved score as one PNG image (all systems, one under another)."""
    save_bytes(Path(path), to_png(score), "PNG")


def write_pdf(score: Score, path: str | Path) -> None:
    """Write the engraved score as a PDF of A4 pages."""
    save_bytes(Path(path), to_pdf(score), "PDF")
