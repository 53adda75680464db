"""The plan model: pure Python and numpy, never Qt, so it runs in tests, the command line and
the GUI alike."""
