"""The export manifest (`persistrepo export --format json`): a stable JSON
document of what an export carries, per package its NEVRA, checksum, reason,
origin, signer and module stream, plus its repos and keys. The format is
documented in docs/store-format.md, "Export manifest"; other tools (a Pulp
push, an image pipeline) build it with build().
"""

import json

from persistrepo import pgp
from persistrepo.export import context, plan

FORMAT = 1
PACKAGE_FIELDS = ("nevra", "name", "epoch", "version", "release", "arch", "filename",
                  "sha256", "size", "reason", "origin", "method", "persisted_at", "signed",
                  "key_id", "installonly")


def build(store, image_root=None, enablerepos=(), exclude=(), base_image=None):
    """The manifest of a Store as a dict; PersistError when a package cannot
    be exported (plan.select)."""
    return document(plan.select(store, image_root, enablerepos, exclude), base_image)


def _package(p):
    doc = dict((k, p.entry[k]) for k in PACKAGE_FIELDS)
    m = p.entry.get("module")
    doc.update(role=p.role, action=p.action, spec=p.spec(), repo=p.repo,
               unsigned_by_provenance=p.unsigned,
               module=dict((k, m[k]) for k in ("name", "stream", "version", "context", "arch"))
               if m else None)
    return doc


def document(export, base_image=None):
    return {
        "format": FORMAT,
        "store": export.store,
        "base": {"image": base_image, "image_root": export.image_root},
        "planned_by": export.planned_by,
        "packages": [_package(p) for p in export.packages],
        "modules": export.modules,
        "repos": [{"id": repo_id, "path": sub, "gpgcheck": repo_id == plan.REPO,
                   "packages": [p.entry["nevra"] for p in export.by_repo(repo_id)]}
                  for repo_id, sub in context.repo_ids(export)],
        "keys": [{"key_id": key_id, "file": context.key_file(key_id),
                  "ids": sorted(pgp.key_ids(armored)), "armored": armored}
                 for key_id, armored in sorted(export.keys.items())],
        "enablerepos": export.enablerepos,
        "from_enabled_repos": export.from_enabled_repos,
        "skipped": export.skipped,
        "excluded": export.excluded,
    }


def to_json(doc):
    return json.dumps(doc, indent=2, sort_keys=True)
