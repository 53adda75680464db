"""``planner imrt``: an IMRT plan on the TG-119 phantom or a CT series, as the IMRT window makes it.

Same core steps as the window: the technique's inverse planner computes the dose influence and
optimises the fluence; the goals are TG-119's (Ezzell et al., Med Phys 36:5359, 2009), or with
``--protocol`` a clinical protocol's (planner.core.protocols; its plan made by
plugins.imrt_photon.protocol_plan), judged on the honest DVH.
"""

from __future__ import annotations

import time
from dataclasses import replace

from planner.cli.audit_recording import add_audit_db_argument, recording
from planner.cli.shared import EXIT_OK, CommandError, InputError, add_json_argument, print_json
from planner.core.inverse_plan import (DEFAULT_DOSE_GRID_MM, DEFAULT_MODULATION_WEIGHT, DRAFT_DOSE_GRID_MM,
                                      dose_grid_label)
from planner.dose.structure_dvh import DVH_METHOD


def register(commands) -> None:
    imrt = commands.add_parser(
        "imrt", help="optimise an IMRT plan on the TG-119 phantom or a CT series and report its goals",
        description="Inverse-plans 6 MV IMRT (9 beams every 40°, 5 mm bixels, 50 Gy in 25 fractions "
                    "normalised to PTV D95) and prints the DVH points and TG-119 "
                    "goals from the structures sampled below the dose voxel, the dose interpolated.")
    source = imrt.add_mutually_exclusive_group(required=True)
    source.add_argument("--tg119", action="store_true", help="the built-in TG-119 C-shape phantom")
    source.add_argument("--ct", metavar="DIR", help="a folder with one CT series and its RT Structure Set")
    imrt.add_argument("--rtstruct", metavar="FILE", help="the RT Structure Set (default: the one in --ct's folder)")
    imrt.add_argument("--protocol", metavar="NAME|FILE",
                      help="a clinical protocol (shipped: its id, e.g. spine-sbrt-16gy-1fx; or a protocol file) "
                           "for --ct: its prescription, goals and starting objectives")
    imrt.add_argument("--map", metavar="P=C", action="append", default=[],
                      help="with --protocol: the CT's structure C is the protocol's structure P (repeatable)")
    imrt.add_argument("--prior-dose", metavar="RTDOSE",
                      help="with --protocol: an earlier course's RT Dose on this CT's frame of reference (a "
                           "re-irradiation: the protocol's limits on the cumulative EQD2)")
    prior = imrt.add_mutually_exclusive_group()
    prior.add_argument("--prior-plan", metavar="RTPLAN",
                       help="the earlier course's RT Plan (the RT Dose references it): its fractions and date")
    prior.add_argument("--prior-fractions", type=int, metavar="N",
                       help="the earlier course's fractions, when its RT Plan is not at hand (then the interval "
                            "between the courses is unknown)")
    from_pacs = imrt.add_argument_group("the earlier course from a PACS (instead of --prior-dose)")
    from_pacs.add_argument("--prior-pacs", metavar="AE@HOST:PORT",
                           help="with --protocol and --out: C-GET the CT's patient's earlier RT Dose, and the RT Plan "
                                "it references, from this PACS (e.g. ORTHANC@pacs.clinic:4242) into "
                                f"OUT/{EARLIER_COURSE_FOLDER}/, then read them as --prior-dose and --prior-plan")
    from_pacs.add_argument("--prior-dose-uid", metavar="UID",
                           help="with --prior-pacs: the RT Dose's SOP Instance UID, when the patient has several")
    from_pacs.add_argument("--calling-ae", default="PLANNER", metavar="AE",
                           help="with --prior-pacs: Planner's own AE title (default PLANNER)")
    from_pacs.add_argument("--timeout-s", type=float, default=30.0,
                           help="with --prior-pacs: longest wait for any answer (default 30 s)")
    imrt.add_argument("--grid-mm", type=float, default=DEFAULT_DOSE_GRID_MM,
                      help=f"dose-grid voxel size in mm (default %(default)s; {DRAFT_DOSE_GRID_MM:g} mm is a draft; "
                           f"the CT is resampled to it)")
    imrt.add_argument("--iterations", type=int, default=300, help="at most this many optimiser iterations")
    imrt.add_argument("--modulation-weight", type=float, metavar="W",
                      help="fluence smoothness weight, on the objectives' scale (0 = off; default: the plan's, "
                           f"{DEFAULT_MODULATION_WEIGHT:g}): higher gives fewer MU and segments")
    imrt.add_argument("--out", metavar="DIR",
                      help="write the deliverable plan (leaf-sequenced, MU) as CT, RTSTRUCT, RTPLAN and RTDOSE "
                           "with its PDF report (report.pdf) here "
                           "(the folder ends with the whole set or none of it)")
    imrt.add_argument("--patient-name", default="PHANTOM^TG119", help="for --tg119 (DICOM form Family^Given)")
    imrt.add_argument("--patient-id", default="TG119", help="for --tg119")
    add_audit_db_argument(imrt, "the export (with --out)")
    add_json_argument(imrt)
    imrt.set_defaults(run=run_imrt)


def _inverse_planner():
    from planner.techniques import discover_techniques

    found = discover_techniques().inverse_planned_techniques
    if not found:
        raise CommandError("no inverse-planned (IMRT) technique is installed")
    return found[0].inverse_planner


def load_volume(args):
    """The planning volume the arguments name, on the dose grid."""
    if not 1.0 <= args.grid_mm <= 20.0:
        raise InputError(f"--grid-mm must be 1–20 mm, got {args.grid_mm:g}")
    if args.tg119:
        return _inverse_planner().tg119_phantom(args.grid_mm)
    from planner.imaging.ct_series import CtSeriesError, load_ct_volume, resample_volume

    try:
        volume = load_ct_volume(args.ct, args.rtstruct)
    except CtSeriesError as err:
        raise InputError(str(err)) from None
    return resample_volume(volume, args.grid_mm)


def volume_source(args):
    """Where the planning volume came from, as the plan file and the exported RT Plan record it."""
    from planner.core.inverse_plan_file import VolumeSource

    if args.tg119:
        return VolumeSource.tg119(args.grid_mm)
    return VolumeSource.ct(args.ct, args.grid_mm, args.rtstruct)


# The issue-18 case: on a CT without a protocol only the PTV has objectives, and a cord 2.5 mm from
# it got 51.8 Gy in a 50 Gy plan with nothing said.
NO_LIMITS_WARNING = ("no --protocol: the organs at risk have no dose limits (objectives for the target only); "
                     "their doses are shown, not judged")


def run_imrt(args) -> int:
    from planner.core.inverse_plan import InversePlanError

    planner = _inverse_planner()
    prior = _prior_course(args)
    volume = load_volume(args)
    chosen = _protocol_plan(args, volume, prior)
    volume = volume if chosen is None else chosen.volume
    plan = replace(planner.default_plan(volume) if chosen is None else chosen.plan, max_iterations=args.iterations)
    if args.modulation_weight is not None:
        plan = replace(plan, modulation_weight=args.modulation_weight)
    problems = plan.problems(tuple(volume.masks))
    if problems:
        raise InputError("; ".join(problems))
    t0 = time.perf_counter()
    try:
        influence = planner.compute_dose_influence(volume, plan)
        t_influence = time.perf_counter() - t0
        normalisation = None if chosen is None else chosen.normalisation
        result = planner.optimise_plan(volume, influence, plan,
                                       background=None if chosen is None else chosen.reirradiation,
                                       normalisation=normalisation)
        # leaf sequencing is quick beside the optimisation: MU and segments are always reported
        deliverable = planner.deliverable_plan(volume, influence, result, label="IMRT", normalisation=normalisation)
    except InversePlanError as err:
        raise InputError(str(err)) from None
    rx = plan.prescription
    goals = () if chosen is not None else planner.tg119_goals(result.metrics, target=rx.target)
    clinical = delivered = reirradiation = delivered_reirradiation = None
    # a CT whose structures are TG-119's gets TG-119's objectives, its core limited among them
    unlimited = chosen is None and args.ct and all(o.structure == rx.target for o in plan.objectives)
    warnings = [NO_LIMITS_WARNING] if unlimited else []
    if chosen is not None:
        clinical, headroom, reirradiation = _clinical_goals(planner, chosen, influence, result.dose_rows_gy)
        delivered, delivered_headroom, delivered_reirradiation = _clinical_goals(planner, chosen, influence,
                                                                                 deliverable.dose_rows_gy)
        warnings += list(clinical.warnings)
    hot_spot = _hot_spot(planner, volume, influence, result.dose_rows_gy, rx)
    export = (_export(planner, args, volume, influence, result, deliverable, chosen, delivered, delivered_reirradiation)
              if args.out else None)
    normalisation = result.normalisation_text
    if args.json:
        print_json({
            "volume": volume.description, "dose_grid_mm": float(args.grid_mm),
            "dose_grid": dose_grid_label(args.grid_mm),
            "prescription": rx.describe(), "normalisation": normalisation,
            **({} if chosen is None else {"protocol": {"name": chosen.protocol.id, "version": chosen.protocol.version,
                                                       "title": chosen.protocol.title},
                                          "structures_matched": dict(chosen.mapping)}),
            "objectives": [o.describe() for o in plan.objectives],
            "warnings": warnings,
            "model": planner.MODEL_DESCRIPTION, "bixels": len(influence.bixels),
            "dose_influence_s": t_influence, "optimisation_s": result.seconds, "iterations": result.iterations,
            "dvh": {"method": DVH_METHOD, "structures": planner.dvh_description(volume)},
            "dvh_points": {name: m.as_dict() for name, m in result.metrics.items()},
            "goals": [{"goal": g.label, "value_gy": g.value_gy, "met": g.met} for g in goals],
            **({} if clinical is None else {**goals_json(clinical, headroom),
                                            **goals_json(delivered, delivered_headroom, "delivered_")}),
            **({} if reirradiation is None else {"reirradiation": reirradiation.as_dict(),
                                                 "delivered_reirradiation": delivered_reirradiation.as_dict()}),
            **_findings_json(hot_spot),
            **delivery_json(deliverable, plan),
            "deliverable": None if export is None else {
                "segments_per_beam": list(deliverable.mlc_plan.segment_counts),
                "mu_per_fraction": deliverable.mlc_plan.total_mu_per_fraction,
                "dvh_points": {name: m.as_dict() for name, m in deliverable.metrics.items()},
                "goals": [{"goal": g.label, "value_gy": g.value_gy, "met": g.met}
                          for g in (() if chosen is not None else planner.tg119_goals(deliverable.metrics,
                                                                                       target=rx.target))],
                **_findings_json(_hot_spot(planner, volume, influence, deliverable.dose_rows_gy, rx)),
                "rt_plan": str(export.rt_plan), "report": str(export.report)},
        })
        return EXIT_OK
    print(f"volume        {volume.description}")
    print(f"dose grid     {dose_grid_label(args.grid_mm)}")
    if chosen is not None:
        p = chosen.protocol
        print(f"protocol      {p.id} version {p.version}: {p.title}")
        print(f"structures    {', '.join(f'{k} = {v}' for k, v in chosen.mapping.items())}")
    print(f"prescription  {rx.describe()}, {normalisation}")
    print(f"model         {planner.MODEL_DESCRIPTION}")
    print(f"beams         {len(plan.gantry_angles_deg)}, {len(influence.bixels)} bixels of "
          f"{plan.bixel_width_mm:g} mm; dose influence {t_influence:.1f} s, optimisation "
          f"{result.seconds:.1f} s ({result.iterations} iterations)")
    print(f"DVH           {DVH_METHOD}")
    for name, m in result.metrics.items():
        print(f"{name:14s}{dvh_line(m)}")
    for g in goals:
        print(f"goal  {g.label:32s} {g.value_gy:6.2f} Gy  {'met' if g.met else 'NOT met'}")
    if clinical is not None:
        for line in goal_lines(clinical, chosen.protocol, headroom):
            print(line)
    if reirradiation is not None:
        for line in reirradiation_lines(reirradiation):
            print(line)
    for warning in warnings:
        print(f"warning       ⚠ {warning}")
    print_findings(hot_spot)
    print(f"delivery      {delivery_line(deliverable, plan)}")
    if export is not None:
        m = deliverable.mlc_plan
        print(f"deliverable   {sum(m.segment_counts)} segments ({', '.join(map(str, m.segment_counts))} per beam, "
              f"{deliverable.levels} levels), {m.total_mu_per_fraction:.0f} MU per fraction (DEMO calibration)")
        for name, dm in deliverable.metrics.items():
            print(f"  {name:12s}{dvh_line(dm)}")
        if delivered is not None:
            for line in goal_lines(delivered, chosen.protocol, delivered_headroom):
                print(f"  {line}")
        if delivered_reirradiation is not None:
            for line in reirradiation_lines(delivered_reirradiation):
                print(f"  {line}")
        written = [export.rt_plan.name, export.rt_dose.name]
        if export.structure_set is not None:
            written = [f"{len(export.ct_files)} CT slices", export.structure_set.name] + written
        else:
            written.append("(referencing the CT's own structure set)")
        written.append(export.report.name)
        print(f"wrote         {', '.join(written)} into {export.folder}")
    return EXIT_OK


# --prior-pacs writes the earlier course here, inside --out, beside the plan that is made on it
EARLIER_COURSE_FOLDER = "earlier-course"


def _prior_course(args):
    """The earlier course (--prior-dose or --prior-pacs, with --prior-plan or --prior-fractions), or None."""
    fetched = None if args.prior_pacs is None else _fetch_prior_files(args)
    if args.prior_dose_uid is not None and fetched is None:
        raise InputError("--prior-dose-uid needs --prior-pacs (it names the RT Dose to fetch)")
    if args.prior_dose is None:
        if args.prior_plan is not None or args.prior_fractions is not None:
            raise InputError("--prior-plan and --prior-fractions need --prior-dose (the earlier course's RT Dose)")
        return None
    if args.protocol is None:
        raise InputError("--prior-dose needs --protocol: the re-irradiation limits are the protocol's")
    import shutil

    from planner.core.reirradiation import ReirradiationError
    from planner.dicom.prior_dose_read import read_prior_course

    try:
        return read_prior_course(args.prior_dose, args.prior_plan, args.prior_fractions)
    except ReirradiationError as err:
        if fetched is not None:   # what this run fetched: a run that mends the cause fetches it anew
            shutil.rmtree(fetched, ignore_errors=True)
        raise InputError(str(err)) from None


def _fetch_prior_files(args):
    """--prior-pacs: the CT patient's earlier course C-GET into OUT/earlier-course/ (planner.dicom.prior_dose_fetch);
    args.prior_dose and args.prior_plan then name those files, so they are read exactly as given files and the
    exported plan records them with their SHA-256 (_context_record). Returns the folder."""
    import shutil
    from pathlib import Path
    from types import SimpleNamespace

    from planner.cli.shared import pacs_node
    from planner.dicom.network import PacsError
    from planner.dicom.prior_dose_fetch import PriorDoseFetchError, fetch_prior_course
    from planner.imaging.ct_series import CtSeriesError, load_ct_volume

    for wrong, why in ((args.prior_dose is not None, "--prior-dose and --prior-pacs are two sources of the earlier "
                                                     "course: give one"),
                       (args.prior_plan is not None, "--prior-plan names a file: with --prior-pacs the RT Plan comes "
                                                     "from the PACS (give --prior-fractions when it has none)"),
                       (args.protocol is None, "--prior-pacs needs --protocol: the re-irradiation limits are the "
                                               "protocol's"),
                       (not args.ct, "--prior-pacs needs --ct: the earlier course is the CT's patient's"),
                       (args.out is None, f"--prior-pacs needs --out: the earlier course is fetched into "
                                          f"OUT/{EARLIER_COURSE_FOLDER}/ and recorded with the plan")):
        if wrong:
            raise InputError(why)
    try:   # the --pacs parser of every PACS command, its message naming this option
        node = pacs_node(SimpleNamespace(pacs=args.prior_pacs, calling_ae=args.calling_ae, timeout_s=args.timeout_s))
    except InputError as err:
        raise InputError(str(err).replace("--pacs", "--prior-pacs", 1)) from None
    try:
        patient_id = load_ct_volume(args.ct, args.rtstruct).patient_id
    except CtSeriesError as err:
        raise InputError(str(err)) from None
    folder = Path(args.out) / EARLIER_COURSE_FOLDER
    try:
        fetched = fetch_prior_course(node, patient_id, folder, rt_dose_uid=args.prior_dose_uid)
    except PriorDoseFetchError as err:
        raise InputError(str(err)) from None
    except PacsError as err:
        raise CommandError(f"the earlier course was not fetched: {err}") from None
    if fetched.rt_plan is None and args.prior_fractions is None:
        shutil.rmtree(folder, ignore_errors=True)
        raise InputError(f"{fetched.plan_note}: give the earlier course's fractions with --prior-fractions")
    args.prior_dose = str(fetched.rt_dose)
    args.prior_plan = None if fetched.rt_plan is None else str(fetched.rt_plan)
    return folder


def _protocol_plan(args, volume, prior=None):
    """The protocol's plan on the CT (plugins.imrt_photon.protocol_plan), or None without --protocol;
    with the earlier course placed on it when ``prior`` is given."""
    if args.protocol is None:
        if args.map:
            raise InputError("--map needs --protocol (it maps the protocol's structures to the CT's)")
        return None
    if not args.ct:
        raise InputError("--protocol needs --ct: the TG-119 phantom is planned with its own protocol, tg119-c-shape")
    from planner.core.protocols.matching import parse_mapping
    from planner.core.protocols.protocol import ProtocolError, load_protocol
    from planner.core.reirradiation import ReirradiationError
    from plugins.imrt_photon.protocol_plan import protocol_plan

    try:
        return protocol_plan(volume, load_protocol(args.protocol), roi_types(args, volume), parse_mapping(args.map),
                             prior=prior)
    except (ProtocolError, ReirradiationError) as err:
        raise InputError(str(err)) from None


def roi_types(args, volume) -> dict[str, str]:
    """The RT ROI Interpreted Type of each structure of the structure set the volume was read with
    (--rtstruct, else the one in --ct's folder whose SOP Instance UID the volume records)."""
    from planner.imaging.ct_series import CtSeriesError
    from planner.imaging.structure_types import roi_interpreted_types

    try:
        return roi_interpreted_types(volume, args.ct, args.rtstruct)
    except CtSeriesError as err:
        raise InputError(str(err)) from None


def _clinical_goals(planner, chosen, influence, dose_rows_gy):
    """The protocol's goals on a dose's honest DVH (planner.core.protocols.goals.evaluate_goals), the
    coverage its priority-1 limits would allow (protocol_plan.limits_headroom) or None, and the
    re-irradiation limits on the cumulative EQD2 (protocol_plan.Reirradiation.judge) or None."""
    from planner.core.protocols.protocol import ProtocolError
    from planner.core.reirradiation import ReirradiationError
    from plugins.imrt_photon.protocol_goals import protocol_goals

    dvhs = planner.structure_dvhs(chosen.volume, influence, dose_rows_gy)
    placed = chosen.reirradiation
    try:   # the window judges through the same function (protocol_goals)
        return (*protocol_goals(chosen, dvhs), None if placed is None else placed.judge(dvhs))
    except (ProtocolError, ReirradiationError) as err:
        raise InputError(str(err)) from None


def reirradiation_lines(report) -> list[str]:
    """The earlier course, then each re-irradiation limit met / NOT MET with its value."""
    from planner.core.protocols.goals import SHOWN_DECIMALS

    interval = ("interval unknown" if report.months is None else f"{report.months:.1f} months before the CT")
    lines = [f"earlier       {report.prior.summary()}; {interval}",
             f"reirr.        {report.structure}: EQD2 at α/β {report.alpha_beta_gy:g} Gy point by point, both courses "
             f"summed ({report.note})"]
    for r in report.rows:
        value = "unknown" if r.value != r.value else f"{r.value:8.{SHOWN_DECIMALS[r.unit]}f} {r.unit}"
        lines.append(f"reirr P1 {r.structure:14s} {r.text:55s} {value:>14s}  {'met' if r.met else 'NOT MET'}"
                     + (f" ({r.note})" if r.note else ""))
    return lines


def goals_json(report, headroom, prefix: str = "") -> dict:
    """The goals (``clinical_goals``), the organs no goal names with D0.03cc and Dmean, and the
    coverage the priority-1 limits would allow (``limits_headroom``, null when it cannot be said)."""
    watched: dict[str, dict] = {}
    for r in report.rows:
        if r.limit is None:
            watched.setdefault(r.structure, {"structure": r.structure})[
                "d0_03cc_gy" if r.goal == "D0.03cc" else "mean_gy"] = r.value
    return {f"{prefix}clinical_goals": [r.as_dict() for r in report.rows if r.limit is not None],
            f"{prefix}organs_without_goals": list(watched.values()),
            f"{prefix}limits_headroom": None if headroom is None else {
                "scale": headroom.scale, "limiting_goal": headroom.limiting_goal,
                "coverage_goal": headroom.coverage_goal, "coverage": headroom.coverage, "unit": headroom.unit,
                "meaning": "the dose times scale reaches the limiting priority-1 goal; the coverage goal's value "
                           "there (a rescaled plan, not this one)"}}


def goal_lines(report, protocol, headroom=None) -> list[str]:
    """The goals table (met / NOT MET, priority), the organs no goal names, and the coverage the
    priority-1 limits would allow."""
    from planner.core.protocols.goals import SHOWN_DECIMALS

    judged = [r for r in report.rows if r.limit is not None]   # one per goal, in the protocol's order
    lines = [f"goal  P{r.priority} {r.structure:16s} {goal.text:22s} {r.value:8.{SHOWN_DECIMALS[r.unit]}f} {r.unit:2s}  "
             f"{'met' if r.met else 'NOT MET'}" for goal, r in zip(protocol.goals, judged)]
    lines += [f"organ {r.structure:19s} {r.goal:22s} {r.value:8.2f} Gy  (no goal in the protocol)"
              for r in report.rows if r.limit is None]
    if headroom is not None:
        lines.append(f"headroom      the dose × {headroom.scale:.3f} reaches {headroom.limiting_goal}; there "
                     f"{headroom.coverage_goal} would read {headroom.coverage:.{SHOWN_DECIMALS[headroom.unit]}f} "
                     f"{headroom.unit} (a rescaled plan, not this one)")
    return lines


def delivery_json(deliverable, plan) -> dict:
    """MU per fraction and segments of the leaf-sequenced plan, against open fields on the same beams."""
    m = deliverable.mlc_plan
    return {"mu_per_fraction": m.total_mu_per_fraction, "segments": sum(m.segment_counts),
            # the DVH points after leaf sequencing: what those MU deliver
            "delivered_dvh_points": {name: p.as_dict() for name, p in deliverable.metrics.items()},
            "modulation": {
                "modulation_weight": plan.modulation_weight,
                "open_field_mu_per_fraction": deliverable.open_field_mu_per_fraction,
                "modulation_factor": deliverable.modulation_factor,
                "open_field": "every bixel of every beam at one weight, scaled to the same target D95; "
                              "modulation_factor = mu_per_fraction / open_field_mu_per_fraction",
                "min_segment_mu": deliverable.min_segment_mu,
                "min_segment_area_cm2": deliverable.min_segment_area_cm2,
                "dropped_segments": deliverable.dropped_segments}}


def delivery_line(deliverable, plan) -> str:
    m = deliverable.mlc_plan
    return (f"{sum(m.segment_counts)} segments, {m.total_mu_per_fraction:.0f} MU per fraction (DEMO calibration) = "
            f"{deliverable.modulation_factor:.1f} × the {deliverable.open_field_mu_per_fraction:.0f} MU of open fields "
            f"on the same beams; smoothness weight {plan.modulation_weight:g}; "
            f"{deliverable.dropped_segments} segments under {deliverable.min_segment_mu:g} MU or "
            f"{deliverable.min_segment_area_cm2:g} cm² not delivered")


def _hot_spot(planner, volume, influence, dose_rows_gy, rx):
    """The hot-spot check (planner.dose.hot_spot) of a dose given per dose-influence row."""
    from planner.dose.hot_spot import plan_hot_spot_check

    return plan_hot_spot_check(volume, planner.sampled(volume), planner.dose_grid_gy(volume, influence, dose_rows_gy),
                               rx.target, rx.total_dose_gy)


def _findings_json(check) -> dict:
    findings = () if check is None else check.findings
    return {"findings": [{"code": f.code, "severity": f.severity, "message": f.message} for f in findings],
            "hot_spot_check": None if check is None else check.text}


def print_findings(check) -> None:
    for f in () if check is None else check.findings:
        print(f"finding       ⚠ {f.message}")
    if check is not None and not check.findings:
        print(f"findings      none: {check.text}")


def dvh_line(m) -> str:
    """One structure's DVH points on one line (Gy; its volume in cc; V at the prescribed dose in %)."""
    v = "".join(f"  V{x.dose_gy:g}Gy {x.volume_percent:5.1f} %" for x in m.volumes_at_dose)
    return (f"{m.volume_cc:7.1f} cc  D98 {m.d98_gy:6.2f}  D95 {m.d95_gy:6.2f}  D10 {m.d10_gy:6.2f}  "
            f"D2 {m.d2_gy:6.2f}  D0.03cc {m.d0_03cc_gy:6.2f}  mean {m.mean_gy:6.2f} Gy{v}")


def _context_record(args, chosen):
    """What the RT Plan keeps of ``chosen`` (the protocol's plan; None: no protocol) for Open Signed
    Plan… to make again, as the window's plan file keeps it: the protocol file and the CT names of
    its own structures (the derived ones are derived again), the earlier course's files. Read here,
    after the planning: a protocol file that says something else by now is refused, not recorded
    with a SHA-256 the plan was not made on."""
    from planner.core.plan_context_file import EarlierCourseRecord, PlanContextRecord, ProtocolRecord
    from planner.core.protocols.protocol import ProtocolError, load_protocol

    if chosen is None:
        return None
    try:
        protocol = ProtocolRecord.read_from(args.protocol)
        same = load_protocol(args.protocol) == chosen.protocol
        course = (None if args.prior_dose is None
                  else EarlierCourseRecord.read_from(args.prior_dose, args.prior_plan, args.prior_fractions))
    except OSError as err:
        raise InputError(f"cannot read {err.filename} again to record it in the RT Plan: "
                         f"{err.strerror or err}") from None
    except ProtocolError:
        same = False
    if not same:
        raise InputError(f"the protocol {protocol.path} changed while the plan was made; nothing was exported: "
                         f"run planner imrt again")
    own = tuple((s.name, chosen.mapping[s.name]) for s in chosen.protocol.structures)
    return PlanContextRecord(replace(protocol, mapping=own), course)


def _export(planner, args, volume, influence, result, deliverable, chosen=None, delivered=None,
            reirradiation=None):
    """Write the deliverable plan; with a protocol its report lists the goals of the delivered dose,
    and its RT Plan the protocol and earlier course it was planned with."""
    from planner.dicom.imrt_export import ImrtExportError, export_imrt_plan
    from planner.dicom.inverse_payload import InverseSource
    from planner.report.imrt_report import ProtocolGoals, ReirradiationSummary, imrt_report_for

    dose = planner.dose_grid_gy(volume, influence, deliverable.dose_rows_gy)
    # a CT's own patient, never the arguments (they name the phantom's)
    name = volume.patient_name or args.patient_name
    patient_id = volume.patient_id or args.patient_id
    protocol_goals = None if chosen is None else ProtocolGoals.of(chosen.protocol, delivered)
    report, dvh_curves = imrt_report_for(planner, volume, influence, result, deliverable,
                                         patient_name=name, patient_id=patient_id, protocol_goals=protocol_goals,
                                         reirradiation=None if reirradiation is None
                                         else ReirradiationSummary.of(reirradiation))
    source = InverseSource(result.plan, volume_source(args), planner.MODEL_DESCRIPTION,
                           "; ".join(deliverable.mlc_plan.notes), _context_record(args, chosen))
    try:
        with recording(args.audit_db, "export", {"folder": str(args.out), "technique": "imrt-photon"},
                       what=f"the plan in {args.out}") as anchor:
            return export_imrt_plan(args.out, volume, deliverable.mlc_plan, dose, name, patient_id,
                                                 report=report, dvh_curves=dvh_curves, source=source,
                                                 audit_anchor=anchor)
    except ImrtExportError as err:
        raise InputError(str(err)) from None
