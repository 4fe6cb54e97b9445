"""The push and pull subcommands of `persistrepo` (their options are in
persistrepo.front.subcommands): the server, repository, settings and credentials
they run with (persistrepo(8), dnf-persist(8))."""

import sys

from persistrepo.compat import stdlib
from persistrepo.errors import EXIT_OK, UsageError
from persistrepo.fleet import settings


def _say(line):
    stdlib.write_text(sys.stdout, line + "\n")
    sys.stdout.flush()


def _client_and_name(args):
    from persistrepo.fleet.pulp import Client
    conf = settings.load(args.config)
    server = args.server or conf.server
    if not server:
        raise UsageError("no Pulp server: pass --server URL or set server in the [fleet] "
                         "section of persist_rpm.conf")
    name = settings.check_repository(args.repository) if args.repository \
        else conf.repository_name()
    credentials = settings.read_credentials(conf.credentials, required=conf.credentials_set)
    return Client(server, credentials, conf.sslcacert, conf.sslverify,
                  conf.task_timeout), name


def cmd_push(store, args):
    from persistrepo.fleet.push import push
    client, name = _client_and_name(args)
    push(store, client, name, args.dry_run, _say)
    return EXIT_OK


def cmd_pull(store, args):
    from persistrepo.fleet.pull import pull
    client, name = _client_and_name(args)
    pull(store, client, name, args.dry_run, _say)
    return EXIT_OK

