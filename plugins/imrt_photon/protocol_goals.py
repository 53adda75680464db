"""A protocol plan's clinical goals on one dose: the goals table (planner.core.protocols.goals.
evaluate_goals) and the coverage its priority-1 limits allow (protocol_plan.limits_headroom), both
from the same DVHs.

Why apart: the IMRT window and ``planner imrt --protocol`` judge a dose's goals through this one
function, so the window's table and the command's JSON cannot differ.
"""

from __future__ import annotations

from planner.core.protocols.goals import GoalReport, evaluate_goals
from plugins.imrt_photon.protocol_plan import Headroom, ProtocolPlan, limits_headroom


def protocol_goals(chosen: ProtocolPlan, dvhs: dict) -> tuple[GoalReport, Headroom | None]:
    """The goals of ``chosen`` on ``dvhs`` (each structure's DVH by its CT name, the derived ones
    included) and the Headroom (with an earlier course, its re-irradiation limits among the
    priority-1 limits), or None when it cannot be said. A goal whose structure has no DVH is a
    ProtocolError naming it."""
    return (evaluate_goals(chosen.protocol, chosen.mapping, dvhs, chosen.ct_types),
            limits_headroom(chosen.protocol, chosen.mapping, dvhs, chosen.reirradiation))
