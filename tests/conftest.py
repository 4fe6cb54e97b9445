"""Shared fixtures built on tests/support/bed.py (real rpm, dnf, createrepo_c, gpg)."""

import os

import pytest
import rpm

from tests.support import bed


@pytest.fixture(scope='session', autouse=True)
def fedora_rpmdb_path():
    """Make rpm use %_dbpath /var/lib/rpm everywhere during the session.

    Debian's default is ~/.rpmdb.  Sets HOME to bed.rpm_home() (whose
    .rpmmacros fixes it for rpm/dnf subprocesses, including those started
    by code under test) and pushes the macro for in-process rpm bindings.
    """
    old_home = os.environ.get('HOME')
    os.environ['HOME'] = bed.rpm_home()
    rpm.addMacro('_dbpath', bed.DBPATH)
    yield bed.DBPATH
    rpm.delMacro('_dbpath')
    if old_home is None:
        del os.environ['HOME']
    else:
        os.environ['HOME'] = old_home


@pytest.fixture(scope='session')
def builder(tmp_path_factory):
    """Session-wide caching RPM builder (bed.Builder)."""
    return bed.Builder(tmp_path_factory.mktemp('rpms'))


@pytest.fixture(scope='session')
def gpg_key(tmp_path_factory):
    """Session-wide throw-away signing key (bed.GpgKey)."""
    key = bed.GpgKey(tmp_path_factory.mktemp('gpg'))
    yield key
    key.close()


@pytest.fixture(scope='session')
def std_set(builder, gpg_key, tmp_path_factory):
    """The standard package set and its repo (bed.StandardSet). Read-only."""
    return bed.StandardSet(builder, gpg_key,
                           tmp_path_factory.mktemp('std') / 'repo')


@pytest.fixture
def root(tmp_path):
    """A fresh, empty install root (str path) ready for bed.run_dnf."""
    return bed.make_root(tmp_path / 'root')


@pytest.fixture
def http_serve():
    """Factory: http_serve(directory) -> running bed.HttpServer; all servers
    are shut down at teardown."""
    servers = []

    def serve(directory):
        servers.append(bed.HttpServer(directory))
        return servers[-1]

    yield serve
    for server in servers:
        server.close()
