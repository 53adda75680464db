"""Property test: whatever bytes arrive, the loader returns an image or one clear error line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.imaging import ImageLoadError, UltrasoundImage, load_ultrasound
from planner.imaging.demo import demo_case_path

DEMO_BYTES = (demo_case_path() / "demo_ultrasound.dcm").read_bytes()
HEADER_BYTES = 1400  # preamble, file meta and data set up to the pixel data element


def _mutations():
    random_bytes = st.binary(min_size=0, max_size=3000).map(lambda b: ("random", b))
    truncated = st.integers(0, len(DEMO_BYTES) - 1).map(lambda n: ("truncated", DEMO_BYTES[:n]))
    position = st.one_of(st.integers(0, HEADER_BYTES), st.integers(0, len(DEMO_BYTES) - 1))
    flips = st.lists(st.tuples(position, st.integers(0, 7)), min_size=1, max_size=4)

    def flip(bits):
        data = bytearray(DEMO_BYTES)
        for index, bit in bits:
            data[index] ^= 1 << bit
        return ("bit-flipped", bytes(data))

    return st.one_of(random_bytes, truncated, flips.map(flip))


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_mutations())
def test_every_outcome_is_an_image_or_a_one_line_image_load_error(case):
    kind, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.dcm"
        path.write_bytes(data)
        try:
            image = load_ultrasound(path)
        except ImageLoadError as err:
            message = str(err)
            assert message.strip(), kind
            assert "\n" not in message and "\r" not in message, message
            return
    assert isinstance(image, UltrasoundImage), kind
    assert image.frames.shape[1:3] == (image.rows, image.cols)
    assert all(isinstance(p, str) and p and "\n" not in p for p in image.problems)
