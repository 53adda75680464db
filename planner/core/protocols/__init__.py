"""Clinical protocols (issue 18, points 1–3): the files and their loader (protocol), the optimiser's
starting objectives from the goals (objectives), structures matched to a CT (matching), margins on
masks and below the voxel (margins), the derived structures added to a volume (derived), and the
clinical goals judged on a plan's DVH (goals)."""
