"""An inverse plan says in words what stops it from being optimised."""

from dataclasses import replace

from planner.core.inverse_plan import InversePlan, InversePrescription, Objective

STRUCTURES = ("PTV", "Core", "Body")


def plan(*objectives):
    return InversePlan(objectives=tuple(objectives) or (Objective("PTV", "min_dose", 50.0, 100.0),))


def test_the_tg119_prescription_and_beams_by_default():
    p = plan()
    assert p.prescription.total_dose_gy == 50.0
    assert p.prescription.describe() == "50 Gy in 25 × 2 Gy to PTV D95"
    assert p.gantry_angles_deg == (0.0, 40.0, 80.0, 120.0, 160.0, 200.0, 240.0, 280.0, 320.0)
    assert p.problems(STRUCTURES) == []


def test_each_bad_objective_is_named():
    problems = plan(Objective("Cord", "max_dose", 45.0),
                    Objective("PTV", "min_dose", -1.0),
                    Objective("Core", "max_dose", 10.0, weight=0.0),
                    Objective("PTV", "min_dvh", 50.0, volume_fraction=1.5),
                    Objective("PTV", "maximum", 50.0)).problems(STRUCTURES)
    text = "\n".join(problems)
    assert "'Cord': no such structure (the volume has PTV, Core, Body)" in text
    assert "dose must be a number ≥ 0 Gy, got -1.0" in text
    assert "weight must be a number > 0, got 0.0" in text
    assert "volume between 0 and 100 %, got 150" in text
    assert "unknown kind 'maximum'" in text


def test_prescription_target_beams_and_iterations_are_checked():
    p = replace(plan(), prescription=InversePrescription(target="GTV", dose_per_fraction_gy=0.0),
                gantry_angles_deg=(), bixel_width_mm=0.5, max_iterations=0)
    text = "\n".join(p.problems(STRUCTURES))
    for words in ("dose per fraction must be above 0", "target 'GTV' is not a structure",
                  "no beams", "bixel width must be 2–20 mm", "iterations must be a whole number"):
        assert words in text


def test_objectives_read_as_planners_write_them():
    assert Objective("PTV", "min_dvh", 50.0, volume_fraction=0.95).describe() == "PTV D95 ≥ 50 Gy"
    assert Objective("Core", "max_dvh", 10.0, volume_fraction=0.1).describe() == "Core D10 ≤ 10 Gy"
    assert Objective("Core", "max_dose", 10.0).describe() == "Core dose ≤ 10 Gy"
    assert Objective("Body", "mean_dose", 5.0).describe() == "Body mean = 5 Gy"
