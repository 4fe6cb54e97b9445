"""A store's place on a Pulp server (docs/fleet.md, "Server layout"):

- the pulp_rpm repository NAME, published automatically, keeping every
  version of a package (retain_package_versions 0), and its distribution
  NAME at base path persistrepo/NAME, which dnf and Katello can consume;
- the pulp_file repository NAME-provenance holding manifest.json, and its
  distribution at persistrepo/NAME-provenance.
"""

from persistrepo.fleet.errors import Failed
from persistrepo.fleet.manifest import FILENAME
from persistrepo.fleet.pulp import API

PROVENANCE_SUFFIX = "-provenance"
BASE_PATH = "persistrepo/%s"
PACKAGE_FIELDS = "pulp_href,name,epoch,version,release,arch,sha256"


class Kind(object):
    """One plugin's repository, distribution and content endpoints."""

    def __init__(self, plugin, content, repository_fields):
        self.repositories = "repositories/%s/%s/" % (plugin, plugin)
        self.distributions = "distributions/%s/%s/" % (plugin, plugin)
        self.content = content
        self.repository_fields = repository_fields


RPM = Kind("rpm", "content/rpm/packages/", {"autopublish": True, "retain_package_versions": 0})
FILE = Kind("file", "content/file/files/", {"autopublish": True})


class Place(object):
    """One repository of one kind on the server, as found (href None when
    it does not exist yet)."""

    def __init__(self, client, kind, name):
        self.client, self.kind, self.name = client, kind, name
        found = client.first(kind.repositories, name=name)
        self.href = found["pulp_href"] if found else None
        self.latest = found["latest_version_href"] if found else None

    @property
    def version(self):
        """The latest version's number (0 for a new or absent repository)."""
        return int(self.latest.rstrip("/").rsplit("/", 1)[1]) if self.latest else 0

    def create(self):
        """Make the repository and its distribution where they are missing."""
        if self.href is None:
            made = self.client.call(API + self.kind.repositories, "POST",
                                    dict(self.kind.repository_fields, name=self.name))
            self.href, self.latest = made["pulp_href"], made["latest_version_href"]
        if self.client.first(self.kind.distributions, name=self.name) is None:
            self.client.wait(self.client.call(
                API + self.kind.distributions, "POST",
                {"name": self.name, "base_path": BASE_PATH % self.name,
                 "repository": self.href}), "create the distribution %s" % self.name)

    def content(self, **filters):
        """The content units of the latest version (none for a new one)."""
        if self.latest is None:
            return []
        return self.client.list(self.kind.content, repository_version=self.latest, **filters)

    def modify(self, add, remove, overwrite):
        """One new version: the latest one, less remove, plus add; its number."""
        task = self.client.wait(self.client.call(self.href + "modify/", "POST", {
            "add_content_units": add, "remove_content_units": remove,
            "base_version": self.latest, "overwrite": overwrite}),
            "modify %s" % self.name)
        versions = [h for h in task.get("created_resources") or [] if "/versions/" in h]
        if not versions:
            raise Failed("Pulp task %s made no new version of %s" % (task["pulp_href"],
                                                                     self.name))
        self.latest = versions[0]
        return self.version

    def base_url(self):
        """Where the content app serves the published repository."""
        found = self.client.first(self.kind.distributions, name=self.name)
        if found is None or not found.get("base_url"):
            raise Failed("%s has no distribution %s; run 'persistrepo push' from a host "
                         "to make it" % (self.client.server, self.name))
        return found["base_url"].rstrip("/") + "/"


def places(client, name):
    """(packages, provenance) of the repository NAME."""
    return Place(client, RPM, name), Place(client, FILE, name + PROVENANCE_SUFFIX)


def manifest_unit(provenance):
    """The manifest's content unit in the provenance repository, or None."""
    found = provenance.content(relative_path=FILENAME)
    return found[0] if found else None


def nevra_key(unit):
    """(name, epoch, version, release, arch) of a package unit or an entry."""
    return (unit["name"], int(unit["epoch"] or 0), unit["version"], unit["release"],
            unit["arch"])
