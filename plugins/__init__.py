"""Built-in treatment techniques, each registered through the ``planner.techniques`` entry-point group."""
