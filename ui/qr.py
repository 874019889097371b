"""QR codes (segno): SVG for pages and print, PNG for downloads and chat apps."""

from __future__ import annotations

import io

import segno


def svg(text: str, scale: int = 4) -> str:
    """An inline <svg> (no XML declaration), dark modules only, with a quiet zone."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="svg", scale=scale, border=2, xmldecl=False,
                                                   svgns=True, nl=False)
    text_svg = out.getvalue().decode()
    size = segno.make(text, error="m", micro=False).symbol_size(scale=scale, border=2)
    return text_svg.replace("<svg ", f'<svg viewBox="0 0 {size[0]} {size[1]}" ', 1)


def png(text: str, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale, border=2)
    return out.getvalue()
