"""The built-in commands: ``gui``, ``info``, ``techniques``, ``beam-data`` and ``bed``. One function
per subcommand; each calls the core and prints, nothing more."""

from __future__ import annotations

from dataclasses import asdict

from planner.cli.shared import EXIT_OK, CommandError, add_json_argument, print_json


def register(commands) -> None:
    gui = commands.add_parser("gui", help="open the planning window")
    gui.add_argument("file", nargs="?", help="an ultrasound image or a plan file (.json) to open")
    gui.add_argument("--demo", action="store_true", help="open the bundled demo case")
    gui.add_argument("--screenshot", metavar="OUT.png",
                     help="render the window to a PNG and exit (works with QT_QPA_PLATFORM=offscreen)")
    gui.add_argument("--imrt-demo", action="store_true",
                     help="open the IMRT window on the TG-119 phantom (5 mm voxels) and optimise it")
    gui.set_defaults(run=run_gui)

    info = commands.add_parser("info", help="describe an ultrasound image: size, frames, mm calibration, problems")
    info.add_argument("image")
    add_json_argument(info)
    info.set_defaults(run=run_info)

    techniques = commands.add_parser("techniques", help="list the installed treatment techniques and their machines")
    add_json_argument(techniques)
    techniques.set_defaults(run=run_techniques)

    beam = commands.add_parser(
        "beam-data", help="compute kV beam data (PDD, profiles, backscatter factor) with the Monte Carlo engine")
    beam.add_argument("--kvp", "--kv", dest="kvp", type=float, required=True, help="tube potential (kV)")
    beam.add_argument("--hvl-mm-al", type=float, required=True, help="measured first half-value layer (mm Al)")
    beam.add_argument("--cone-mm", type=float, required=True, help="cone (field) diameter at the surface (mm)")
    beam.add_argument("--ssd-cm", type=float, required=True, help="source-to-surface distance (cm)")
    beam.add_argument("--photons", type=int, default=None, help="Monte Carlo histories (default: the interactive count)")
    add_json_argument(beam)
    beam.set_defaults(run=run_beam_data)

    bed = commands.add_parser("bed", help="BED and EQD2 of a prescription (linear-quadratic, no time factor)")
    bed.add_argument("--dose-per-fraction-gy", type=float, required=True)
    bed.add_argument("--fractions", type=int, required=True)
    add_json_argument(bed)
    bed.set_defaults(run=run_bed)


def run_gui(args) -> int:
    """The window is the program's to open (planner/__main__.py hands it in): the command line sits
    beside the Qt layer, not above it."""
    if args.open_window is None:
        raise CommandError("the window opens from `planner gui` or `python main.py`, not from this caller")
    return args.open_window(demo=args.demo, screenshot=args.screenshot, file=args.file, imrt_demo=args.imrt_demo)


def run_info(args) -> int:
    from planner.imaging import ImageLoadError, detect_skin_on_image, load_ultrasound

    try:
        image = load_ultrasound(args.image)
    except ImageLoadError as err:
        raise CommandError(str(err)) from None
    cal = image.calibration
    skin = detect_skin_on_image(image)  # what the window would propose on frame 0
    report = {
        "path": args.image,
        "modality": image.modality,
        "sop_class": image.sop_class_name,
        "frames": image.n_frames,
        "rows": image.rows,
        "columns": image.cols,
        "colour": image.is_colour,
        "calibration": None if cal is None else {
            "mm_per_pixel_x": cal.mm_per_pixel_x,
            "mm_per_pixel_y": cal.mm_per_pixel_y,
            "source": cal.source,
        },
        "problems": list(image.problems),
        "skin_line": {
            "points_px": [[round(col, 3), round(row, 3)] for col, row in skin.points_px],
            "confident": skin.confident,
            "problems": list(skin.problems),
        },
    }
    if args.json:
        print_json(report)
        return EXIT_OK
    print(f"{args.image}")
    print(f"  modality      {image.modality}  ({image.sop_class_name})")
    print(f"  size          {image.cols} × {image.rows} pixels, {image.n_frames} frame(s), "
          f"{'colour' if image.is_colour else 'greyscale'}")
    if cal is None:
        print("  calibration   none")
    else:
        print(f"  calibration   {cal.mm_per_pixel_x:.4f} mm/pixel lateral, {cal.mm_per_pixel_y:.4f} mm/pixel depth")
        print(f"                from {cal.source}")
    for problem in image.problems:
        print(f"  problem       {problem}")
    print(f"  skin line     {_skin_line_summary(skin)}")
    return EXIT_OK


def _skin_line_summary(skin) -> str:
    """One line: found or not, confident or not, and the first problem."""
    if not skin.points_px:
        return f"not found: {skin.problems[0]}"
    if skin.confident:
        return f"found, confident ({len(skin.points_px)} columns)"
    return f"found, not confident (confirm or redraw it): {skin.problems[0]}"


def run_techniques(args) -> int:
    from planner.techniques import discover_techniques

    registry = discover_techniques()
    if args.json:
        print_json({
            "techniques": [{"id": t.id, "name": t.name,
                            "machines": [asdict(m) for m in t.machines],
                            "fractionation_presets": [asdict(p) for p in t.fractionation_presets]}
                           for t in registry.techniques],
            "problems": list(registry.problems),
        })
        return EXIT_OK
    for technique in registry.techniques:
        print(f"{technique.id}: {technique.name}")
        for machine in technique.machines:
            print(f"  machine {machine.id}: {machine.name}")
            for energy in machine.energies:
                print(f"    energy {energy.label}  [{energy.source}]")
            if machine.applicators:
                print(f"    applicators {', '.join(a.label for a in machine.applicators)}  [{machine.applicators[0].source}]")
            for parameter in machine.parameters:
                print(f"    {parameter.name}: {parameter.label}")
    for problem in registry.problems:
        print(f"problem: {problem}")
    return EXIT_OK


def run_bed(args) -> int:
    from planner.core.prescription import Prescription, PrescriptionError
    from planner.core.radiobiology import biological_doses

    try:
        prescription = Prescription(args.dose_per_fraction_gy, args.fractions)
    except PrescriptionError as err:
        raise CommandError(str(err)) from None
    doses = biological_doses(prescription)
    if args.json:
        print_json({"total_dose_gy": prescription.total_dose_gy, "fractions": prescription.fractions,
                    "dose_per_fraction_gy": prescription.dose_per_fraction_gy,
                    "biological_doses": [asdict(d) for d in doses],
                    "model": "linear-quadratic, no time factor"})
        return EXIT_OK
    print(prescription.describe())
    for d in doses:
        print(f"  α/β {d.alpha_beta_gy:g} Gy: BED {d.bed_gy:.2f} Gy, EQD2 {d.eqd2_gy:.2f} Gy")
    return EXIT_OK


def run_beam_data(args) -> int:
    import sys

    from planner.dose.monte_carlo import CalculationCancelled
    from plugins.superficial_kv.dose_engine import INTERACTIVE_PHOTONS, beam_data_report

    photons = INTERACTIVE_PHOTONS if args.photons is None else args.photons
    if photons < 10_000:
        raise CommandError(f"--photons must be at least 10000 for a meaningful uncertainty, got {photons}")

    def progress(fraction: float, message: str) -> None:
        print(f"\r{fraction:4.0%} {message[:70]:70s}", end="", file=sys.stderr, flush=True)

    try:
        report = beam_data_report(args.kvp, args.hvl_mm_al, args.cone_mm, args.ssd_cm, n_photons=photons,
                                  progress=progress)
    except (ValueError, CalculationCancelled) as err:
        raise CommandError(str(err)) from None
    finally:
        print("", file=sys.stderr)
    if args.json:
        print_json(report)
        return EXIT_OK
    print(f"{report['kvp']:g} kV, HVL {report['hvl_mm_al']:g} mm Al, cone Ø {report['cone_mm']:g} mm, "
          f"SSD {report['ssd_cm']:g} cm ({report['n_photons']} photons, seed {report['seed']})")
    tg61 = report["tg61_backscatter_factor"]
    print(f"  backscatter factor B_w  {report['backscatter_factor']:.4f} ± {report['backscatter_uncertainty']:.4f} (k=1)"
          + ("" if tg61 is None else f"   TG-61 Table V: {tg61:.4f}"))
    pdd = dict((round(z, 3), p) for z, p in report["pdd"])
    for depth in (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0):
        if depth in pdd:
            print(f"  PDD at {depth:4.1f} mm      {pdd[depth]:6.1f} %")
    for quantity, source in report["provenance"].items():
        print(f"  {quantity}: {source}")
    return EXIT_OK
