"""Requests queued in .persistrepo/incoming for the next store write to take in.

The yum plugin uses this where the rpm or createrepo_c bindings are missing
from yum's interpreter: it only copies files and writes small JSON requests,
which needs nothing but the standard library. Python 2.7 compatible.
"""

import json
import os
import random
import time

from persistrepo import fsutil
from persistrepo.layout import Layout

_STALE = 3600


def _token():
    return "%017d-%08x" % (int(time.time() * 1e6), random.getrandbits(32))


def _prepare(root):
    layout = Layout(root)
    for d in (layout.root, layout.state, layout.incoming):
        fsutil.ensure_dir(d)
    fsutil.check_ancestors(layout.root)
    return layout


def _write_request(layout, token, request):
    path = os.path.join(layout.incoming, token + ".json")
    fsutil.write_atomic(path, json.dumps(request, sort_keys=True).encode("utf-8"),
                        layout.incoming)


def queue_add(root, src_path, method, origin=None, reason="unknown", supersede=False):
    """Copy src_path into the queue with its provenance; return the token."""
    layout = _prepare(root)
    token = _token()
    staged, _ = fsutil.stage_file(src_path, layout.incoming)
    os.rename(staged, os.path.join(layout.incoming, token + ".rpm"))
    _write_request(layout, token, {
        "op": "add", "file": token + ".rpm", "method": method, "origin": origin,
        "reason": reason, "supersede": supersede,
        "persisted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return token


def queue_remove(root, spec):
    """Queue the removal of what spec selects (a NEVRA, usually)."""
    layout = _prepare(root)
    token = _token()
    _write_request(layout, token, {"op": "remove", "spec": spec})
    return token


def pending(layout):
    """Queued requests, oldest first; each carries its token as '_token'."""
    if not os.path.isdir(layout.incoming):
        return []
    requests = []
    for name in sorted(os.listdir(layout.incoming)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        fd = fsutil.open_regular(os.path.join(layout.incoming, name))
        with os.fdopen(fd, "rb") as f:
            try:
                req = json.loads(f.read().decode("utf-8"))
            except ValueError:
                req = {"op": "invalid"}
        req["_token"] = name[:-5]
        requests.append(req)
    return requests


def done(layout, requests):
    """Forget handled requests, and leftovers of stagers that died long ago."""
    for req in requests:
        fsutil.unlink_if_exists(os.path.join(layout.incoming, req["_token"] + ".json"))
        fsutil.unlink_if_exists(os.path.join(layout.incoming, req["_token"] + ".rpm"))
    tokens = set(n[:-5] for n in os.listdir(layout.incoming) if n.endswith(".json"))
    for name in os.listdir(layout.incoming):
        path = os.path.join(layout.incoming, name)
        if os.path.splitext(name)[0] not in tokens and \
                time.time() - os.lstat(path).st_mtime > _STALE:
            fsutil.unlink_if_exists(path)
