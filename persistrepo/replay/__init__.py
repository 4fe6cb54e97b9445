"""Replay the persisted packages into a new image layer (docs/replay.md).

run: the replay itself, replay(new_root, store); plan: what to install and
why; trust: which stored files may be installed; modules: module state
first; mounts: the new root's /proc, /sys, /dev and /run for the
transaction; history: dnf's history of the new root, written aside and
moved in once; report: the report, its JSON and text; dnf5: dnf5's own
record of the replayed packages.
"""

from persistrepo.replay.run import ReplayResult, replay  # noqa: F401 (the API)
