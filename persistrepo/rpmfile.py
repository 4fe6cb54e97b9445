"""Read and check one RPM file with the rpm bindings."""

import binascii
import hashlib
import os
import re

from persistrepo import fsutil
from persistrepo.errors import BadPackage
from persistrepo.installonly import is_installonly

_SIG_QUERY = ("%|DSAHEADER?{%{DSAHEADER:pgpsig}}:{%|RSAHEADER?{%{RSAHEADER:pgpsig}}:"
              "{%|SIGGPG?{%{SIGGPG:pgpsig}}:{%|SIGPGP?{%{SIGPGP:pgpsig}}:{}|}|}|}|")
_KEY_ID = re.compile(r"Key ID ([0-9a-fA-F]+)")
# rpm's PGPHASHALGO values for RPMTAG_PAYLOADDIGESTALGO.
_HASHES = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}


class PackageInfo(object):
    """What the store needs to know about one binary RPM file."""

    def __init__(self, name, epoch, version, release, arch, sha256, size, key_id, provides):
        self.name = name
        self.epoch = epoch
        self.version = version
        self.release = release
        self.arch = arch
        self.sha256 = sha256
        self.size = size
        self.key_id = key_id
        self.provides = provides
        self.installonly = is_installonly(name, provides)

    @property
    def evr(self):
        return (str(self.epoch), self.version, self.release)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def signing_key_id(hdr):
    """The signer's long key ID (16 lower-case hex digits), or None if unsigned."""
    m = _KEY_ID.search(_text(hdr.format(_SIG_QUERY)))
    return m.group(1).lower() if m else None


def _read_header(fd, path, keyring=None):
    import rpm
    ts = rpm.TransactionSet()
    if keyring is None:
        ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES)
    else:
        ts.setVSFlags(0)
        ts.setKeyring(keyring)
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        return ts.hdrFromFdno(fd)
    except rpm.error as e:
        if keyring is not None:
            raise BadPackage("%s: signature check failed: %s" % (path, e))
        raise BadPackage("%s is not a binary RPM or its header is corrupt (%s)" % (path, e))


def _check_payload(fd, hdr, path, size, payload_start):
    """Check the payload against the header's digest, which catches truncation."""
    import rpm
    digests = hdr[rpm.RPMTAG_PAYLOADDIGEST]
    if digests:
        algo = _HASHES.get(hdr[rpm.RPMTAG_PAYLOADDIGESTALGO])
        if algo is None:
            return
        h, start, want = hashlib.new(algo), payload_start, _text(digests[0])
    else:
        sigsize = hdr[rpm.RPMTAG_LONGSIGSIZE] or hdr[rpm.RPMTAG_SIGSIZE]
        want = hdr[rpm.RPMTAG_SIGMD5]
        if not sigsize or not want or sigsize > size:
            raise BadPackage("%s is truncated or corrupt (no usable payload digest)" % path)
        h, start, want = hashlib.md5(), size - sigsize, binascii.hexlify(want).decode("ascii")
    os.lseek(fd, start, os.SEEK_SET)
    while True:
        block = os.read(fd, 1024 * 1024)
        if not block:
            break
        h.update(block)
    if h.hexdigest() != want:
        raise BadPackage("%s is truncated or corrupt (payload digest mismatch)" % path)


def read_package(path, keyring=None):
    """Read and fully check the RPM at path (never following a symlink).

    Header digests and the payload digest are always checked; with an
    rpm.keyring the signature is checked too.
    """
    import rpm
    fd = fsutil.open_regular(path)
    try:
        size = os.fstat(fd).st_size
        hdr = _read_header(fd, path, keyring)
        payload_start = os.lseek(fd, 0, os.SEEK_CUR)
        if hdr.isSource():
            raise BadPackage("%s is a source RPM; only binary RPMs can be persisted" % path)
        _check_payload(fd, hdr, path, size, payload_start)
        sha256 = fsutil.sha256_fd(fd)
    finally:
        os.close(fd)
    return PackageInfo(
        name=_text(hdr[rpm.RPMTAG_NAME]),
        epoch=hdr[rpm.RPMTAG_EPOCH] or 0,
        version=_text(hdr[rpm.RPMTAG_VERSION]),
        release=_text(hdr[rpm.RPMTAG_RELEASE]),
        arch=_text(hdr[rpm.RPMTAG_ARCH]),
        sha256=sha256,
        size=size,
        key_id=signing_key_id(hdr),
        provides=[_text(p) for p in hdr[rpm.RPMTAG_PROVIDENAME]],
    )
