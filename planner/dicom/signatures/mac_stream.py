"""The MAC byte stream (PS3.15 C.3; shared dicom-notes §1.3): the exact bytes a signature covers.

Why a module of its own: the signed bytes are the listed top-level attributes re-encoded in the
MAC Calculation Transfer Syntax, followed by the signature item's own attributes. Signing and
verifying both hash this stream, and it must be byte for byte what dcmtk's ``dcmsign`` makes
(checked against ``dcmsign --dump`` in the tests), so its selection and encoding rules live in
one place.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element
from pydicom.uid import ExplicitVRLittleEndian, UID
from pydicom.valuerep import AMBIGUOUS_VR, EXPLICIT_VR_LENGTH_32

from .errors import SignatureError

PIXEL_DATA = 0x7FE00010

# Signature item attributes left out of the MAC (PS3.15 C.3 / PS3.3 C.12.1.1.3.1.3): they are made
# after, or independently of, the MAC.
_NOT_IN_MAC = {0x04000115,  # Certificate of Signer
               0x04000120,  # Signature
               0x04000305,  # Certified Timestamp Type
               0x04000310}  # Certified Timestamp
_ITEM, _SEQUENCE_END = struct.pack("<HH", 0xFFFE, 0xE000), struct.pack("<HH", 0xFFFE, 0xE0DD)


def mac_stream(ds: Dataset, tags: Iterable[int], item: Dataset) -> bytes:
    """Listed top-level attributes present in ``ds`` in tag order, then the signature item's
    own attributes except those in _NOT_IN_MAC, all in Explicit VR Little Endian with sequences
    and items written without lengths (undefined-length form minus the item delimiters)."""
    out = bytearray()
    wanted = {int(tag) for tag in tags}
    charset = _charset(ds, None)
    for tag in sorted(ds.keys()):
        if int(tag) in wanted and signable_tag(tag) and unsignable_reason(ds, tag) is None:
            _encode(ds, tag, charset, out)
    item_charset = _charset(item, charset)
    for tag in sorted(item.keys()):
        if int(tag) not in _NOT_IN_MAC and signable_tag(tag):
            _encode(item, tag, item_charset, out)
    return bytes(out)


def _peek(container: Dataset, tag) -> tuple[RawDataElement | None, DataElement]:
    """The element as read from the file (None once converted) and a converted copy.

    ``container`` is left as it was: converting in place would make a later save re-encode values
    pydicom's way instead of writing the bytes that were signed.
    """
    stored = container.get_item(tag)
    if not isinstance(stored, RawDataElement):
        if stored.VR in AMBIGUOUS_VR:
            stored = correct_ambiguous_vr_element(stored, container, True)  # as saving would
        return None, stored
    if stored.value is None and stored.length:  # deferred read: let pydicom fetch it
        return None, container[tag]
    element = convert_raw_data_element(stored, encoding=container.original_character_set, ds=container)
    if element.VR in AMBIGUOUS_VR:
        element = correct_ambiguous_vr_element(element, container, stored.is_little_endian)
    return stored, element


def _encode(container: Dataset, tag, charset, out: bytearray) -> None:
    raw, element = _peek(container, tag)
    vr = (raw.VR if raw is not None and raw.VR else None) or element.VR
    header = struct.pack("<HH", int(tag) >> 16, int(tag) & 0xFFFF)
    if vr == "SQ":
        out += header + b"SQ\0\0"  # no length
        for item in element.value:
            out += _ITEM  # no length, and no item delimiter after it
            item_charset = _charset(item, charset)
            for sub_tag in sorted(item.keys()):
                if signable_tag(sub_tag):
                    _encode(item, sub_tag, item_charset, out)
        out += _SEQUENCE_END
        return
    if int(tag) == PIXEL_DATA and _is_undefined_length(raw, element):
        out += header + vr.encode("ascii") + b"\0\0"  # encapsulated: no length
        for fragment in _fragments(raw.value if raw is not None else element.value):
            out += _ITEM + fragment  # each item without its length
        out += _SEQUENCE_END
        return
    if raw is not None and raw.is_little_endian:
        value = bytes(raw.value or b"")  # the bytes as stored: no re-formatting of numbers or text
    else:
        value = _encoded_value(element, vr, tag, charset)
    value = _canonical_value(value, vr)
    length = struct.pack("<HI", 0, len(value)) if vr in EXPLICIT_VR_LENGTH_32 else struct.pack("<H", len(value))
    out += header + vr.encode("ascii") + length + value


def _encoded_value(element: DataElement, vr: str, tag, charset) -> bytes:
    """The value field pydicom writes for ``element`` in Explicit VR Little Endian."""
    if vr in AMBIGUOUS_VR:
        raise SignatureError(f"{attribute_name(tag)} has an unresolved value representation {vr}")
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, element, charset)
    return fp.getvalue()[12 if vr in EXPLICIT_VR_LENGTH_32 else 8:]


# Character-string VRs, padded with a space (UI: with NUL) to an even length (PS3.5 6.2).
_STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}


def _canonical_value(value: bytes, vr: str) -> bytes:
    """A value as dcmtk encodes it for the MAC: a string loses all its trailing padding and gets
    one pad byte back if its length is odd (so "AB   " is signed as "AB"); other values are
    padded with NUL to an even length. Observed with dcmsign 3.6.7 --dump on every string VR;
    PS3.5 6.2 makes trailing padding insignificant, so this changes no meaning."""
    if vr in _STRING_VRS:
        pad = b"\0" if vr == "UI" else b" "
        value = value.rstrip(pad)
    else:
        pad = b"\0"
    return value + pad if len(value) % 2 else value


def _fragments(value: bytes) -> list[bytes]:
    """The items of encapsulated pixel data (basic offset table first), without tags and lengths."""
    fragments, offset = [], 0
    while offset + 8 <= len(value):
        group, element, length = struct.unpack_from("<HHI", value, offset)
        if (group, element) == (0xFFFE, 0xE0DD):
            break
        if (group, element) != (0xFFFE, 0xE000) or offset + 8 + length > len(value):
            raise SignatureError("the encapsulated Pixel Data is malformed")
        fragments.append(bytes(value[offset + 8:offset + 8 + length]))
        offset += 8 + length
    return fragments


def signable_tag(tag) -> bool:
    """Tags PS3.15 C.3 / dcmsign never sign: group lengths, file meta, Length to End, the
    signature sequences themselves, Data Set Trailing Padding, and item/delimitation tags."""
    tag = int(tag)
    group, element = tag >> 16, tag & 0xFFFF
    return not (element == 0 or group < 0x0008 or tag == 0x00080001 or group in (0xFFFA, 0xFFFE)
                or tag in (0x4FFE0001, 0xFFFCFFFC))


def unsignable_reason(ds: Dataset, tag) -> str | None:
    """Why dcmsign would leave this attribute out although it is listed (an unknown VR, UN,
    anywhere inside it), or None."""
    raw, element = _peek(ds, tag)
    if (raw is not None and raw.VR == "UN") or element.VR == "UN":
        return "value representation UN"
    if element.VR == "SQ":
        for item in element.value:
            for sub_tag in item.keys():
                if signable_tag(sub_tag) and unsignable_reason(item, sub_tag):
                    return f"contains {attribute_name(sub_tag)} with value representation UN"
    elif element.VR in AMBIGUOUS_VR:
        return f"ambiguous value representation {element.VR}"
    return None


def check_encoding_supported(ds: Dataset) -> None:
    if _original_little_endian(ds) is False:
        raise SignatureError("Explicit VR Big Endian datasets are not supported; convert to little endian first")


def _original_little_endian(ds: Dataset) -> bool | None:
    return ds.original_encoding[1]


def mac_transfer_syntax(ds: Dataset) -> str:
    """Explicit VR Little Endian, or the file's own encapsulated transfer syntax when its pixel
    data are encapsulated (dcmsign does the same; the byte stream is the same either way)."""
    transfer_syntax = UID(str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""))
    if PIXEL_DATA in ds and transfer_syntax and transfer_syntax.is_encapsulated:
        return transfer_syntax
    return ExplicitVRLittleEndian


def mac_transfer_syntax_supported(uid: str) -> bool:
    if uid == ExplicitVRLittleEndian:
        return True
    known = UID(uid)
    return bool(uid) and known.is_transfer_syntax and known.is_encapsulated and not known.is_deflated


def _is_undefined_length(raw, element: DataElement) -> bool:
    if raw is not None:
        return raw.length == 0xFFFFFFFF
    return element.is_undefined_length


def _charset(container: Dataset, parent):
    declared = container.get("SpecificCharacterSet") if "SpecificCharacterSet" in container else None
    if declared:
        return convert_encodings(declared)
    return parent if parent is not None else convert_encodings("ISO_IR 6")


def present(ds: Dataset, tag) -> bool:
    return int(tag) in ds


def tags_of(mac_item: Dataset) -> tuple[int, ...]:
    value = mac_item.get("DataElementsSigned")
    if value is None or value == "":
        return ()
    return (int(value),) if isinstance(value, int) else tuple(int(tag) for tag in value)


def attribute_name(tag) -> str:
    tag = int(tag)
    keyword = keyword_for_tag(tag)
    text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{text} {keyword}" if keyword else text
