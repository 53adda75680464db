"""Clinical protocols as files (protocol), structures matched to a CT (matching), derived structures
by margins (margins), and the clinical goals judged on a plan's DVH (goals). Issue 18, points 1–3."""
