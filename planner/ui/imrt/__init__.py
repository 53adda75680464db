"""The IMRT window (issue 8): a CT or phantom slice with dose, the objectives, the DVH and the goals.

The planning itself is the inverse-planned technique's ``inverse_planner`` (no Qt); these modules
only show it and run it through the TaskRunner. Nothing here names a machine. One exception to
reaching the plugin only through the technique: the clinical protocol's steps (issue 18:
plugins.imrt_photon.protocol_plan, protocol_goals) are imported by name in protocol_edits and the
window's export, as ``planner imrt --protocol`` imports them, until the InversePlanner offers them.
"""

from planner.ui.imrt.window import ImrtWindow

__all__ = ["ImrtWindow"]
