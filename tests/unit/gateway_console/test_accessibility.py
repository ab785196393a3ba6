"""The console's colours meet WCAG 2.1 AA (4.5:1 for text), computed from the stylesheet's
own variables; every form control has a label."""

from __future__ import annotations

import re
from pathlib import Path

from homeward_gateway.console.rendering import TEMPLATES

CSS = (Path(TEMPLATES).parent / "static" / "console.css").read_text()
PAIRS = [  # (text, background) as the stylesheet uses them
    ("ink", "paper"),
    ("muted", "paper"),
    ("on-brand", "brand"),
    ("on-action", "action"),
    ("action", "paper"),
    ("danger", "paper"),
    ("ok", "paper"),
    ("drill-ink", "drill"),
    ("closed-ink", "closed"),
    ("danger", "closed"),
    ("ok", "closed"),
    ("action", "closed"),
    ("ink", "focus"),
]


def colour(name: str) -> tuple[float, float, float]:
    found = re.search(rf"--{re.escape(name)}:\s*#([0-9a-fA-F]{{6}})", CSS)
    assert found, f"--{name} not in console.css"
    h = found.group(1)
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def luminance(rgb: tuple[float, float, float]) -> float:
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(colour(a)), luminance(colour(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_every_text_colour_pair_meets_aa() -> None:
    low = {f"{a} on {b}": round(contrast(a, b), 2) for a, b in PAIRS if contrast(a, b) < 4.5}
    assert low == {}


def test_every_control_has_a_label_and_focus_is_visible() -> None:
    for path in TEMPLATES.glob("*.html"):
        html = path.read_text()
        for control in re.finditer(r"<(select|textarea|input)\b([^>]*)>", html):
            attrs = control.group(2)
            if 'type="hidden"' in attrs:
                continue
            ident = re.search(r'id="([^"]+)"', attrs)
            assert ident, f"{path.name}: a {control.group(1)} without an id"
            assert f'for="{ident.group(1)}"' in html, f"{path.name}: no label for {ident.group(1)}"
    assert ":focus-visible" in CSS
