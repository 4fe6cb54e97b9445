"""Image-mode (bootc) hosts: is this one, and which image did it boot
(docs/image-mode.md, "On the host"). Python 3.6 compatible.

A bootc (or rpm-ostree) host is marked by /run/ostree-booted, which ostree's
boot code creates and which dnf's own image-mode checks look for too. The
booted image comes from `bootc status --json` (status.booted.image: the image
reference with its transport, and imageDigest), pinned by digest.
"""

import json
import os
import re
import subprocess

from persistrepo.errors import PersistError, UsageError

OSTREE_BOOTED = "/run/ostree-booted"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}\Z")
MAX_STATUS = 1 << 20


def is_image_mode_host(root="/"):
    """True when root is a booted image-mode system."""
    return os.path.exists(os.path.join(root, OSTREE_BOOTED.lstrip("/")))


def status():
    """The parsed `bootc status --json` (status.usrOverlay, status.booted...)."""
    try:
        proc = subprocess.Popen(["bootc", "status", "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError as e:
        raise PersistError("cannot run 'bootc status --json' (%s)" % (e.strerror or e))
    out, err = proc.communicate()
    if proc.returncode != 0 or len(out) > MAX_STATUS:
        raise PersistError("'bootc status --json' failed (exit %d): %s"
                           % (proc.returncode, err.decode("utf-8", "replace").strip()))
    try:
        doc = json.loads(out.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise PersistError("'bootc status --json' printed no JSON document (%s)" % e)
    if not isinstance(doc, dict) or not isinstance(doc.get("status"), dict):
        raise PersistError("'bootc status --json' has no status object")
    return doc


def booted_image(doc):
    """name@digest of the booted image, as a Containerfile's FROM takes it."""
    try:
        image = doc["status"]["booted"]["image"]
        ref, transport = image["image"]["image"], image["image"]["transport"]
        digest = image["imageDigest"]
    except (KeyError, TypeError):
        raise UsageError("'bootc status --json' names no booted image; give --from IMAGE")
    if transport not in ("registry", "containers-storage") or \
            not isinstance(ref, str) or not REFERENCE.match(ref) or \
            not isinstance(digest, str) or not _DIGEST.match(digest):
        raise UsageError("the booted image (%r, transport %r, digest %r) cannot be pulled by "
                         "digest; give --from IMAGE" % (ref, transport, digest))
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[:len(name) - len(last)] + last.split(":", 1)[0]
    return "%s@%s" % (name, digest)
