"""rpm headers as persistrepo reads them: NEVRA, payload digest, signer and
the digests that identify a build, on rpm's bindings from 4.11 (EL7) to 6.x.

- The payload digest is RPMTAG_PAYLOADDIGEST(ALGO) in 4.14 to 4.20 and
  RPMTAG_PAYLOADSHA256(ALGO) from 6.0 (same tag numbers); v6 packages carry
  no ALGO tag, the digest being SHA-256 by name, and add SHA-512 and
  SHA3-256 payload digests. 4.11 knows none of these tags: there only the
  MD5 over header and payload (RPMTAG_SIGMD5) covers the payload.
- v6 packages are signed only in RPMTAG_OPENPGP (6.0); older ones in
  RSAHEADER or DSAHEADER (header) or SIGGPG or SIGPGP (header and payload).
- %_pkgverify_level (4.14.2 on) can make rpm refuse what it cannot verify;
  headers read only to inspect a package ask for digests
  (TransactionSet.setVfyLevel, absent before 4.14.2).
- Python 2's bindings give integer tags (the epoch) as long.

Python 2.7 compatible.
"""

import binascii
import re

from persistrepo import names
from persistrepo.compat.strings import text

_KEY_ID = re.compile(r"Key ID ([0-9a-fA-F]{16,64})")
SIGNATURE_TAGS = ("OPENPGP", "RSAHEADER", "DSAHEADER", "SIGGPG", "SIGPGP")
# (digest tag, its algorithm tag, the algorithm when that tag is absent)
_PAYLOAD_DIGESTS = (("PAYLOADSHA256", "PAYLOADSHA256ALGO", "sha256"),
                    ("PAYLOADDIGEST", "PAYLOADDIGESTALGO", "sha256"),
                    ("PAYLOADSHA512", None, "sha512"),
                    ("PAYLOADSHA3_256", None, "sha3_256"))
# rpm's PGPHASHALGO values, as the ALGO tags give them.
_HASHES = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224",
           12: "sha3_256", 14: "sha3_512"}


_TAG_NUMBERS = {}


def tag(name):
    """rpm.RPMTAG_<name>, or None where these bindings do not know it
    (looked up once: capture asks for each tag of every header)."""
    try:
        return _TAG_NUMBERS[name]
    except KeyError:
        import rpm
        number = _TAG_NUMBERS[name] = getattr(rpm, "RPMTAG_" + name, None)
        return number


def payload_digest(hdr):
    """(hashlib name, hex digest) of the compressed payload as the header
    records it, or None where the bindings or the package have none."""
    for digest_name, algo_name, algo in _PAYLOAD_DIGESTS:
        digest_tag = tag(digest_name)
        if digest_tag is None:
            continue
        value = hdr[digest_tag]
        if isinstance(value, list):
            value = value[0] if value else None
        if not value:
            continue
        algo_tag = tag(algo_name) if algo_name else None
        number = hdr[algo_tag] if algo_tag is not None else None
        if number:
            algo = _HASHES.get(number)
            if algo is None:
                continue
        return algo, text(value).lower()
    return None


def signer_key_id(hdr):
    """The signing key's id as rpm prints it (16 hex digits, lower case), or
    None for an unsigned package."""
    for name in SIGNATURE_TAGS:
        if tag(name) is None:
            continue
        m = _KEY_ID.search(text(hdr.format("%%{%s:pgpsig}" % name)))
        if m:
            return m.group(1).lower()
    return None


def inspecting_ts():
    """A TransactionSet that reads headers checking digests, never signatures,
    whatever %_pkgverify_level says."""
    import rpm
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES)
    if hasattr(ts, "setVfyLevel"):
        ts.setVfyLevel(rpm.RPMSIG_DIGEST_TYPE)
    return ts


def header_fields(hdr):
    """(name, epoch, version, release, arch) of a header, as text and an int epoch
    (Python 2's bindings give a long)."""
    import rpm
    return (text(hdr[rpm.RPMTAG_NAME]), int(hdr[rpm.RPMTAG_EPOCH] or 0),
            text(hdr[rpm.RPMTAG_VERSION]), text(hdr[rpm.RPMTAG_RELEASE]),
            text(hdr[rpm.RPMTAG_ARCH]))


def header_nevra(hdr):
    return names.nevra(*header_fields(hdr))


# Digests a package file's header and the rpmdb's copy of it both carry
# (the rpmdb keeps the signature header's digests): whichever the rpm and
# the package have prove that a file is the build rpm installed.
_IDENTITY_TAGS = ("SHA3_256HEADER", "SHA256HEADER", "SHA1HEADER", "SIGMD5")


def header_identity(hdr):
    """{"nevra": ..., digest name: hex} of a header, for same_build()."""
    found = {"nevra": header_nevra(hdr)}
    for name in _IDENTITY_TAGS:
        number = tag(name)
        value = hdr[number] if number is not None else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            found[name] = (binascii.hexlify(value).decode("ascii") if isinstance(value, bytes)
                           and name == "SIGMD5" else text(value).lower())
    payload = payload_digest(hdr)
    if payload:
        found["payload"] = "%s:%s" % payload
    return found


def same_build(a, b):
    """None if identities a and b (header_identity) are the same build, else
    why not: another NEVRA, or a digest that both have and that differs
    (at least one digest must be there to compare)."""
    if a["nevra"] != b["nevra"]:
        return "it holds %s" % a["nevra"]
    shared = [k for k in a if k != "nevra" and k in b]
    if not shared:
        return "no header digest to compare it by"
    for k in shared:
        if a[k] != b[k]:
            return "it holds another build of %s (%s differs)" % (a["nevra"], k)
    return None
