"""Read and check one RPM file with the rpm bindings."""

import binascii
import hashlib
import os

from persistrepo import fsutil, names
from persistrepo.compat import headers, signatures, strings
from persistrepo.errors import BadPackage

# dnf's default conf.installonlypkgs (names and provides): packages that keep
# several versions side by side.
INSTALLONLY = ("kernel", "kernel-PAE", "installonlypkg(kernel)", "installonlypkg(kernel-module)",
               "installonlypkg(vm)", "multiversion(kernel)")


def is_installonly(name, provides, installonlypkgs=INSTALLONLY):
    return name in installonlypkgs or any(p in installonlypkgs for p in provides)


class PackageInfo(object):
    """What the store needs to know about one binary RPM file."""

    def __init__(self, name, epoch, version, release, arch, sha256, size, key_id, provides,
                 identity=None, signature_error=None):
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
        self.identity = identity  # headers.header_identity, to compare with the rpmdb
        self.signature_error = signature_error  # see read_package's verify_if


def _read_header(fd, path, verifier=None):
    import rpm
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        if verifier is not None:
            return verifier.read_header(fd)
        return headers.inspecting_ts().hdrFromFdno(fd)
    except rpm.error as e:
        if verifier is not None:
            raise BadPackage("%s: signature check failed: %s" % (path, e))
        raise BadPackage("%s is not a binary RPM or its header is corrupt (%s)" % (path, e))


def _sum_and_check_payload(fd, hdr, path, size, payload_start):
    """The file's sha256, the payload checked against the header's digest
    (which catches truncation) in the same read."""
    import rpm
    recorded = headers.payload_digest(hdr)
    if recorded:
        h, start, want = hashlib.new(recorded[0]), payload_start, recorded[1]
    else:
        sigsize = hdr[rpm.RPMTAG_LONGSIGSIZE] or hdr[rpm.RPMTAG_SIGSIZE]
        want = hdr[rpm.RPMTAG_SIGMD5]
        if not sigsize or not want or sigsize > size:
            raise BadPackage("%s is truncated or corrupt (no usable payload digest)" % path)
        h, start, want = hashlib.md5(), size - sigsize, binascii.hexlify(want).decode("ascii")
    whole = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    offset = 0
    while True:
        block = os.read(fd, 1024 * 1024)
        if not block:
            break
        whole.update(block)
        if offset + len(block) > start:
            h.update(memoryview(block)[max(0, start - offset):])
        offset += len(block)
    if h.hexdigest() != want:
        raise BadPackage("%s is truncated or corrupt (payload digest mismatch)" % path)
    return whole.hexdigest()


def read_package(path, verifier=None, store_file=False, verify_if=None, fd=None):
    """Read and fully check the RPM at path (never following a symlink; a
    store_file must also be root's alone, see fsutil.open_store_file), or
    in fd, an open file of it (left open).

    Header digests and the payload digest are always checked, and the NEVRA
    against what rpm allows; with a signatures.Verifier the signature is checked
    too. With verify_if (key id -> bool) as well, it is checked only where
    verify_if says so, after everything else and in the same read of the
    file; a failure is then info.signature_error instead of BadPackage.
    """
    import rpm
    inspect = verifier is None or verify_if is not None
    given = fd is not None
    if not given:
        fd = fsutil.open_store_file(path) if store_file else fsutil.open_regular(path)
    try:
        size = os.fstat(fd).st_size
        # One read checks digests and signatures when all is well; else
        # each check on its own says what is wrong.
        hdr = signatures.sound_header(fd) if inspect else None
        sound = hdr is not None
        if not sound:
            hdr = _read_header(fd, path, None if inspect else verifier)
        payload_start = os.lseek(fd, 0, os.SEEK_CUR)
        if hdr.isSource():
            raise BadPackage("%s is a source RPM; only binary RPMs can be persisted" % path)
        if inspect and not sound and signatures.signature_is_bad(fd):
            raise BadPackage("%s has a BAD signature (rpm -K says NOT OK); refusing it"
                             % path)
        sha256 = _sum_and_check_payload(fd, hdr, path, size, payload_start)
        nevra = headers.header_fields(hdr)
        names.check_nevra(*(nevra + (path,)))
        key_id = headers.signer_key_id(hdr)
        identity = headers.header_identity(hdr)
        signature_error = None
        if verify_if is not None and key_id is not None and verify_if(key_id):
            try:
                signed = _read_header(fd, path, verifier)
            except BadPackage as e:
                signature_error = str(e)
            else:
                if headers.header_identity(signed) != identity:
                    signature_error = "%s changed while it was being checked" % path
    finally:
        if not given:
            os.close(fd)
    return PackageInfo(
        name=nevra[0],
        epoch=nevra[1],
        version=nevra[2],
        release=nevra[3],
        arch=nevra[4],
        sha256=sha256,
        size=size,
        key_id=key_id,
        provides=[strings.text(p) for p in hdr[rpm.RPMTAG_PROVIDENAME]],
        identity=identity,
        signature_error=signature_error,
    )
