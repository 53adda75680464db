"""The tools that edit the plan on the image: the lesion outline (drawn, dragged, proposed from a
click), the cone's axis, the skin line (dragged, drawn, confirmed, reset to the detected one) and
the calibration by hand of an image without a mm scale.

Each finished edit is one undo step of the document; while a vertex is dragged, the numbers and
the dose follow the mouse as a preview that is not an edit.
"""

from __future__ import annotations

from typing import Callable

from planner.core.errors import PlannerError
from planner.core.manual_calibration import ManualCalibration
from planner.core.outline import LesionOutline
from planner.core.plan import Plan
from planner.imaging.lesion_proposal import propose_lesion_outline
from planner.imaging.planning_image import calibrate_by_hand, calibrated_image, detect_skin_surface
from planner.ui.click_tools import PointTool, TwoPointTool
from planner.ui.dialogs import Dialogs
from planner.ui.document import PlanDocument
from planner.ui.dose_controller import DoseController
from planner.ui.image_view import UltrasoundView
from planner.ui.quantity_field import parse_positive_mm


class EditingTools:
    def __init__(self, document: PlanDocument, view: UltrasoundView, dose: DoseController, dialogs: Dialogs,
                 show_numbers: Callable[[Plan], None]):
        """``show_numbers(plan)``: the plan's numbers shown (a preview's while a vertex is dragged)."""
        self.document = document
        self.view = view
        self.dose = dose
        self.dialogs = dialogs
        self.show_numbers = show_numbers
        self._detected_by_hand = (None, None)  # (planning image, hand calibration) → the line found with it

    @property
    def displayed_image(self):
        """The image in the plan's scale: its own calibration, or the plan's by hand."""
        return calibrated_image(self.document.planning_image.image, self.document.plan)

    # --- the lesion outline ----------------------------------------------------------------------
    def outline_edited(self, outline) -> None:
        plan = self.document.plan
        if plan is not None:
            edited = plan.with_outline(outline)
            if plan.cone_axis_x_mm is None:  # the first outline places the cone over it
                edited = edited.with_cone_axis(outline.lateral_centre_mm)
            if edited == plan:  # a drag that ended where it began: drop the preview it showed
                self.show_numbers(plan)
                self.dose.update()
                return
            self.document.apply(edited, "Edit lesion outline")

    def outline_previewed(self, outline) -> None:
        """While a vertex is dragged, the numbers and isodoses follow the mouse; the edit itself
        (undo step, recovery file) is made when the drag ends."""
        plan = self.document.plan
        if plan is None:
            return
        preview = plan.with_outline(outline)
        self.show_numbers(preview)
        self.dose.preview(preview)

    def start_outline_proposal(self) -> None:
        if self.document.plan is None or self.displayed_image.calibration is None:
            self.dialogs.report_problem("A proposed outline needs an image with a mm calibration; calibrate the "
                                        "image first.")
            return
        self.view.start_tool(PointTool("Click inside the dark (hypoechoic) lesion; Escape cancels.",
                                       self.propose_outline_at))

    def propose_outline_at(self, seed_mm) -> None:
        plan, image = self.document.plan, self.displayed_image
        skin = None if plan.skin_surface is None else plan.skin_surface.depth_at
        try:
            vertices = propose_lesion_outline(image.frames[self.view.frame], image.calibration, seed_mm, skin)
            outline = LesionOutline(vertices)
        except PlannerError as err:
            self.dialogs.report_problem(f"No outline proposed: {err}.")
            return
        self.document.apply(plan.with_outline(outline), "Propose lesion outline")
        self.dialogs.show_status("Proposed outline: check it against the image and edit its vertices.", 10000)

    # --- the cone --------------------------------------------------------------------------------
    def cone_moved(self, axis_x_mm: float) -> None:
        plan = self.document.plan
        if plan is not None:
            self.document.apply(plan.with_cone_axis(axis_x_mm), f"Move cone to {axis_x_mm:.2f} mm")

    def centre_cone_on_lesion(self) -> None:
        plan = self.document.plan
        if plan is None or plan.outline is None:
            self.dialogs.report_problem("There is no lesion outline to centre the cone on.")
            return
        self.document.apply(plan.with_cone_axis(plan.outline.lateral_centre_mm), "Centre cone on lesion")

    # --- the skin line ---------------------------------------------------------------------------
    def skin_edited(self, skin_surface) -> None:
        """A dragged line is one the user placed: it comes without doubts, which the undo text says."""
        plan = self.document.plan
        if plan is not None:
            doubtful = plan.skin_surface is not None and not plan.skin_surface.confirmed
            self.document.apply(plan.with_skin_surface(skin_surface),
                                "Move and confirm skin line" if doubtful else "Move skin line")

    def skin_drawn(self, skin_surface) -> None:
        plan = self.document.plan
        if plan is not None:
            self.document.apply(plan.with_skin_surface(skin_surface), "Draw skin line")

    def confirm_skin_line(self) -> None:
        plan = self.document.plan
        if plan is None or plan.skin_surface is None or plan.skin_surface.confirmed:
            return
        self.document.apply(plan.with_skin_surface(plan.skin_surface.confirm()), "Confirm skin line")

    def reset_skin_line(self) -> None:
        plan = self.document.plan
        detected = None if plan is None else self.detected_skin(plan)
        if detected is None:
            self.dialogs.report_problem("No skin line was found on this image to go back to; draw it "
                                        "(Image ▸ Draw Skin Line).")
            return
        self.document.apply(plan.with_skin_surface(detected), "Reset skin line to detected")

    def can_confirm_skin(self, plan: Plan) -> bool:
        return plan.skin_surface is not None and not plan.skin_surface.confirmed

    def can_reset_skin(self, plan: Plan) -> bool:
        detected = self.detected_skin(plan)
        return detected is not None and plan.skin_surface != detected

    def detected_skin(self, plan: Plan):
        """The line found on the image: when it opened, or (an image scaled by hand) with the plan's scale."""
        planning_image = self.document.planning_image
        if planning_image is None:
            return None
        if planning_image.image.calibration is not None or plan.manual_calibration is None:
            return planning_image.detected_skin
        key = (planning_image, plan.manual_calibration)
        if self._detected_by_hand[0] != key:
            self._detected_by_hand = (key, detect_skin_surface(calibrated_image(planning_image.image, plan)))
        return self._detected_by_hand[1]

    # --- calibration by hand ---------------------------------------------------------------------
    def start_hand_calibration(self) -> None:
        planning_image = self.document.planning_image
        if planning_image is None:
            return
        if planning_image.image.calibration is not None:
            self.dialogs.report_problem(f"This image already has a scale ({planning_image.image.calibration.source}); "
                                        "Planner does not override a calibration the file carries.")
            return
        if self.document.plan is not None and self.document.plan.manual_calibration is not None:
            self.dialogs.report_problem("This image is already calibrated by hand; undo that calibration (Ctrl+Z) "
                                        "to draw it again, so the outline drawn in its millimetres is never "
                                        "silently rescaled.")
            return
        self.view.start_tool(TwoPointTool(self.view.getPlotItem(),
                                          "Click the two ends of a known distance; Escape cancels.",
                                          self.calibrate_with_line))

    def calibrate_with_line(self, start_px, end_px) -> None:
        pixels = ((end_px[0] - start_px[0]) ** 2 + (end_px[1] - start_px[1]) ** 2) ** 0.5
        answer = self.dialogs.ask_text("Calibrate by hand", f"The line is {pixels:.1f} pixels long. How long is it "
                                       "in mm?")
        if answer is None:
            return
        try:
            calibration = ManualCalibration(parse_positive_mm(answer), pixels)
        except ValueError as err:
            self.dialogs.report_problem(f"Not calibrated: {err}.")
            return
        plan = self.document.plan
        self.document.apply(calibrate_by_hand(plan, self.document.planning_image.image, calibration),
                            "Calibrate image by hand")
