"""`persistrepo export` (persistrepo(8), docs/image-mode.md); its options are
in persistrepo.front.subcommands."""

import os
import re

from persistrepo import bootc, words
from persistrepo.errors import UsageError
from persistrepo.front import commands

_REPO_ID = re.compile(r"[A-Za-z0-9_.:-]+\Z")


def _base_image(args):
    if args.base_image:
        if not bootc.REFERENCE.match(args.base_image):
            raise UsageError("--from %r is not an image reference" % args.base_image)
        return args.base_image
    if not bootc.is_image_mode_host():
        raise UsageError("give --from IMAGE: this is not an image-mode host (%s is missing), "
                         "so there is no booted image to build on" % bootc.OSTREE_BOOTED)
    return bootc.booted_image(bootc.status())


def run(store, args):
    """A commands.Printed for `persistrepo export`."""
    # Imported here: the parser is built on EL7's Python 2.7 too, where the
    # replay planner that export uses cannot be imported.
    from persistrepo.export import containerfile, context, kickstart, manifest, plan
    for repo_id in args.enablerepo:
        if not _REPO_ID.match(repo_id):
            raise UsageError("--enablerepo %r is not a repo id" % repo_id)
    needs_dir = args.format != "json"
    if needs_dir != bool(args.directory):
        raise UsageError("--format %s %s a DIR" % (args.format, "needs" if needs_dir
                                                    else "prints to standard output; give no"))
    out = commands.Printed()
    export = plan.select(store, args.image_root, args.enablerepo, args.exclude)
    if args.format == "json":
        out.lines.append(manifest.to_json(manifest.document(export, args.base_image)))
        return out
    if args.format == "containerfile":
        base = _base_image(args)
        where = context.write(export, args.directory, containerfile.files(export, base))
        out.lines.append("wrote %s: %s, %s" % (
            where, words.count(len(export.requested()), "requested package"),
            words.count(len(export.packages) - len(export.requested()), "dependency",
                        "dependencies")))
        out.lines.append("build it with: podman build -t IMAGE %s" % where)
    else:
        where = os.path.abspath(args.directory)
        url = (args.baseurl or "file://" + where).rstrip("/")
        ks = kickstart.text(export, url)
        context.write(export, where, {"persistrepo.ks": ks})
        out.lines.append(ks.rstrip("\n"))
    if export.planned_by == plan.PLANNED_NO_DOWNGRADE:
        out.warnings.append("no --image-root: requested packages are asked for by name, so a "
                            "newer version in the base stays and an older one is upgraded; "
                            "give --image-root to install exactly what replay would")
    return out
