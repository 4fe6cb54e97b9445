"""Fleets: push a host's store to a Pulp 3 server, pull it onto another host
(docs/fleet.md)."""
