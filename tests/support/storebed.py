"""Helpers for store tests: run the persistrepo CLI, inspect a store."""

import json
import os
import subprocess
import sys

import createrepo_c as cr

from tests.support import bed

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli_command(*args):
    """The command line `python -m persistrepo ARGS`."""
    return [sys.executable, "-m", "persistrepo"] + [str(a) for a in args]


def cli_env(extra=None, tool=False):
    """The CLI's environment: this process's (with tool, the bed's own:
    bed.tool_env()) with this tree on PYTHONPATH; extra entries override."""
    env = bed.tool_env() if tool else dict(os.environ)
    env["PYTHONPATH"] = REPO
    env.update(extra or {})
    return env


def cli(*args, env=None, tool=False, check=False, timeout=120, cwd=None):
    """Run `python -m persistrepo ARGS` and return the CompletedProcess; env
    and tool as for cli_env, check, timeout and cwd as for subprocess.run."""
    return subprocess.run(cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=cli_env(env, tool), check=check,
                          timeout=timeout, cwd=cwd)


def listed(store):
    """{nevra: entry} as `persistrepo list --json` prints it."""
    res = cli("--store", store, "list", "--json")
    assert res.returncode == 0, res.stderr
    return dict((e["nevra"], e) for e in json.loads(res.stdout))


def repodata_packages(store):
    """{location_href: pkgid} read from the store's repodata with createrepo_c,
    checking every file repomd.xml names exists."""
    repomd = cr.Repomd(os.path.join(str(store), "repodata", "repomd.xml"))
    found = {}
    for rec in repomd.records:
        assert os.path.isfile(os.path.join(str(store), rec.location_href)), rec.location_href
    primary = [r for r in repomd.records if r.type == "primary"][0]

    def collect(pkg):
        found[pkg.location_href] = pkg.pkgId
    cr.xml_parse_primary(os.path.join(str(store), primary.location_href), pkgcb=collect,
                         do_files=False)
    return found


def one_line_error(res):
    """Assert a CLI failure printed exactly one error line and no traceback."""
    assert "Traceback" not in res.stderr, res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("persistrepo: error: "), res.stderr
    return lines[0]


def spoil(store, nevra):
    """Make the stored file of nevra unusable and drop its chunk file: each
    commit from now on leaves it out of the repodata, and warns."""
    entry = listed(store)[nevra]
    path = os.path.join(store, entry["filename"])
    with open(path, "rb") as f:
        data = f.read(200)
    with open(path + ".new", "wb") as f:  # a new inode: the store may hardlink the bed's file
        f.write(data)
    os.rename(path + ".new", path)
    os.unlink(os.path.join(store, ".persistrepo", "chunks", entry["sha256"] + ".xml"))
    return "%s is left out of the repodata" % nevra
