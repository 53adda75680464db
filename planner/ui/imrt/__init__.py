"""The IMRT window (issue 8): a CT or phantom slice with dose, the objectives, the DVH and the goals.

The planning itself is the inverse-planned technique's ``inverse_planner`` (no Qt); these modules
only show it and run it through the TaskRunner. Nothing here names a machine or imports a plugin.
"""

from planner.ui.imrt.window import ImrtWindow

__all__ = ["ImrtWindow"]
