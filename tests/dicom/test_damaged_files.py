"""A damaged signed RT Plan (one byte changed in an element's header or value) never lets a pydicom
exception out: verifying, signing and opening each give a normal result or their own one-line error."""

import random
import struct

import pytest

from planner.dicom import signatures, signed_plan
from planner.dicom.package import sign_plan_package, write_plan_package
from planner.dicom.signatures import DamagedFileError, SignatureCheck, SignatureError
from planner.dicom.signed_plan import SignedPlan, SignedPlanError
from tests.dicom.export_fixtures import demo_kv_case
from tests.dicom.signature_fixtures import signer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on every odd value read

COPIES = 200
SEED = 20240611
PREAMBLE = 132                      # 128-byte preamble and "DICM"
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


@pytest.fixture(scope="module")
def signed_rt_plan(tmp_path_factory):
    """The bytes of a package's RTPLAN.dcm with a creator signature (intact and trusted, awaiting review),
    and the signer."""
    planning_image, plan, technique, dose = demo_kv_case()
    folder = tmp_path_factory.mktemp("package") / "out"
    identity, _key, _cert = signer(tmp_path_factory.mktemp("keys"), "Dr A. Oncologist")
    write_plan_package(folder, plan, dose, planning_image, technique)
    package = sign_plan_package(folder, identity)
    opened = signed_plan.open_signed_plan(package.rt_plan, [identity.certificate])
    assert opened.checks[0].valid and opened.checks[0].trusted and signed_plan.AWAITING_REVIEW in opened.message
    return package.rt_plan.read_bytes(), identity


def header_bytes(data: bytes) -> set[int]:
    """Offsets of every element and item header byte (Explicit VR Little Endian, as Planner writes),
    stepping into sequences and items so nested headers count too."""
    headers, position = set(), PREAMBLE
    while position + 8 <= len(data):
        group, _element = struct.unpack_from("<HH", data, position)
        if group == 0xFFFE:                                    # item, item or sequence delimiter
            size, step = 8, 8
        else:
            vr = data[position + 4:position + 6]
            if vr in LONG_VRS:
                size, length = 12, struct.unpack_from("<I", data, position + 8)[0]
            else:
                size, length = 8, struct.unpack_from("<H", data, position + 6)[0]
            step = size if vr == b"SQ" else size + length
        headers.update(range(position, position + size))
        position += step
    assert position == len(data), "the walk must end exactly at the end of the file"
    return headers


def damaged_copies(data: bytes, seed: int):
    """COPIES copies of ``data``, each with one byte changed: half in headers, half in values."""
    rng = random.Random(seed)
    headers = sorted(header_bytes(data))
    values = sorted(set(range(PREAMBLE, len(data))) - set(headers))
    positions = rng.sample(headers, COPIES // 2) + rng.sample(values, COPIES - COPIES // 2)
    for position in positions:
        copy = bytearray(data)
        copy[position] ^= rng.randrange(1, 256)
        yield position, bytes(copy)


def outcomes(tmp_path, data, call):
    """(position, what happened) for every damaged copy: the result's type name or the error."""
    seen = []
    for number, (position, copy) in enumerate(damaged_copies(data, SEED)):
        path = tmp_path / f"damaged-{number:03d}.dcm"
        path.write_bytes(copy)
        try:
            seen.append((position, call(path)))
        except Exception as exc:  # noqa: BLE001 - sorted below: only the module's own error may appear
            seen.append((position, exc))
    return seen


def assert_only(seen, result_type, error_type, named_type):
    """Every outcome a result or an ``error_type`` in one line; a ``named_type`` error names the file."""
    escaped = [f"byte {position}: {type(outcome).__name__}: {outcome}" for position, outcome in seen
               if not isinstance(outcome, (result_type, error_type))]
    assert escaped == [], "\n".join(escaped)
    for _, outcome in seen:
        if isinstance(outcome, error_type):
            assert "\n" not in str(outcome), str(outcome)
        if isinstance(outcome, named_type):
            assert "damaged-" in str(outcome), str(outcome)


def test_verify_file_gives_checks_or_a_signature_error(signed_rt_plan, tmp_path):
    data, identity = signed_rt_plan
    seen = outcomes(tmp_path, data, lambda path: signatures.verify_file(path, [identity.certificate]))
    assert_only(seen, tuple, SignatureError, DamagedFileError)
    assert any(isinstance(o, DamagedFileError) for _, o in seen)                 # some copies cannot be read
    assert any(isinstance(o, tuple) and o and not o[0].valid for _, o in seen)  # some break the signature


def test_sign_file_signs_or_gives_a_signature_error(signed_rt_plan, tmp_path):
    data, identity = signed_rt_plan
    out = tmp_path / "signed.dcm"
    seen = outcomes(tmp_path, data, lambda path: signatures.sign_file(path, out, identity, "authorization"))
    assert_only(seen, SignatureCheck, SignatureError, DamagedFileError)
    assert any(isinstance(o, DamagedFileError) for _, o in seen)


def test_open_signed_plan_opens_or_gives_a_signed_plan_error(signed_rt_plan, tmp_path):
    data, identity = signed_rt_plan
    seen = outcomes(tmp_path, data, lambda path: signed_plan.open_signed_plan(path, [identity.certificate]))
    assert_only(seen, SignedPlan, SignedPlanError, SignedPlanError)
    assert any("the file is damaged" in str(o) for _, o in seen if isinstance(o, SignedPlanError))
    assert any(isinstance(o, SignedPlan) and not o.treatable for _, o in seen)    # opened, marked refused


def test_a_file_system_error_is_no_damage(tmp_path):
    """A folder or a missing file: "cannot read" (pydicom's own OSError on damaged content is damage)."""
    for path in (tmp_path, tmp_path / "missing.dcm"):
        with pytest.raises(SignatureError, match="cannot read") as raised:
            signatures.verify_file(path)
        assert not isinstance(raised.value, DamagedFileError)
        with pytest.raises(SignedPlanError, match="cannot read|not a plan package"):
            signed_plan.open_signed_plan(path)
