"""How a replay is shown: the text table, the JSON, and the report file that
every real run leaves in the new root (ROOT/var/log/persistrepo/)."""

import datetime
import errno
import json
import os
import textwrap

from persistrepo import fsutil
from persistrepo.front.listing import terminal_width
from persistrepo.replay import dnf5
from persistrepo.words import count

REPORT_DIR = "var/log/persistrepo"
KEEP_REPORTS = 20
_VERBS = {"install": "install", "upgrade": "upgrade", "skip": "skip", "broken": "BROKEN",
          "remove": "remove", "enable": "enable"}


def utc_now():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json(result):
    return json.dumps(result.to_dict(), indent=2, sort_keys=True)


def write(result):
    """Write the JSON report under ROOT/var/log/persistrepo, its links followed
    inside ROOT (never out of it); set result.report_file (as a path inside
    the root); return its host path."""
    directory = fsutil.resolve_in_root(result.root, REPORT_DIR)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    stamp = result.started_at.replace("-", "").replace(":", "")
    for n in range(1000):
        name = "replay-%s%s.json" % (stamp, "-%d" % n if n else "")
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.EEXIST:
                continue
            raise
        result.report_file = "/" + os.path.relpath(path, os.path.realpath(result.root))
        with os.fdopen(fd, "w") as f:
            f.write(to_json(result) + "\n")
            f.flush()
            os.fsync(f.fileno())
        _expire(directory)
        return path
    raise OSError(errno.EEXIST, "too many reports with the same time stamp", directory)


def _expire(directory):
    """Keep the newest KEEP_REPORTS reports."""
    reports = sorted(n for n in os.listdir(directory)
                     if n.startswith("replay-") and n.endswith(".json"))
    for name in reports[:-KEEP_REPORTS]:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not os.path.islink(path):
            os.unlink(path)


def text(result):
    """The plan and its outcome as a plain-text table plus a summary line."""
    head = "Replay plan for %s from %s%s:" % (result.root, result.store,
                                               " (dry run, nothing changes)"
                                               if result.dry_run else "")
    rows = [("ACTION", "PACKAGE", "ROLE", "WHY")]
    for i in result.items:
        rows.append((_VERBS[i.action], i.nevra, i.role, i.reason))
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    lines = [head]
    indent = 2 + sum(widths) + 2 * 3
    width = terminal_width()
    # WHY wraps within the terminal's width (COLUMNS); where the other columns
    # leave it too little room, it goes on lines of its own below the row.
    below = bool(width) and width - indent < 24
    if below:
        indent = 6
    why_width = max(20, width - indent) if width else None
    for r in rows if result.items else ():
        why = textwrap.wrap(r[3], why_width) if why_width else [r[3]]
        row = "  " + "  ".join(r[c].ljust(widths[c]) for c in range(3))
        if below:
            lines.append(row.rstrip())
            lines.extend(" " * indent + w for w in why)
        else:
            lines.append(row + "  " + (why[0] if why else ""))
            lines.extend(" " * indent + more for more in why[1:])
    for r in result.refused:
        lines.append("refused %s: %s" % (r["filename"], r["reason"]))
    if result.unsigned_by_policy:
        lines.append("rpm enforces signatures (%%_pkgverify_level); unsigned but trusted by "
                     "provenance: %s" % ", ".join(result.unsigned_by_policy))
    if result.dnf5_state == dnf5.RECORDED:
        lines.append("dnf5: recorded the reasons in its state (dnf5 mark)")
    elif result.dnf5_state:
        lines.append("dnf5: warning: %s" % result.dnf5_state)
    lines.append(summary(result))
    return "\n".join(lines)


def summary(result):
    done = [i for i in result.items if i.outcome == "done" and i.action not in
            ("remove", "enable")]
    upgraded = [i for i in done if i.action == "upgrade"]
    broken = result.broken
    if result.dry_run:
        todo = [i for i in result.items if i.action in ("install", "upgrade")]
        text = "dry run: %d to install or upgrade" % len(todo)
    elif result.status == "nothing-to-do" and not result.items:
        text = "nothing to do: nothing to replay"
    elif result.status == "nothing-to-do":
        text = "nothing to do: every requested package is already in the root"
    elif result.status == "failed" and not done:
        text = "nothing was installed"
    else:
        text = "installed %s (%d upgraded)" % (count(len(done), "package"), len(upgraded))
    if broken:
        text += "; %d broken, cannot be installed%s" % (
            len(broken), "" if result.skip_broken
            else " (--skip-broken installs the rest)")
    enabled = [i.nevra for i in result.items if i.action == "enable"
               and (result.dry_run or i.outcome == "done")]
    if enabled:
        text += "; %s module stream%s %s" % ("would enable" if result.dry_run else "enabled",
                                             "s" if len(enabled) > 1 else "",
                                             ", ".join(enabled))
    if result.transaction_error:
        text += "; the transaction failed: %s" % " ".join(result.transaction_error.split())
    if result.keys_imported:
        text += "; imported keys %s" % ", ".join(result.keys_imported)
    if result.report_file:
        text += "; report %s" % os.path.join(result.root, result.report_file.lstrip("/"))
    return text
