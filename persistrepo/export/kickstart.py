"""The kickstart of an export (docs/image-mode.md): `repo` lines for the
context's repos, `module` lines, a %packages section, and a %post that keeps
the signing keys in the installed system's rpmdb. Anaconda does not check
signatures of kickstart repos; the keys make every later dnf run do so.
"""

from persistrepo.export import context

KEY_DIR = "/etc/pki/rpm-gpg"


def text(export, base_url):
    lines = ["# persistrepo export --format kickstart: the persisted packages of %s"
             % export.store]
    for repo_id, sub in context.repo_ids(export):
        lines.append("repo --name=%s --baseurl=%s/%s" % (repo_id, base_url, sub))
        if repo_id != "persistrepo-export":
            lines += ["# %s is unsigned, kept by provenance: %s" % (p.entry["nevra"], p.unsigned)
                      for p in export.by_repo(repo_id)]
    lines += ["module --name=%s --stream=%s" % (m["name"], m["stream"])
              for m in export.modules]
    lines.append("")
    lines.append("%packages")
    lines += [p.spec() for p in export.requested()]
    lines.append("%end")
    if export.keys:
        lines += ["", "%post --erroronfail"]
        for key_id, armored in sorted(export.keys.items()):
            path = "%s/RPM-GPG-KEY-persistrepo-%s" % (KEY_DIR, key_id)
            lines += ["cat > %s <<'PERSISTREPO_KEY'" % path, armored.strip(),
                      "PERSISTREPO_KEY", "rpm --import %s" % path]
        lines.append("%end")
    return "\n".join(lines) + "\n"
