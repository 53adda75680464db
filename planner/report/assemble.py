"""From a plan, its dose and its image to the frozen ReportContent.

Refuses (ReportError) only what cannot honestly be printed: no image or no mm scale, no dose at
all, or a dose that belongs to another prescription than the plan's (a stale dose must never be
printed beside a newer prescription). A refused dose is reported as a refusal, with REFUSED on
every page and none of its numbers: no time, Dmax, prescription depth, coverage, dose table,
isodose line or PDD mark, whatever the engine got to before refusing (its numbers must not look
valid on paper).

One meaning per word: "X %" is percent of Dmax, the central-axis maximum dose per fraction, in
the sentences of planner.dose.coverage (the window's, the command line's and the RT Plan's); "HVL"
is the beam's measured or commissioned HVL, and the spectrum fit's is named "fitted HVL".
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

import planner
from planner.core.clinic_settings import ClinicSettings, ClinicSettingsError, load_clinic_settings
from planner.core.course import course_columns
from planner.core.outline import measure_lesion
from planner.core.radiobiology import biological_doses
from planner.dose.coverage import prescription_sentence
from planner.dose.result import DoseResult, stale_dose_problem
from planner.imaging.planning_image import calibrated_image
from planner.report import formatting as fmt
from planner.report.content import (Alert, CourseSection, DepthDoseCurve, DepthMark, Item, PlanStatus, ReportContent,
                                    ReportError, SignatureLine, checked_status)
from planner.report.figure import image_figure
from planner.techniques.beam_lookup import machine_commissioning
from planner.techniques.interface import CommissionedValue, Technique, UnknownChoice

REFUSED_TITLE = "REFUSED — NOT FOR TREATMENT"
DEMO_TITLE = "DEMO COMMISSIONING — NOT FOR CLINICAL USE"
BROKEN_TITLE = "SIGNATURE BROKEN — DO NOT TREAT"
TEST_CERTIFICATE_TITLE = "TEST CERTIFICATE — NOT A CLINICAL SIGNATURE"
NBSP_DIAMETER = "Ø\u00a0"   # "Ø 15 mm" never broken across lines
WITHHELD = "not shown: the dose engine refused this plan (see Findings)"


def report_content(plan, dose_result: DoseResult | None, planning_image, technique, *, commissioning=None,
                   beam_data=None, signatures: tuple[SignatureLine, ...] = (), status: PlanStatus | None = None,
                   printed_at: datetime | None = None, audit_head: str = "",
                   clinic: ClinicSettings | None = None) -> ReportContent:
    """Everything the report prints, checked for consistency.

    ``planning_image``: a PlanningImage (planner.imaging.planning_image) or an UltrasoundImage. ``commissioning``: the
    technique's own when not given. ``beam_data``: the BeamData the dose was computed with; when
    not given it is taken from the technique's dose engine (its cache) if it has one.
    ``status``: derived from ``signatures`` when not given, and never allowed to contradict them.
    ``clinic``: the policy a plan signed by the physician alone is reported under (None: the clinic's
    settings, read when the plan is signed and not approved).
    """
    image = _calibrated(planning_image, plan)
    if dose_result is None:
        raise ReportError("no dose has been computed for this plan; compute it first (a plan the dose engine "
                          "refuses is reported, marked REFUSED)")
    _check_belongs(plan, dose_result, technique)
    signatures = tuple(signatures)
    shown_status = checked_status(status, signatures)
    if commissioning is None:
        commissioning = machine_commissioning(technique, plan.setup.machine_id)
    machine, energy, applicator = _unit(technique, plan)
    entry = None
    if commissioning is not None and energy is not None and applicator is not None:
        entry = commissioning.entry(energy.id, applicator.id)
    beam = _beam_data(beam_data, technique, dose_result, energy, applicator)
    hvl = _hvl_text(energy)
    printed_at = printed_at or datetime.now().astimezone()

    return ReportContent(
        patient_name=fmt.person_name(plan.patient_name), patient_id=plan.patient_id, plan_label=plan.label,
        printed_at=fmt.moment(printed_at), planner_version=planner.__version__,
        status=shown_status,
        alerts=_alerts(dose_result, commissioning, signatures) + _unreviewed_alert(shown_status, clinic),
        time_title=fmt.time_title(dose_result.time_name),
        time_text=fmt.time_per_fraction(dose_result.treatment_time_min, dose_result.treatment_time_reason),
        prescription=_prescription_items(plan, dose_result),
        treatment_unit=_unit_items(plan, technique, machine, energy, applicator, dose_result, entry, hvl),
        radiobiology=biological_doses(plan.prescription),
        lesion=_lesion_items(plan),
        dose=_dose_items(dose_result),
        findings=tuple(sorted(dose_result.findings, key=lambda f: f.severity != "refuse")),   # refusals first
        image=image_figure(image, plan, dose_result, None if applicator is None else applicator.diameter_mm),
        model_description=dose_result.model_description,
        data_sources=_source_items(dose_result.data_sources),
        commissioning=_commissioning_items(commissioning, entry),
        beam_data=_beam_items(beam, dose_result, hvl),
        pdd=None if beam is None else _pdd_curve(beam, dose_result, hvl),
        pdd_missing_reason="" if beam is not None else _no_beam_reason(dose_result, technique),
        course=_course_section(plan, dose_result, printed_at),
        signatures=signatures,
        notes=plan.notes.strip(),
        audit_head=audit_head,
    )


def _calibrated(planning_image, plan):
    if planning_image is None:
        raise ReportError("no image: a plan report shows the lesion on its ultrasound image; open the plan's image")
    image = getattr(planning_image, "image", planning_image)
    if image is None:
        raise ReportError("no image: a plan report shows the lesion on its ultrasound image; open the plan's image")
    image = calibrated_image(image, plan)
    if image.calibration is None:
        raise ReportError("the image has no mm scale: calibrate it (Image ▸ Calibrate by Hand) before reporting")
    return image


def _check_belongs(plan, result: DoseResult, technique) -> None:
    """The dose must be this plan's: same technique, prescribed dose and prescription point."""
    if plan.setup.technique_id != technique.id:
        raise ReportError(f"the plan uses technique {plan.setup.technique_id!r}, not {technique.id!r}")
    stale = stale_dose_problem(plan, result)
    if stale is not None:
        raise ReportError(f"{stale} before reporting")
    if result.dose_grid_gy is not None and result.dose_grid_gy.shape != (len(result.y_mm), len(result.x_mm)):
        raise ReportError(f"dose grid {result.dose_grid_gy.shape} does not match its axes "
                          f"({len(result.y_mm)} × {len(result.x_mm)})")


def _unit(technique, plan):
    """(machine, energy, applicator); None for what the technique does not offer (the findings say so)."""
    try:
        machine = technique.machine(plan.setup.machine_id)
    except UnknownChoice:
        return None, None, None
    found = []
    for lookup, item_id in ((machine.energy, plan.setup.energy_id), (machine.applicator, plan.setup.applicator_id)):
        try:
            found.append(lookup(item_id))
        except UnknownChoice:
            found.append(None)
    return machine, *found


def _alerts(result: DoseResult, commissioning, signatures) -> tuple[Alert, ...]:
    alerts = []
    if result.refused:
        reasons = "; ".join(f.message for f in result.findings if f.severity == "refuse")
        alerts.append(Alert("refuse", REFUSED_TITLE, mark="REFUSED",
                            text=f"The dose engine refused this plan: {reasons}. No {result.time_name} and no dose "
                                 f"is given."))
    broken = [s for s in signatures if not s.valid]
    if broken:
        alerts.append(Alert("refuse", BROKEN_TITLE, mark="SIGNATURE BROKEN",
                            text="; ".join(f"{s.role} signature of {s.signer}: {s.problem}" for s in broken)))
    if (commissioning is not None and commissioning.is_demo) or any(
            f.code == "demo-commissioning" for f in result.findings):
        alerts.append(Alert("refuse", DEMO_TITLE, mark="DEMO COMMISSIONING",
                            text="The machine's commissioning (SSD, output, timer end effect) holds illustrative "
                                 "DEMO values, not measured on a treatment unit. The dose and time on this report "
                                 "must not be used to treat a patient."))
    tests = [s for s in signatures if s.test_certificate]
    if tests:
        alerts.append(Alert("warn", TEST_CERTIFICATE_TITLE, mark="TEST CERTIFICATE",
                            text="Signed with a self-signed clinic TEST certificate: "
                                 + ", ".join(f"{s.role} ({s.signer})" for s in tests)))
    return tuple(alerts)


def _unreviewed_alert(status: PlanStatus, clinic: ClinicSettings | None) -> tuple[Alert, ...]:
    """A plan signed by the physician alone, where the clinic treats before the physics review, says
    UNREVIEWED on every page (the rule is planner.dicom.signed_plan's; these are its words)."""
    if status is not PlanStatus.SIGNED:
        return ()
    try:
        clinic = clinic or load_clinic_settings()
    except ClinicSettingsError as err:
        raise ReportError(str(err)) from None
    if not clinic.treat_before_review:
        return ()
    return (Alert("warn", clinic.unreviewed_text, mark="UNREVIEWED",
                  text="Signed by the physician and not approved after the physics review; the clinic's settings "
                       f"allow treating it before that review ({clinic.source})."),)


def _prescription_items(plan, result: DoseResult) -> tuple[Item, ...]:
    rx = plan.prescription
    fractions = f"{rx.fractions} fraction{'s' if rx.fractions != 1 else ''}"
    items = [
        Item("Prescription", _prescription_text(plan, result)),
        Item("Coverage", _coverage_text(plan, result)),
        Item("Dose per fraction × fractions", f"{rx.dose_per_fraction_gy:g} Gy × {fractions} = "
                                              f"{rx.total_dose_gy:g} Gy total"),
    ]
    if result.refused:
        return tuple(items + [Item("Prescription depth", WITHHELD), Item("Dose at the prescription depth", WITHHELD)])
    return tuple(items + [
        Item("Prescription depth", fmt.quantity(result.prescription_depth_mm, "mm below the skin")),
        Item("Dose at the prescription depth", fmt.quantity(result.dose_at_prescription_depth_gy, "Gy per fraction")),
    ])


def _prescription_text(plan, result: DoseResult) -> str:
    """planner.dose.coverage's sentence (the window's, the command line's, the RT Plan's); a refused
    dose, or one without Dmax, gets only the order as written, no number the engine computed."""
    rx = plan.prescription
    if result.refused or result.dmax_gy is None or result.prescription_isodose_percent is None:
        return f"{rx.dose_per_fraction_gy:g} Gy per fraction {rx.point.describe()}"
    return prescription_sentence(result.prescribed_dose_gy, result.prescription_point, result.dmax_gy,
                                 result.prescription_isodose_percent)


def _coverage_text(plan, result: DoseResult) -> str:
    if result.refused:
        return WITHHELD
    if result.coverage is not None:
        return result.coverage.sentence()
    if plan.outline is None:
        return "not available: no lesion outline"
    return "not available: no dose at the lesion's deepest point (see Findings)"


def _hvl_text(energy) -> str:
    """The beam's HVL, measured or commissioned with the machine: the one value printed as "HVL"."""
    if energy is None:
        return "not available"
    return "not commissioned" if energy.hvl_mm_al is None else f"{energy.hvl_mm_al:.2f} mm Al"


def _unit_items(plan, technique, machine, energy, applicator, result: DoseResult, entry, hvl: str) -> tuple[Item, ...]:
    def offered(thing, label, what, item_id):
        return label(thing) if thing is not None else f"{item_id} — not offered by this {what}"

    ssd = result.ssd_cm
    if ssd is None and getattr(entry, "ssd_cm", None) is not None:
        ssd = entry.ssd_cm.value
    axis = result.cone_axis_x_mm if result.cone_axis_x_mm is not None else plan.cone_axis_x_mm
    rate = WITHHELD if result.refused else fmt.quantity(result.surface_dose_rate_gy_per_min, "Gy/min", 3)
    return (
        Item("Technique", technique.name),
        Item("Machine", offered(machine, lambda m: m.name, "technique", plan.setup.machine_id)),
        Item("Energy", offered(energy, lambda e: f"{e.kvp:g} kV", "machine", plan.setup.energy_id)),
        Item("Half-value layer (HVL)", hvl),
        Item("Applicator", offered(applicator, lambda a: f"{a.label.replace('Ø ', NBSP_DIAMETER)} ({a.id})",
                                   "machine", plan.setup.applicator_id)),
        Item("Source-to-surface distance (SSD)", "not commissioned" if ssd is None else f"{ssd:g} cm"),
        Item("Applicator axis", fmt.quantity(axis, "mm lateral (image frame)")),
        Item("Surface dose rate (central axis)", rate),
    )


def _lesion_items(plan) -> tuple[Item, ...]:
    """As the plan panel's Lesion box: depth below the skin, lateral width, area."""
    if plan.outline is None:
        return (Item("Lesion outline", "no outline drawn"),)
    width = fmt.quantity(plan.outline.lateral_width_mm, "mm")
    area = fmt.quantity(plan.outline.area_mm2, "mm²")
    if plan.skin_surface is None:
        depth = "no skin surface found on this image"
    else:
        depth = fmt.quantity(measure_lesion(plan.outline, plan.skin_surface.depth_at).max_depth_below_skin_mm, "mm")
    return (Item("Depth below skin", depth), Item("Lateral width", width), Item("Area", area))


def _dose_items(result: DoseResult) -> tuple[Item, ...]:
    if result.refused:
        return (Item("Dose per fraction", WITHHELD),)
    rows = tuple(Item(name, fmt.quantity(value, unit)) for name, value, unit in result.metric_rows())
    if result.metrics is None:
        rows += (Item("Lesion dose statistics", "not available (no dose on the lesion: see Findings)"),)
    return rows


def _source_items(sources: dict[str, str]) -> tuple[Item, ...]:
    """Per quantity, where it came from. The description the quantities share (one Monte Carlo
    run) is printed once, then what differs, so the reader sees the difference."""
    parts = [text.split("; ") for text in sources.values()]
    shared = 0
    if len(parts) > 1:
        while all(len(p) > shared + 1 for p in parts) and len({p[shared] for p in parts}) == 1:
            shared += 1
    items = [Item("All quantities", "; ".join(parts[0][:shared]))] if shared else []
    items += [Item(_source_label(key), "; ".join(p[shared:])) for key, p in zip(sources, parts)]
    return tuple(items)


def _source_label(key: str) -> str:
    return {"pdd": "PDD", "profiles": "Profiles", "backscatter_factor": "Backscatter factor B_w"}.get(
        key, key.replace("_", " ").capitalize())


def _commissioning_items(commissioning, entry) -> tuple[Item, ...]:
    if commissioning is None:
        return (Item("Commissioning", "none (this technique's dose does not use a commissioning file)"),)
    items = [Item("Commissioning", commissioning.describe())]
    if commissioning.disclaimer:
        items.append(Item("Disclaimer", commissioning.disclaimer))
    if entry is not None:
        names = getattr(getattr(commissioning, "schema", None), "names", {})
        for f in dataclasses.fields(entry):
            value = getattr(entry, f.name)
            if isinstance(value, CommissionedValue):
                name = names.get(f.name, f.name.replace("_", " "))
                items.append(Item(name[0].upper() + name[1:], f"{value.label} — {value.source}"))
    return tuple(items)


def _beam_data(beam, technique: Technique, result: DoseResult, energy, applicator):
    """The given beam data, else the engine's (the data the dose was computed with); checked to match."""
    if beam is None:
        engine = technique.dose_engine
        if (engine is None or result.dose_grid_gy is None
                or result.ssd_cm is None or energy is None or applicator is None):
            return None
        beam = engine.beam_data(energy, applicator, result.ssd_cm)
    if energy is not None and applicator is not None:
        if not (math.isclose(beam.kvp, energy.kvp) and math.isclose(beam.field_diameter_mm, applicator.diameter_mm)
                and (result.ssd_cm is None or math.isclose(beam.ssd_cm, result.ssd_cm))):
            raise ReportError(f"the beam data are for {beam.kvp:g} kV, Ø {beam.field_diameter_mm:g} mm, SSD "
                              f"{beam.ssd_cm:g} cm, not the plan's {energy.kvp:g} kV, Ø {applicator.diameter_mm:g} mm"
                              f"{'' if result.ssd_cm is None else f', SSD {result.ssd_cm:g} cm'}")
    return beam


def _no_beam_reason(result: DoseResult, technique) -> str:
    if result.dose_grid_gy is None:
        return "no beam data: the plan was refused before a dose was computed"
    return f"the beam data were not supplied to the report by the {technique.name} technique"


def _beam_items(beam, result: DoseResult, hvl: str) -> tuple[Item, ...]:
    items = []
    absolute = result.absolute
    formula = getattr(absolute, "formula", None)
    if formula:
        items.append(Item("Time formula", formula))
    if beam is None:
        return tuple(items)
    if beam.n_photons > 1:
        origin = (f"Monte Carlo, Planner kV engine {beam.engine_version}, {beam.n_photons} photons, seed {beam.seed} "
                  f"(Planner {beam.software_version})")
    else:
        origin = f"engine {beam.engine_version} (Planner {beam.software_version})"
    items += [
        Item("Beam", f"{beam.kvp:g} kV, HVL {hvl}, Ø {beam.field_diameter_mm:g} mm, SSD {beam.ssd_cm:g} cm"),
        Item("Beam data from", origin),
        Item("Spectrum", _spectrum_text(beam)),
        Item("Backscatter factor B_w", f"{beam.backscatter_factor:.4f} ± {beam.backscatter_uncertainty:.4f} (k=1)"),
    ]
    ratio = getattr(absolute, "mu_en_ratio_water_air", None)
    if ratio is not None:
        items.append(Item("[(μen/ρ)w/air]air", f"{ratio:.4f} (TG-61 Table IV)"))
    return tuple(items)


def _spectrum_text(beam) -> str:
    """The spectrum fit, its HVL named "fitted HVL" so it is never read as the beam's measured one.
    With a flattening filter (eBx) the fit is of the beam before the filter, so it differs."""
    if not math.isfinite(beam.achieved_hvl_mm_al):
        return f"no spectrum fitted ({'; '.join(beam.spectrum_provenance) or 'measured beam data'})"
    before = " before the flattening filter" if beam.filter_description else ""
    return (f"fitted HVL {beam.achieved_hvl_mm_al:.2f} mm Al{before}, with {beam.fitted_filtration_mm_al:.3f} mm Al "
            f"added filtration; mean energy {beam.mean_energy_kev:.1f} keV")


def _pdd_curve(beam, result: DoseResult, hvl: str) -> DepthDoseCurve:
    """The PDD in % of the surface dose, which is Dmax for these beams; a refused dose marks no depth.
    The prescription's mark carries its isodose as the prescription sentence gives it; the lesion's
    only its depth (its % of Dmax, at the point itself, is the coverage line's, not the axis's)."""
    marks = []
    if not result.refused and result.prescription_depth_mm is not None:
        marks.append(DepthMark("prescription", result.prescription_depth_mm, result.prescription_isodose_percent))
    m = result.metrics
    if not result.refused and m is not None and m.deepest_point_depth_mm is not None and (
            result.prescription_depth_mm is None or abs(m.deepest_point_depth_mm - result.prescription_depth_mm) > 1e-6):
        marks.append(DepthMark("lesion's deepest point", m.deepest_point_depth_mm))
    caption = (f"Central-axis depth dose in % of Dmax (the surface dose), {beam.kvp:g} kV, HVL {hvl}, "
               f"Ø {beam.field_diameter_mm:g} mm, SSD {beam.ssd_cm:g} cm; shaded: k=1 uncertainty.")
    return DepthDoseCurve(tuple(beam.pdd), tuple(beam.pdd_uncertainty), tuple(marks), caption)


def _course_section(plan, result: DoseResult, printed_at: datetime) -> CourseSection:
    """The recorded fractions in the words and columns of the window's Course tab (one source:
    planner.core.course), its flags judged on the day the report is printed."""
    course = plan.course
    if course is None:
        return CourseSection("No fraction recorded yet.")
    planned_s = None if result.refused or result.treatment_time_min is None else result.treatment_time_min * 60.0
    return CourseSection(course.summary(), course_columns(result.time_name), course.table_rows(),
                         course.flags(plan.prescription, planned_s, printed_at.date()))
