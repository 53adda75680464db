"""Which of the CT's structures each protocol structure is: by name (TG-263 and its common
variants, case-free), by RT ROI Interpreted Type, or by the planner's explicit mapping.

Why a stop and never a guess: a protocol organ silently dropped is a limit nobody checks (issue 18:
the cord got 51.8 Gy in a 50 Gy plan and nothing said so). So a protocol structure with no CT
structure, or with two that fit, stops with both names; the planner answers with a mapping
("SpinalCord=Cord_T8").
"""

from __future__ import annotations

import re

from planner.core.protocols.protocol import Protocol, ProtocolError

# TG-263 names (Mayo et al., AAPM Report 263, 2018) and the variants clinics write for them;
# compared after normalise() (case, spaces, '_', '-' and '.' dropped).
VARIANTS: dict[str, tuple[str, ...]] = {
    "SpinalCord": ("SpinalCord", "Spinal Cord", "spinal_cord", "Cord", "Medulla", "Medulla Spinalis", "Myelon",
                   "Spinal-Cord"),
    "BrainStem": ("BrainStem", "Brain Stem", "Brainstem", "Brain_Stem"),
    "CaudaEquina": ("CaudaEquina", "Cauda Equina", "Cauda", "Cauda_Equina"),
    "Esophagus": ("Esophagus", "Oesophagus", "Esoph"),
    "External": ("External", "Body", "Outline"),
    "PTV": ("PTV",),
}
# Structures whose dose must always be limited: watched by name, a warning when the protocol sets no limit.
SERIAL_CNS = ("SpinalCord", "BrainStem", "CaudaEquina")
# What the RT ROI Interpreted Type (DICOM PS3.3 C.8.8.8) of a role's structure may be.
TYPES_BY_ROLE = {"target": ("PTV", "CTV", "GTV"), "organ": ("ORGAN", "AVOIDANCE", "CAVITY", ""),
                 "external": ("EXTERNAL",)}


class StructureMatchError(ProtocolError):
    """A protocol structure with no CT structure, or with more than one."""


def normalise(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name).casefold()


def tg263_name(ct_name: str) -> str | None:
    """The TG-263 name a CT structure's name is a variant of, or None."""
    key = normalise(ct_name)
    return next((tg for tg, names in VARIANTS.items() if key in {normalise(n) for n in names}), None)


def parse_mapping(pairs) -> dict[str, str]:
    """``["SpinalCord=Cord_T8", ...]`` (the command line's --map) as {protocol name: CT name}."""
    out = {}
    for pair in pairs:
        left, sep, right = str(pair).partition("=")
        if not sep or not left.strip() or not right.strip():
            raise StructureMatchError(f"mapping {pair!r} is not Protocol=CT_ROI (e.g. SpinalCord=Cord)")
        out[left.strip()] = right.strip()
    return out


def match_structures(protocol: Protocol, ct_structures: dict[str, str],
                     explicit: dict[str, str] | None = None) -> dict[str, str]:
    """{protocol structure: CT structure} for every structure the protocol names (not the derived ones).

    ``ct_structures``: the CT's structure names with their RT ROI Interpreted Type ("" if none).
    ``explicit``: the planner's mapping, used as given (a CT name the CT lacks is refused). Else the
    first of these that finds any: (1) the CT structures whose normalised name is the protocol name,
    one of its TG-263 variants or one of the protocol's aliases; (2) for a target, those whose name
    begins with it (PTV_T8 for PTV); (3) for a target or the external, those of the role's type
    (PTV, EXTERNAL) — never an organ by type alone. Of several, those whose type fits the role;
    still several is a stop naming two. Raises StructureMatchError naming the structure.
    """
    explicit = dict(explicit or {})
    names = {s.name for s in protocol.structures} | {d.name for d in protocol.derived}
    for key, ct in explicit.items():
        if key not in names:
            raise StructureMatchError(f"mapping {key}={ct}: the protocol has no structure {key!r}")
        if ct not in ct_structures:
            raise StructureMatchError(f"mapping {key}={ct}: the CT has no structure {ct!r} "
                                      f"(it has {', '.join(sorted(ct_structures)) or 'none'})")
    found: dict[str, str] = {}
    for structure in protocol.structures:
        if structure.name in explicit:
            found[structure.name] = explicit[structure.name]
            continue
        candidates = next((c for c in _tiers(structure, ct_structures) if c), [])
        fitting = [ct for ct in candidates if ct_structures[ct].upper() in TYPES_BY_ROLE[structure.role]]
        if len(candidates) > 1 and len(fitting) == 1:
            candidates = fitting
        if len(candidates) > 1:
            raise StructureMatchError(f"protocol structure {structure.name} matches both {candidates[0]} and "
                                      f"{candidates[1]}: map one (--map {structure.name}={candidates[0]})")
        if not candidates:
            raise StructureMatchError(f"protocol structure {structure.name} ({structure.role}) is not on this CT: "
                                      f"map it to one of {', '.join(sorted(ct_structures)) or 'no structures'} "
                                      f"(--map {structure.name}=<CT ROI>)")
        found[structure.name] = candidates[0]
    return found


def _tiers(structure, ct_structures: dict[str, str]):
    """The candidate lists match_structures tries in turn, each sorted by name."""
    wanted = {normalise(n) for n in (structure.name, *VARIANTS.get(structure.name, ()), *structure.aliases)}
    yield sorted(ct for ct in ct_structures if normalise(ct) in wanted)
    if structure.role == "target":
        yield sorted(ct for ct in ct_structures if normalise(ct).startswith(normalise(structure.name)))
    if structure.role != "organ":
        yield sorted(ct for ct, kind in ct_structures.items() if kind.upper() == TYPES_BY_ROLE[structure.role][0])
