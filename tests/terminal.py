"""What a terminal of a given width shows of a Rich renderable, and whether it is readable."""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich.console import Console, RenderableType

WIDTHS = (80, 120)


def rendered(renderable: RenderableType, width: int) -> str:
    screen = io.StringIO()
    Console(width=width, file=screen, color_system=None).print(renderable)
    return screen.getvalue()


def assert_readable(renderable: RenderableType, width: int, values: Iterable[str]) -> None:
    """Every line fits, nothing is cut short (…), and every word of every value shows
    whole: not split over two lines (`reaso n`) nor truncated (`10.91…`)."""
    text = rendered(renderable, width)
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "…" not in text, text
    words = set(text.split())
    missing = [word for value in values for word in value.split() if word not in words]
    assert missing == [], text
