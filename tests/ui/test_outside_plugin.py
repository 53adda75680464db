"""A technique from a package outside this repository, registered the way any package would:
an entry point in the ``planner.techniques`` group of an installed distribution."""

import textwrap

from planner.core.recovery import RecoverySession
from planner.paths import data_dir, settings_file
from planner.techniques import discover_techniques
from planner.ui.main_window import MainWindow
from planner.ui.settings import AppSettings
from tests.ui.gui_driver import choose_in_combo

FAKE_TECHNIQUE = textwrap.dedent('''
    from dataclasses import dataclass

    from planner.techniques import Applicator, Energy, FractionationPreset, Machine, NOT_COMMISSIONED
    from planner.techniques.interface import by_id

    UNIT = Machine("grenz-1", "Grenz-ray unit (test)", (Energy("12kV", 12.0, None, NOT_COMMISSIONED),),
                   (Applicator("cone-40mm", 40.0, NOT_COMMISSIONED),))

    @dataclass(frozen=True)
    class Grenz:
        id: str = "grenz-test"
        name: str = "Grenz rays (outside test package)"
        machines: tuple = (UNIT,)
        fractionation_presets: tuple = (FractionationPreset("1 Gy x 1", 1.0, 1, "test"),)
        dose_engine: None = None          # it plans, but shows no dose
        inverse_planner: None = None
        default_prescription_point: None = None

        def machine(self, machine_id):
            return by_id(self.machines, machine_id, "machine")

        def commissioning_for(self, machine_id):
            return None

    technique = Grenz()
''')


def install_fake_package(site):
    (site / "grenz_test_plugin.py").write_text(FAKE_TECHNIQUE)
    dist = site / "grenz_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: grenz-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[planner.techniques]\ngrenz-test = grenz_test_plugin:technique\n")


def test_an_outside_package_registers_a_technique_that_the_window_offers(qtbot, tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    site.mkdir()
    install_fake_package(site)
    monkeypatch.syspath_prepend(str(site))

    registry = discover_techniques()
    assert "grenz-test" in [t.id for t in registry.techniques] and registry.problems == ()
    window = MainWindow(registry, AppSettings(settings_file()), RecoverySession(data_dir()).plan_store())
    window.ask_user = lambda *a: "Discard"
    qtbot.addWidget(window)
    window.show()
    window.open_demo()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)
    choose_in_combo(window.plan_panel.technique_combo, "Grenz rays (outside test package)")
    plan = window.document.plan
    assert (plan.setup.technique_id, plan.setup.machine_id, plan.setup.applicator_id) == \
        ("grenz-test", "grenz-1", "cone-40mm")
    assert window.plan_panel.energy_combo.currentText() == "12 kV (HVL not commissioned)"
    assert "no dose engine" in window.metrics_panel.dose_panel.status_label.text()
