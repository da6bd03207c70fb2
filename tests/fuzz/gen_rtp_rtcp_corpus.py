#!/usr/bin/env python3
"""Writes the seed corpora for fuzz_rtp and fuzz_rtcp (tests/fuzz/corpus/fuzz_rtp|fuzz_rtcp/).

Each seed is a packet laid out from RFC 3550 / RFC 8285 / RFC 4585 / RFC 5104 and the TWCC and
REMB drafts, so the fuzzer starts from every header form the parsers know. Run it from anywhere;
it rewrites the files in place.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def rtp(pt=111, seq=1, ts=160, ssrc=0x11223344, marker=False, csrcs=(), ext=None,
        payload=b"\x01\x02\x03", pad=0):
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext else 0) | len(csrcs)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    out += b"".join(struct.pack("!I", c) for c in csrcs)
    if ext:
        profile, body = ext
        body += b"\x00" * (-len(body) % 4)
        out += struct.pack("!HH", profile, len(body) // 4) + body
    out += payload
    if pad:
        out += b"\x00" * (pad - 1) + bytes([pad])
    return out


def one_byte(*elems):
    return 0xBEDE, b"".join(bytes([(i << 4) | (len(d) - 1)]) + d for i, d in elems)


def two_byte(*elems):
    return 0x1000, b"".join(bytes([i, len(d)]) + d for i, d in elems)


def rtcp(pt, count, body, pad=False):
    """pad=True ends the packet with RTCP padding (P bit) instead of zero fill."""
    if pad:
        n = -len(body) % 4 or 4
        body += b"\x00" * (n - 1) + bytes([n])
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!BBH", 0x80 | (0x20 if pad else 0) | count, pt, len(body) // 4) + body


BLOCK = struct.pack("!IB3sIIII", 0x55667788, 10, b"\x00\x00\x05", 0x1ffff, 30, 0x12345678, 65536)
SR = rtcp(200, 1, struct.pack("!IIIIII", 0x11223344, 0xE0000001, 0x80000000, 90000, 10, 4096)
          + BLOCK)
RR = rtcp(201, 1, struct.pack("!I", 1) + BLOCK)
SDES = rtcp(202, 1, struct.pack("!I", 1) + b"\x01\x0bodeon-cname\x00")
BYE = rtcp(203, 1, struct.pack("!I", 1) + b"\x07goodbye")
NACK = rtcp(205, 1, struct.pack("!IIHHHH", 1, 0x11223344, 100, 0x8005, 65535, 0x0003))
TWCC = rtcp(205, 15, struct.pack("!IIHH", 1, 0x11223344, 10, 3) + b"\xff\xff\xff\x07"
            + b"\x20\x03\x04\x04\x04", pad=True)
PLI = rtcp(206, 1, struct.pack("!II", 1, 0x11223344))
FIR = rtcp(206, 4, struct.pack("!IIIB3x", 1, 0, 0x11223344, 7))
REMB = rtcp(206, 15, struct.pack("!II", 1, 0) + b"REMB" + bytes([2, (12 << 2) | 3, 0xB9, 0xAC])
            + struct.pack("!II", 0x11223344, 5))

SEEDS = {
    "fuzz_rtp": {
        "minimal.bin": rtp(payload=b""),
        "opus_audio_level.bin": rtp(ext=one_byte((1, b"\x85"), (3, b"\x0a\x0b\x0c"),
                                               (5, b"\x00\x2a")), payload=b"\xfc" * 20),
        "vp8_mid_rid.bin": rtp(pt=96, marker=True, ext=one_byte((4, b"0"), (10, b"h"),
                                                               (11, b"l"), (5, b"\x01\x02"))),
        "two_byte.bin": rtp(pt=100, ext=two_byte((12, b"mid-long-name-x"), (200, b""),
                                                 (5, b"\x12\x34"))),
        "csrc_padding.bin": rtp(csrcs=(1, 2, 3), pad=4, payload=b"abcd"),
        "padding_only.bin": rtp(pt=96, payload=b"", pad=255),
        "rtcp_rr.bin": RR,
        "stun.bin": bytes.fromhex("000100002112a442") + b"\x00" * 12,
        "dtls.bin": bytes.fromhex("16fefd0000000000000000"),
    },
    "fuzz_rtcp": {
        "sr_sdes_bye.bin": SR + SDES + BYE,
        "rr_sdes_nack_pli.bin": RR + SDES + NACK + PLI,
        "fir_remb.bin": RR + FIR + REMB,
        "twcc.bin": RR + TWCC,
        "nack_only.bin": NACK,
        "empty_rr.bin": rtcp(201, 0, struct.pack("!I", 1)),
        "truncated_sr.bin": SR[:20],
    },
}

for corpus, files in SEEDS.items():
    d = os.path.join(HERE, "corpus", corpus)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
