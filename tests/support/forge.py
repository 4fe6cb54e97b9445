"""Hostile RPMs for the probes in test_hostile.py, made from real rpmfluff builds.

rpmbuild refuses what these probes need (a name with "/" or a newline, a
control character in a dependency), so a real package is built with
placeholders of the same length and its main header is edited in place.
Every digest in the signature header that covers the main header (MD5 over
header and payload; SHA1, SHA256 and SHA3-256 over the header) is then
recomputed, so rpm reads the result as an intact package: only the
content is hostile. Layout per rpm's file format: a 96-byte lead, the
signature header padded to 8 bytes, the main header, the payload.
"""

import base64
import hashlib
import struct

LEAD = 96
_DIGESTS = (("md5", True), ("sha1", False), ("sha256", False), ("sha3_256", False))


def _header_end(data, start):
    """Where the header at start ends: 16 bytes of preamble, the index, the data."""
    il, dl = struct.unpack(">II", data[start + 8:start + 16])
    return start + 16 + 16 * il + dl


def _digests(data, main_start):
    """{(name, hex or raw): value} of the main header as rpm records it."""
    found = {}
    main_end = _header_end(data, main_start)
    for name, whole in _DIGESTS:
        covered = data[main_start:] if whole else data[main_start:main_end]
        h = hashlib.new(name, covered)
        found[name] = (h.digest(), h.hexdigest().encode("ascii"))
    return found


def sections(data):
    """(start of the main header, end of the main header)."""
    sig_end = _header_end(data, LEAD)
    main_start = sig_end + (-sig_end % 8)
    return main_start, _header_end(data, main_start)


def rewrite(src, dst, replacements):
    """Copy the RPM src to dst with each (old, new) byte string of equal length
    replaced in the main header, and the signature header's digests fixed."""
    with open(str(src), "rb") as f:
        data = bytearray(f.read())
    main_start, main_end = sections(data)
    before = _digests(bytes(data), main_start)
    header = bytes(data[main_start:main_end])
    for old, new in replacements:
        assert len(old) == len(new) and old in header, (old, new)
        header = header.replace(old, new)
    data[main_start:main_end] = header
    after = _digests(bytes(data), main_start)
    sig = bytes(data[LEAD:main_start])
    for name in before:
        for old, new in zip(before[name], after[name]):
            sig = sig.replace(old, new)
    data[LEAD:main_start] = sig
    with open(str(dst), "wb") as f:
        f.write(bytes(data))
    return str(dst)


def break_signature(src, dst):
    """Copy a signed RPM with its signature packet's version byte made
    invalid: a signature rpm calls BAD whether or not it has the key."""
    with open(str(src), "rb") as f:
        data = bytearray(f.read())
    il, _ = struct.unpack(">II", bytes(data[LEAD + 8:LEAD + 16]))
    index, store = LEAD + 16, LEAD + 16 + 16 * il
    for i in range(il):
        tag, kind, offset, count = struct.unpack(
            ">IIII", bytes(data[index + 16 * i:index + 16 * i + 16]))
        if tag not in (268, 267, 278, 1002, 1006):  # RSA, DSA, OPENPGP, PGP, GPG
            continue
        pos = store + offset
        if kind == 7:  # binary: an old-format packet with a 2-byte length, then the version
            data[pos + 3] = 9
        else:  # base64 text (OPENPGP)
            end = data.index(0, pos)
            packet = bytearray(base64.b64decode(bytes(data[pos:end])))
            packet[3 if packet[0] & 0x40 == 0 else 2] = 9
            data[pos:end] = base64.b64encode(bytes(packet))
        with open(str(dst), "wb") as f:
            f.write(bytes(data))
        return str(dst)
    raise AssertionError("not a signed package: %s" % src)
