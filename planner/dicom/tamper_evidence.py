"""What changed in a signed plan, value by value, and which value was the signed one (issue 15, point 8).

A Planner RT Plan says the same things twice: in its own attributes (what a record-and-verify system
delivers: patient, fractions, dose, machine, applicator, time) and in the embedded plan (what
Planner shows; planner.dicom.plan_payload). Both are covered by the physician's signature. When
someone changes one of them after signing, the signature breaks and the two disagree; the window
shows the values side by side instead of only a sentence among the review's reasons.

Which of the two is the signed value? The signature itself tells, without guessing: put the
embedded plan's values back into the RT Plan's attributes (on a copy) and check the signatures
again; if they hold, those were the signed values and the RT Plan's attributes were changed. Then
the other way: the RT Plan's values into the embedded plan. If neither makes the signatures whole
(more was changed, or the signatures were broken for another reason), the window says that which
side was changed cannot be told.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from .plan_payload import PayloadDifference, payload_json, payload_text
from .signatures import DAMAGE_ERRORS, SignatureCheck, SignatureError, SignatureStatus, verify_dataset

EMBEDDED_SIGNED = "embedded"     # the embedded plan holds the signed values: the RT Plan's attributes were changed
RT_PLAN_SIGNED = "rt_plan"       # the RT Plan's attributes hold them: the embedded plan (what is shown) was changed


@dataclass(frozen=True)
class ChangedValue:
    what: str
    signed: str            # the value as signed (when proven) or as the embedded plan holds it
    current: str           # the value as the file holds it now where it differs, or as the RT Plan holds it


@dataclass(frozen=True)
class TamperEvidence:
    """The disagreements of a signed plan with itself, and what its signatures prove about them."""

    broken: bool                                  # a signature does not hold any more
    differences: tuple[PayloadDifference, ...]
    signed_side: str | None                       # EMBEDDED_SIGNED | RT_PLAN_SIGNED | None (cannot be told)
    problems: tuple[str, ...]                     # the broken signatures' problems

    @property
    def proven(self) -> bool:
        return self.signed_side is not None

    def rows(self) -> tuple[ChangedValue, ...]:
        """Signed value beside the value in the file now, when the signature says which is which;
        else the embedded plan's value beside the RT Plan's."""
        rows = []
        for d in self.differences:
            embedded, rt_plan = _text(d.embedded, d.number), _text(d.rt_plan, d.number)
            if self.signed_side == RT_PLAN_SIGNED:
                rows.append(ChangedValue(d.what, rt_plan, embedded))
            else:
                rows.append(ChangedValue(d.what, embedded, rt_plan))
        return tuple(rows)

    def where_changed(self) -> str:
        """One sentence: what was changed after signing, as far as the signatures tell."""
        if self.signed_side == EMBEDDED_SIGNED:
            return ("the RT Plan's own attributes (what the treatment unit delivers) were changed after signing; "
                    "the signature proves the values Planner shows are the signed ones")
        if self.signed_side == RT_PLAN_SIGNED:
            return ("the embedded plan (what Planner shows) was changed after signing; the signature proves the RT "
                    "Plan's attributes hold the signed values")
        if self.broken and self.differences:
            return ("the plan was changed after signing; the signature cannot tell which of the two values below "
                    "was signed")
        if self.broken:
            return "the signed data changed after signing; the changed values cannot be named"
        return "the signed plan disagrees with itself: the RT Plan's attributes and the embedded plan differ"


def tamper_evidence(ds: Dataset, checks: tuple[SignatureCheck, ...],
                    differences: Iterable[PayloadDifference]) -> TamperEvidence | None:
    """None when the plan is unsigned, or its signatures hold and it agrees with itself.

    ``ds`` is the dataset as read (it is copied, never changed); ``differences`` from
    plan_payload.payload_differences on it.
    """
    differences = tuple(differences)
    status = SignatureStatus.of(checks)
    if status is SignatureStatus.UNSIGNED or (status is SignatureStatus.SIGNED and not differences):
        return None
    broken = status is SignatureStatus.BROKEN
    side = None
    comparable = [d for d in differences if not d.problem]
    if broken and comparable and len(comparable) == len(differences):
        if _signatures_hold(_with_rt_plan_values(ds, comparable)):
            side = EMBEDDED_SIGNED
        elif _signatures_hold(_with_embedded_values(ds, comparable)):
            side = RT_PLAN_SIGNED
    return TamperEvidence(broken=broken, differences=differences, signed_side=side,
                          problems=tuple(c.problem for c in checks if not c.valid and c.problem))


def _signatures_hold(ds: Dataset | None) -> bool:
    if ds is None:
        return False
    try:
        checks = verify_dataset(ds)
    except (SignatureError, *DAMAGE_ERRORS):
        return False
    return bool(checks) and all(c.valid for c in checks)


def _with_rt_plan_values(ds: Dataset, differences: list[PayloadDifference]) -> Dataset | None:
    """A copy whose RT Plan attributes hold the embedded plan's values (None: one has no place)."""
    trial = copy.deepcopy(ds)
    for d in differences:
        if d.dicom_path is None or d.embedded is None:
            return None
        container = trial
        try:
            for step in d.dicom_path[:-1]:
                container = container[step] if isinstance(step, int) else getattr(container, step)
            setattr(container, d.dicom_path[-1], _dicom_value(d.embedded, d.number))
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            return None
    return trial


def _with_embedded_values(ds: Dataset, differences: list[PayloadDifference]) -> Dataset | None:
    """A copy whose embedded plan holds the RT Plan's values (None: one has no place)."""
    found = payload_json(ds)
    if found is None:
        return None
    base, plan, record = found
    documents = {"plan": copy.deepcopy(plan), "record": copy.deepcopy(record)}
    for d in differences:
        if d.payload_path is None or d.rt_plan is None:
            return None
        target = documents[d.payload_path[0]]
        try:
            for key in d.payload_path[1:-1]:
                target = target[key]
            old = target[d.payload_path[-1]]
            target[d.payload_path[-1]] = _like(old, d.rt_plan)
        except (KeyError, TypeError, ValueError):
            return None
    trial = copy.deepcopy(ds)
    trial[base | 0x00].value = payload_text(documents["plan"])
    trial[base | 0x01].value = payload_text(documents["record"])
    return trial


def _dicom_value(value: Any, number: bool) -> Any:
    if not number:
        return str(value)
    number_value = float(value)
    return int(number_value) if number_value.is_integer() and isinstance(value, int) else number_value


def _like(old: Any, new: Any) -> Any:
    """``new`` with the JSON type ``old`` had (an int stays an int, a float a float)."""
    if isinstance(old, bool) or old is None:
        return new
    if isinstance(old, int):
        return int(float(new))
    if isinstance(old, float):
        return float(new)
    return str(new)


def _text(value: Any, number: bool) -> str:
    if value is None:
        return "(none)"
    if number:
        return f"{float(value):g}"
    return str(value)


__all__ = ["EMBEDDED_SIGNED", "RT_PLAN_SIGNED", "ChangedValue", "TamperEvidence", "tamper_evidence"]
