"""Requests queued in .persistrepo/incoming for the next store write to take in.

The yum plugin uses this where the rpm or createrepo_c bindings are missing
from yum's interpreter: it only copies files and writes small JSON requests,
which needs nothing but the standard library. An add request names the build
the transaction installed and the root whose rpmdb holds it: the store takes
the queued file only if it proves to be that build (Store.ingest).
Python 2.7 compatible.
"""

import json
import os
import re
import time

from persistrepo import fsutil, names
from persistrepo.errors import PersistError
from persistrepo.store import record
from persistrepo.store.layout import Layout

_STALE = 3600
_TOKEN = re.compile(r"[0-9]{17}-[0-9a-f]{8}\Z")
_TEXT = (type(u""), str)


def _token():
    import random  # only the yum plugin queues; a store write only reads the queue
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


def queue_add(root, src_path, nevra, installroot, method, origin=None, reason="unknown",
              supersede=False):
    """Copy src_path, which rpm installed as nevra into installroot, into the
    queue with its provenance; return the token."""
    layout = _prepare(root)
    token = _token()
    staged = fsutil.stage_file(src_path, layout.incoming)[0]
    os.rename(staged, os.path.join(layout.incoming, token + ".rpm"))
    _write_request(layout, token, {
        "op": "add", "file": token + ".rpm", "method": method,
        "nevra": nevra, "installroot": installroot or "/",
        "origin": record.clean_text(origin),
        "reason": reason, "supersede": supersede,
        "persisted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return token


def queue_remove(root, spec):
    """Queue the removal of what spec selects (a NEVRA, usually)."""
    layout = _prepare(root)
    token = _token()
    _write_request(layout, token, {"op": "remove", "spec": spec})
    return token


def _check(req, token):
    """Why req is not a request the plugins write, or None."""
    if not isinstance(req, dict):
        return "not a JSON object"
    if req.get("op") == "remove":
        spec = req.get("spec")
        ok = isinstance(spec, _TEXT) and spec and record.printable(spec)
        return None if ok else "no usable spec"
    if req.get("op") != "add":
        return "unknown op %r" % (req.get("op"),)
    if req.get("file") != token + ".rpm":
        return "its file is not %s.rpm" % token
    if req.get("method") not in record.METHODS or req.get("reason") not in record.REASONS:
        return "unknown method or reason"
    if not isinstance(req.get("nevra"), _TEXT) or names.parse_nevra(req["nevra"]) is None:
        return "no installed build named"
    root = req.get("installroot")
    if not (isinstance(root, _TEXT) and root.startswith("/") and record.printable(root)):
        return "no installroot"
    for key in ("origin", "persisted_at"):  # record.make_entry cleans the text
        value = req.get(key)
        if value is not None and not isinstance(value, _TEXT):
            return "bad %s" % key
    if not isinstance(req.get("supersede"), bool):
        return "bad supersede"
    return None


def pending(layout):
    """Queued requests, oldest first; each carries its token as '_token'.
    A request that is not one the plugins write comes back as op 'invalid'
    with 'why'; nothing in it is acted on."""
    if not os.path.isdir(layout.incoming):
        return []
    requests = []
    for name in sorted(os.listdir(layout.incoming)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        token = name[:-5]
        why = None if _TOKEN.match(token) else "not a request name the plugins write"
        req = None
        if why is None:
            try:
                req = fsutil.load_json(fsutil.read_store_file(
                    os.path.join(layout.incoming, name)))
            except (ValueError, UnicodeDecodeError):
                why = "not JSON"
            except PersistError as e:
                why = str(e)
        why = why or _check(req, token)
        if why is not None:
            req = {"op": "invalid", "why": why}
        else:
            req.setdefault("origin", None)
            req.setdefault("persisted_at", None)
        req["_token"] = token
        requests.append(req)
    return requests


def files_of(layout, token):
    """The request's files that exist (its .json and .rpm), for setting aside."""
    found = []
    for suffix in (".json", ".rpm"):
        path = os.path.join(layout.incoming, token + suffix)
        if os.path.lexists(path):
            found.append(path)
    return found


def package_of(layout, request):
    """The queued RPM of a checked add request."""
    return layout.scratch(layout.incoming, request["file"], "an incoming request")


def done(layout, requests):
    """Forget handled requests, and leftovers of stagers that died long ago."""
    for req in requests:
        for path in files_of(layout, req["_token"]):
            if fsutil.is_regular(path):
                fsutil.unlink_if_exists(path)
    tokens = set(n[:-5] for n in os.listdir(layout.incoming) if n.endswith(".json"))
    for name in os.listdir(layout.incoming):
        path = os.path.join(layout.incoming, name)
        if os.path.splitext(name)[0] not in tokens and fsutil.is_regular(path) and \
                time.time() - os.lstat(path).st_mtime > _STALE:
            fsutil.unlink_if_exists(path)
