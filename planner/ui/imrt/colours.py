"""One colour per structure, the same in the slice view's outlines and the DVH's curves."""

from __future__ import annotations

# Targets red-ish, the body a pale blue, organs at risk from a palette readable on black.
_BY_PREFIX = (("PTV", "#ff4040"), ("CTV", "#ff9040"), ("GTV", "#ff40ff"),
              ("BODY", "#80c8ff"), ("EXTERNAL", "#80c8ff"), ("SKIN", "#80c8ff"))
_PALETTE = ("#ffe040", "#40e080", "#40a0ff", "#e080ff", "#ffa0a0", "#a0ffe0", "#c0c040", "#ffffff")


def structure_colours(names) -> dict[str, str]:
    """A colour (hex) for each structure name, stable for a given list of names."""
    colours, spare = {}, iter(_PALETTE * 4)
    for name in names:
        colour = next((c for prefix, c in _BY_PREFIX if name.upper().startswith(prefix)), None)
        colours[name] = colour or next(spare, "#ffffff")
    return colours
