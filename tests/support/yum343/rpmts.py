"""The real rpm transaction behind the harness's ts.run() (Python 3, or EL7's
2.7, with rpm's bindings).

Reads {"root", "elements": [{"mode": "u"|"i", "path"} | {"mode": "e",
"nevra"}], "probfilter": [RPMPROB_FILTER_* names]} on stdin, runs them as one
rpm.TransactionSet the way yum 3.4.3 does (depsolve.populateTs lines 184-249,
cli.doTransaction's ts.check()/ts.order() lines 551-587, then
runTransaction's self.ts.run(cb.callback, '') line 1519), and prints on its
last stdout line what ts.run returned: null, [] or [[message, [type, str1,
num]], ...].
"""

import json
import os
import sys

import rpm


def native(value):
    """json's text as the str rpm's bindings take (bytes under Python 2)."""
    return value if isinstance(value, str) else value.encode("utf-8")


def main():
    req = json.loads(sys.stdin.read())
    ts = rpm.TransactionSet(native(req["root"]))
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    flags = 0
    for name in req["probfilter"]:
        flags |= getattr(rpm, native(name))
    ts.setProbFilter(flags)
    for el in req["elements"]:
        if el["mode"] in ("u", "i"):
            path = native(el["path"])
            fd = os.open(path, os.O_RDONLY)
            try:
                hdr = ts.hdrFromFdno(fd)
            finally:
                os.close(fd)
            ts.addInstall(hdr, path, native(el["mode"]))
        else:
            name = native(el["nevra"]).rsplit("-", 2)[0]
            for h in ts.dbMatch("name", name):
                e = h[rpm.RPMTAG_EPOCH] or 0
                if "%s-%s:%s-%s.%s" % (h[rpm.RPMTAG_NAME], e, h[rpm.RPMTAG_VERSION],
                                       h[rpm.RPMTAG_RELEASE], h[rpm.RPMTAG_ARCH]) == el["nevra"]:
                    ts.addErase(h)
    ts.check()
    ts.order()
    files = {}

    def callback(what, amount, total, key, data):
        if what == rpm.RPMCALLBACK_INST_OPEN_FILE:
            files[key] = os.open(key, os.O_RDONLY)
            return files[key]
        if what == rpm.RPMCALLBACK_INST_CLOSE_FILE:
            os.close(files.pop(key))

    errors = ts.run(callback, "")
    sys.stdout.flush()
    if errors is not None:
        errors = [[str(e[0]), [str(x) for x in e[1]]] if isinstance(e, tuple)
                  else [str(e), []] for e in errors]
    sys.stdout.write("\n" + json.dumps(errors) + "\n")


if __name__ == "__main__":
    main()
