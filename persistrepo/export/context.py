"""The directory an export writes: the packages as createrepo_c repos (signed
ones in repo/, unsigned ones kept by provenance in unsigned/), their signing
keys in keys/, the dnf repo definitions in repos.d/, and the Containerfile or
kickstart (docs/image-mode.md, "The build context")."""

import os
import shutil
import tempfile

from persistrepo import fsutil
from persistrepo.errors import PersistError, UsageError
from persistrepo.export import plan
from persistrepo.front.advice import Front
from persistrepo.store import modulemd, repodata
from persistrepo.store.layout import Layout

REPO_DIRS = ((plan.REPO, "repo"), (plan.UNSIGNED_REPO, "unsigned"))
KEYS_DIR = "keys"
REPOS_DIR = "repos.d"
REPO_FILE = "persistrepo-export.repo"


def key_file(key_id):
    return "%s/%s.asc" % (KEYS_DIR, key_id)


def repo_ids(export):
    """(repo id, directory in the context) of the repos the export fills."""
    return [(repo_id, sub) for repo_id, sub in REPO_DIRS if export.by_repo(repo_id)]


def repo_definitions(export, base_url):
    """The .repo text for the export's repos with the context at base_url."""
    blocks = []
    for repo_id, sub in repo_ids(export):
        lines = ["[%s]" % repo_id, "baseurl=%s/%s" % (base_url, sub)]
        if repo_id == plan.REPO:
            lines += ["name=persistrepo export: signed packages", "gpgcheck=1"]
            if export.keys:
                lines.append("gpgkey=%s" % " ".join(
                    "%s/%s" % (base_url, key_file(k)) for k in sorted(export.keys)))
        else:
            lines += ["name=persistrepo export: unsigned packages kept by provenance",
                      "gpgcheck=0"]
        lines += ["repo_gpgcheck=0", "enabled=1"]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


class _RepoDir(object):
    """The paths repodata.write needs, for a repo in the context."""

    def __init__(self, root, tmp):
        self.root = root
        self.repodata = os.path.join(root, "repodata")
        self.tmp = tmp


def write(export, directory, files):
    """Write the context into directory (new or empty), plus files ({name:
    text}); it appears whole or not at all."""
    directory = os.path.abspath(directory)
    if os.path.islink(directory) or (os.path.lexists(directory) and (
            not os.path.isdir(directory) or os.listdir(directory))):
        raise UsageError("%s exists and is not an empty directory; give a new one" % directory)
    parent = os.path.dirname(directory)
    if not os.path.isdir(parent):
        raise UsageError("%s does not exist; create it or give another DIR" % parent)
    work = tempfile.mkdtemp(prefix=".persistrepo-export-", dir=parent)
    try:
        os.chmod(work, 0o755)
        _fill(export, work)
        for name, text in sorted(files.items()):
            if not os.path.isdir(os.path.dirname(os.path.join(work, name))):
                os.mkdir(os.path.dirname(os.path.join(work, name)))
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        if os.path.isdir(directory):
            os.rmdir(directory)
        os.rename(work, directory)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return directory


def _fill(export, work):
    layout = Layout(export.store)
    scratch = os.path.join(work, ".tmp")
    os.mkdir(scratch)
    for repo_id, sub in repo_ids(export):
        packages = export.by_repo(repo_id)
        repo = os.path.join(work, sub)
        os.makedirs(os.path.join(repo, "repodata"))
        docs = []
        for p in packages:
            name = p.entry["filename"]
            _copy(layout.package(name), os.path.join(repo, name), p.entry, export.store)
            docs.append(repodata.make_chunks(os.path.join(repo, name), name))
        repodata.write(_RepoDir(repo, scratch), docs, 1,
                       modulemd.yaml([p.entry for p in packages]))
    os.rmdir(scratch)
    if export.keys:
        os.mkdir(os.path.join(work, KEYS_DIR))
        for key_id, armored in sorted(export.keys.items()):
            with open(os.path.join(work, key_file(key_id)), "w") as f:
                f.write(armored)


def _copy(src, dst, entry, store_root):
    """Copy a stored package of the store at store_root and prove the copy is
    the file its record names."""
    fd = fsutil.open_store_file(src)
    try:
        with os.fdopen(os.dup(fd), "rb") as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)
    finally:
        os.close(fd)
    out_fd = os.open(dst, os.O_RDONLY)
    try:
        size, sha256 = os.fstat(out_fd).st_size, fsutil.sha256_fd(out_fd)
    finally:
        os.close(out_fd)
    if (sha256, size) != (entry["sha256"], entry["size"]):
        raise PersistError("%s changed while it was exported (sha256 %s, the record says %s); "
                           "run '%s'" % (src, sha256, entry["sha256"],
                                         Front.persistrepo(store_root, "verify")))
    os.chmod(dst, 0o644)
