"""OpenPGP public key blocks: armor and the key ids a block can sign with.

rpm identifies keys differently from release to release (an 8-hex short id,
the full fingerprint, with or without signing subkeys), so persistrepo reads
the key packets itself (RFC 4880 and RFC 9580) and never relies on how rpm
names a gpg-pubkey. Python 2.7 compatible.
"""

import base64
import binascii
import hashlib
import struct

BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
END = "-----END PGP PUBLIC KEY BLOCK-----"
_KEY_TAGS = (6, 14)  # public key, public subkey


class BadKey(ValueError):
    """Not an OpenPGP public key block."""


def dearmor(armored):
    """The binary packets of an ASCII-armored public key block."""
    if isinstance(armored, bytes):
        armored = armored.decode("ascii", "replace")
    lines = [line.strip() for line in armored.splitlines()]
    try:
        start = lines.index(BEGIN)
        end = lines.index(END, start)
    except ValueError:
        raise BadKey("not an ASCII-armored OpenPGP public key block")
    body = lines[start + 1:end]
    if "" in body:  # armor headers ("Version: ...") end at the first blank line
        body = body[body.index("") + 1:]
    data = "".join(line for line in body if line and not line.startswith("="))
    try:
        packets = base64.b64decode(data.encode("ascii"))
    except (binascii.Error, TypeError, ValueError):
        raise BadKey("the key block's base64 is damaged")
    if not packets:
        raise BadKey("the key block is empty")
    return packets


def _packets(data):
    """(tag, body) of each OpenPGP packet in data."""
    data = bytearray(data)
    pos = 0
    while pos < len(data):
        head = data[pos]
        if not head & 0x80:
            raise BadKey("not an OpenPGP packet at byte %d" % pos)
        if head & 0x40:  # new format
            tag, pos = head & 0x3F, pos + 1
            if pos >= len(data):
                raise BadKey("truncated packet header")
            first = data[pos]
            if first < 192:
                length, pos = first, pos + 1
            elif first < 224:
                if pos + 1 >= len(data):
                    raise BadKey("truncated packet header")
                length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif first == 255:
                length, pos = struct.unpack(">I", bytes(data[pos + 1:pos + 5]))[0], pos + 5
            else:
                raise BadKey("partial-length packets do not occur in keys")
        else:  # old format
            tag, kind, pos = (head >> 2) & 0x0F, head & 3, pos + 1
            if kind == 3:
                raise BadKey("indeterminate-length packets do not occur in keys")
            size = (1, 2, 4)[kind]
            field = bytes(data[pos:pos + size])
            if len(field) != size:
                raise BadKey("truncated packet header")
            length, pos = struct.unpack((">B", ">H", ">I")[kind], field)[0], pos + size
        if pos + length > len(data):
            raise BadKey("truncated packet")
        yield tag, bytes(data[pos:pos + length])
        pos += length


def _fingerprint(body):
    """(fingerprint, key id) of a public (sub)key packet body, as lower-case hex."""
    version = bytearray(body[:1])[0] if body else 0
    if version == 4:
        fpr = hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest()
        return fpr, fpr[-16:]
    if version in (5, 6):
        prefix = b"\x9a" if version == 5 else b"\x9b"
        fpr = hashlib.sha256(prefix + struct.pack(">I", len(body)) + body).hexdigest()
        return fpr, fpr[:16]
    return None


def key_ids(armored):
    """Every id that names a key of the block: the primary key's and each
    subkey's 16-hex key id and full fingerprint (lower case)."""
    ids = set()
    for tag, body in _packets(dearmor(armored)):
        if tag in _KEY_TAGS:
            found = _fingerprint(body)
            if found:
                ids.update(found)
    if not ids:
        raise BadKey("the key block holds no version 4 or newer public key")
    return ids


def covers(armored, key_id):
    """True if the block holds the key (or subkey) with this id or fingerprint."""
    try:
        return key_id.lower() in key_ids(armored)
    except BadKey:
        return False


def find_key(armored_keys, key_id):
    """The first key block that holds the (sub)key key_id, or None."""
    for armored in armored_keys:
        if covers(armored, key_id):
            return armored
    return None
