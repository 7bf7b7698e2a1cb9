"""H.264 and HEVC bitstreams at the level a smart cut needs: NAL units, the parameter
sets of a codec configuration record (avcC, hvcC), and giving a re-encoded part's
parameter sets ids of their own.

A smart cut writes the source's packets untouched under the source's configuration
record, and the re-encoded head and tail carry their own parameter sets in-band. Those
must not take the ids the source's use: a decoder keeps parameter sets by id across a
seek, so a head's SPS 0 would replace the source's SPS 0 and the copied pictures would
decode with the wrong one. x264 numbers its SPS and PPS as told (`sps-id`); x265 always
writes 0, so its VPS, SPS and PPS are renumbered here, and each slice header with them.
"""

import re
from dataclasses import dataclass

H264_AUD, HEVC_AUD = 9, 35
H264_SPS, H264_PPS = 7, 8
HEVC_VPS, HEVC_SPS, HEVC_PPS = 32, 33, 34


class BitstreamError(Exception):
    """A part's bitstream is not what the renumbering expects (several slices per
    picture, say): the cut cannot be smart."""


# --- NAL units ----------------------------------------------------------------------

_START_CODE = re.compile(b"\x00\x00\x01")


def annexb_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B packet (start codes), without trailing zero bytes."""
    return [chunk.rstrip(b"\x00") for chunk in _START_CODE.split(data)[1:] if chunk]


def length_units(data: bytes, length_size: int) -> list[bytes]:
    """The NAL units of a length-prefixed packet (mp4, Matroska)."""
    units, position = [], 0
    while position + length_size <= len(data):
        size = int.from_bytes(data[position : position + length_size], "big")
        position += length_size
        units.append(data[position : position + size])
        position += size
    return units


def length_prefixed(units: list[bytes], length_size: int) -> bytes:
    out = bytearray()
    for unit in units:
        if len(unit) >= 1 << (8 * length_size):
            raise BitstreamError(f"a NAL unit of {len(unit)} bytes needs a longer length field")
        out += len(unit).to_bytes(length_size, "big") + unit
    return bytes(out)


def unit_type(codec: str, unit: bytes) -> int:
    return unit[0] & 0x1F if codec == "h264" else (unit[0] >> 1) & 0x3F


def config_record(codec: str, extradata: bytes | None) -> tuple[int, list[bytes]] | None:
    """The NAL length size and the parameter sets of an avcC / hvcC record; None when the
    extradata is not one (Annex B streams carry theirs in-band)."""
    if not extradata or extradata[0] != 1:
        return None
    units = []
    try:
        if codec == "h264":
            length_size = (extradata[4] & 3) + 1
            position = 5
            for mask in (0x1F, 0xFF):  # the SPS, then the PPS
                count = extradata[position] & mask
                position += 1
                for _ in range(count):
                    size = int.from_bytes(extradata[position : position + 2], "big")
                    units.append(extradata[position + 2 : position + 2 + size])
                    position += 2 + size
        else:
            length_size = (extradata[21] & 3) + 1
            position = 23
            for _ in range(extradata[22]):
                count = int.from_bytes(extradata[position + 1 : position + 3], "big")
                position += 3
                for _ in range(count):
                    size = int.from_bytes(extradata[position : position + 2], "big")
                    units.append(extradata[position + 2 : position + 2 + size])
                    position += 2 + size
    except IndexError:
        return None
    return length_size, units


# --- RBSP and bits ------------------------------------------------------------------


def rbsp(payload: bytes) -> bytes:
    """A NAL unit's payload without its emulation prevention bytes."""
    return re.sub(b"\x00\x00\x03", b"\x00\x00", payload)


def escaped(data: bytes) -> bytes:
    """An RBSP with emulation prevention bytes put back (H.264 / HEVC 7.4.2)."""
    out = re.sub(b"\x00\x00(?=[\x00-\x03])", b"\x00\x00\x03", data)
    return out + b"\x03" if out.endswith(b"\x00\x00") else out


def bits_of(data: bytes) -> str:
    return "".join(f"{byte:08b}" for byte in data)


def bytes_of(bits: str) -> bytes:
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def ue(value: int) -> str:
    """Exp-Golomb code of an unsigned value."""
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def read_ue(bits: str, position: int) -> tuple[int, int]:
    """The unsigned Exp-Golomb value at `position` and the position after it."""
    zeros = 0
    while bits[position + zeros] == "0":
        zeros += 1
    end = position + 2 * zeros + 1
    return int(bits[position + zeros : end], 2) - 1, end


def _hevc_sps_id_position(bits: str) -> int:
    """Where sps_seq_parameter_set_id starts in an HEVC SPS's RBSP (after the header)."""
    sub_layers = int(bits[4:7], 2)
    position = 8 + 96  # VPS id, sub-layer count, nesting flag; the general profile/level
    flags = bits[position : position + 2 * sub_layers]
    position += 2 * sub_layers
    if sub_layers:
        position += 2 * (8 - sub_layers)
    for layer in range(sub_layers):
        position += 88 * int(flags[2 * layer]) + 8 * int(flags[2 * layer + 1])
    return position


def _trailing(bits: str) -> str:
    """The bits before an RBSP's stop bit, which closes it: the stop bit and alignment
    are written again after a change of length."""
    return bits[: bits.rindex("1")]


def _aligned(bits: str) -> str:
    bits += "1"
    return bits + "0" * (-len(bits) % 8)


# --- parameter set ids --------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    vps: frozenset[int] = frozenset()
    sps: frozenset[int] = frozenset()
    pps: frozenset[int] = frozenset()


def parameter_set_ids(codec: str, units: list[bytes]) -> Ids:
    """The VPS, SPS and PPS ids the given NAL units define."""
    vps, sps, pps = set(), set(), set()
    for unit in units:
        kind = unit_type(codec, unit)
        if codec == "h264" and kind == H264_SPS:
            sps.add(read_ue(bits_of(rbsp(unit[1:12])), 24)[0])
        elif codec == "h264" and kind == H264_PPS:
            pps.add(read_ue(bits_of(rbsp(unit[1:8])), 0)[0])
        elif codec == "hevc" and kind == HEVC_VPS:
            vps.add(unit[2] >> 4)
        elif codec == "hevc" and kind == HEVC_SPS:
            bits = bits_of(rbsp(unit[2:64]))
            sps.add(read_ue(bits, _hevc_sps_id_position(bits))[0])
        elif codec == "hevc" and kind == HEVC_PPS:
            pps.add(read_ue(bits_of(rbsp(unit[2:8])), 0)[0])
    return Ids(frozenset(vps), frozenset(sps), frozenset(pps))


def free_h264_id(used: Ids) -> int:
    """An id that neither an SPS nor a PPS of the source uses (x264 gives both the same)."""
    return next(candidate for candidate in range(1, 32) if candidate not in used.sps | used.pps)


@dataclass(frozen=True)
class HevcIds:
    """The ids a re-encoded HEVC part's parameter sets take, unused by the source's."""

    vps: int
    sps: int
    pps: int

    @classmethod
    def avoiding(cls, used: Ids) -> "HevcIds":
        # A PPS id of 7-14 is written in 7 bits where x265's 0 takes 1: with two more
        # reserved slice header bits (num_extra_slice_header_bits = 2, allowed by version
        # 1 of the standard) every slice header grows by exactly a byte, so the slice
        # data after it stays byte-aligned and is moved, not rewritten.
        return cls(
            vps=next(i for i in range(1, 16) if i not in used.vps),
            sps=next(i for i in range(1, 16) if i not in used.sps),
            pps=next(i for i in range(7, 15) if i not in used.pps),
        )


EXTRA_SLICE_HEADER_BITS = 2


def renumber_hevc(unit: bytes, ids: HevcIds) -> bytes:
    """One NAL unit of an x265 part with its parameter sets under `ids` (x265 writes 0
    for each, one slice per picture and no extra slice header bits)."""
    kind = unit_type("hevc", unit)
    header, bits = unit[:2], bits_of(rbsp(unit[2:]))
    if kind == HEVC_VPS:
        return header + escaped(bytes_of(f"{ids.vps:04b}" + bits[4:]))
    if kind == HEVC_SPS:
        position = _hevc_sps_id_position(bits)
        old, end = read_ue(bits, position)
        body = f"{ids.vps:04b}" + bits[4:position] + ue(ids.sps) + _trailing(bits)[end:]
        return header + escaped(bytes_of(_aligned(body)))
    if kind == HEVC_PPS:
        _, position = read_ue(bits, 0)
        _, position = read_ue(bits, position)
        extra = int(bits[position + 2 : position + 5], 2)
        if extra:
            raise BitstreamError("the encoder wrote extra slice header bits")
        flags = bits[position : position + 2] + f"{EXTRA_SLICE_HEADER_BITS:03b}"
        body = ue(ids.pps) + ue(ids.sps) + flags + _trailing(bits)[position + 5 :]
        return header + escaped(bytes_of(_aligned(body)))
    if kind > 31:  # SEI, AUD and the rest refer to no parameter set
        return unit
    # A slice: first_slice_segment_in_pic_flag, no_output_of_prior_pics_flag (IRAP),
    # slice_pic_parameter_set_id, then (one slice per picture) the reserved bits.
    payload = rbsp(unit[2:])
    head = bits_of(payload[:8])
    if head[0] != "1":
        raise BitstreamError("a picture of the re-encoded part has several slices")
    position = 2 if 16 <= kind <= 23 else 1
    old, end = read_ue(head, position)
    if old != 0:
        raise BitstreamError(f"a slice refers to PPS {old}")
    grown = head[:position] + ue(ids.pps) + "0" * EXTRA_SLICE_HEADER_BITS + head[end:]
    if len(grown) % 8:
        raise BitstreamError("the slice header would lose its alignment")
    return header + escaped(bytes_of(grown) + payload[8:])
