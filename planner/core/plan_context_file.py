"""What an IMRT plan file keeps of the plan's context (issue 18): the clinical protocol it was planned
on, the structure mapping, and the earlier course of a re-irradiation.

Why not the protocol's plan or the earlier dose themselves: both are made again on reopening, from
the same files through the same steps as the first time (load_protocol and protocol_plan; read_
prior_course and place_prior), so the derived structures exist again and nothing is computed twice
in two ways. Why each file's SHA-256: a protocol or an RT Dose changed on disk since the plan was
saved would otherwise be applied silently to a plan made on the old one; a changed or missing file
is said, and that part is not restored.

The section is read and written by planner.core.inverse_plan_file ("plan_context").
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from planner.core.protocols.protocol import protocols_dir


@dataclass(frozen=True)
class ProtocolRecord:
    """The protocol as read: ``shipped`` (its id, resources/protocols) or ``file`` (a clinic's own, an
    absolute path), the file's SHA-256 when read, and ``mapping``: the protocol → CT names of the
    protocol's own structures (the derived ones are derived again)."""

    shipped: str | None
    file: str | None
    sha256: str
    mapping: tuple[tuple[str, str], ...] = ()

    @classmethod
    def read_from(cls, where: str | os.PathLike) -> ProtocolRecord:
        """Where load_protocol found ``where`` (a shipped id, or a file's path, as it decides) and
        that file's SHA-256; call it right after load_protocol(where) succeeded."""
        path = Path(where)
        if path.suffix == ".json" or path.exists():
            absolute = os.path.abspath(path)
            return cls(None, absolute, file_sha256(absolute))
        return cls(str(where), None, file_sha256(protocols_dir() / f"{where}.json"))

    @property
    def path(self) -> str:
        """The protocol file this record names."""
        return self.file if self.file is not None else str(protocols_dir() / f"{self.shipped}.json")

    @property
    def load_name(self) -> str:
        """What load_protocol is given: the shipped id, or the file's path."""
        return self.shipped if self.shipped is not None else self.file

    def mapping_dict(self) -> dict[str, str]:
        return dict(self.mapping)


@dataclass(frozen=True)
class EarlierCourseRecord:
    """The earlier course's files as read (absolute paths, each file's SHA-256 then) and the
    fractions the user typed (None: from the RT Plan), i.e. read_prior_course's arguments."""

    rt_dose: str
    rt_dose_sha256: str
    rt_plan: str | None = None
    rt_plan_sha256: str | None = None
    fractions: int | None = None

    @classmethod
    def read_from(cls, rt_dose, rt_plan=None, fractions: int | None = None) -> EarlierCourseRecord:
        dose = os.path.abspath(rt_dose)
        plan = None if rt_plan is None else os.path.abspath(rt_plan)
        return cls(dose, file_sha256(dose), plan, None if plan is None else file_sha256(plan), fractions)

    def files(self) -> tuple[tuple[str, str], ...]:
        """(path, SHA-256) of each file it was read from."""
        return ((self.rt_dose, self.rt_dose_sha256),) + (
            () if self.rt_plan is None else ((self.rt_plan, self.rt_plan_sha256),))


@dataclass(frozen=True)
class PlanContextRecord:
    protocol: ProtocolRecord | None = None
    earlier_course: EarlierCourseRecord | None = None


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def changed_since_saved(path: str, sha256: str) -> str | None:
    """Why ``path`` is not the file the plan was saved with (missing, unreadable, other SHA-256), or None."""
    try:
        found = file_sha256(path)
    except FileNotFoundError:
        return f"{path} is missing"
    except OSError as err:
        return f"{path} cannot be read ({err.strerror or err})"
    return None if found == sha256 else f"{path} changed since the plan was saved (SHA-256 differs)"
