"""The persistrepo command as an admin uses it: patterns, JSON, dry runs,
questions in a terminal, restore, pipes that close early, terminal width."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios

import pytest

import persistrepo
from tests.support import bed
from tests.support.storebed import cli, cli_command, cli_env, listed, one_line_error, spoil


@pytest.fixture
def store(std_set, tmp_path):
    path = str(tmp_path / "store")
    res = cli("--store", path, "add", std_set.path("tool", "1.0"), std_set.path("libtool-dep"),
              std_set.path("multi", arch="x86_64"), std_set.path("multi", arch="i686"))
    assert res.returncode == 0, res.stderr
    return path


ALL = {"tool-1.0-1.noarch", "libtool-dep-1.0-1.noarch", "multi-1.0-1.x86_64",
       "multi-1.0-1.i686"}


def table_names(out):
    return set(line.split()[0] for line in out.splitlines()[1:])


@pytest.mark.parametrize("patterns,expected", [
    (["tool"], {"tool-1.0-1.noarch"}),
    (["multi.i686"], {"multi-1.0-1.i686"}),
    (["lib*"], {"libtool-dep-1.0-1.noarch"}),
    (["multi-1.0-1.x86_64", "tool-1.0"], {"multi-1.0-1.x86_64", "tool-1.0-1.noarch"}),
])
def test_list_filters_like_rpm_q(store, patterns, expected):
    res = cli("--store", store, "list", *patterns)
    assert res.returncode == 0 and table_names(res.stdout) == expected, res.stderr
    res = cli("--store", store, "list", "--json", *patterns)
    assert set(e["nevra"] for e in json.loads(res.stdout)) == expected


def test_list_pattern_matching_nothing(store):
    res = cli("--store", store, "list", "tool", "nosuch")
    assert res.returncode == 1 and table_names(res.stdout) == {"tool-1.0-1.noarch"}
    assert res.stderr == "persistrepo: package nosuch is not persisted\n"


def test_verify_json(store):
    res = cli("--store", store, "verify", "--json")
    doc = json.loads(res.stdout)
    assert res.returncode == 0
    assert doc == {"format": 1, "store": store, "ok": True, "problems": [],
                   "checked": {"packages": 4, "signatures": True}}
    os.unlink(os.path.join(store, "tool-1.0-1.noarch.rpm"))
    res = cli("--store", store, "verify", "--json")
    doc = json.loads(res.stdout)
    assert res.returncode == 1 and doc["ok"] is False
    assert {"kind": "missing", "subject": "tool-1.0-1.noarch.rpm",
            "package": "tool-1.0-1.noarch"} == dict((k, doc["problems"][0][k])
                                                    for k in ("kind", "subject", "package"))


def test_remove_and_prune_dry_run_change_nothing(store, std_set):
    assert cli("--store", store, "add", std_set.path("tool", "2.0")).returncode == 0
    before = listed(store)
    res = cli("--store", store, "remove", "--dry-run", "multi")
    assert res.returncode == 0
    assert res.stdout.split("\n")[:2] == ["would remove multi-1.0-1.i686",
                                          "would remove multi-1.0-1.x86_64"]
    res = cli("--store", store, "prune", "--dry-run")
    assert res.returncode == 0 and res.stdout == "would prune tool-1.0-1.noarch\n"
    assert listed(store) == before


def in_terminal(args, answer=None, columns=80, env=None):
    """Run persistrepo ARGS with a pseudo-terminal of the given width as its
    stdin and stdout; type answer; return (exit code, what it showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    environ = cli_env(env)
    environ.pop("COLUMNS", None)
    proc = subprocess.Popen(cli_command(*args), stdin=slave, stdout=slave, stderr=slave,
                            env=environ, close_fds=True)
    os.close(slave)
    if answer is not None:
        os.write(master, answer.encode() + b"\n")
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=60), out.decode().replace("\r\n", "\n")


def test_removing_several_asks_in_a_terminal(store):
    code, out = in_terminal(["--store", store, "remove", "multi"], answer="n")
    assert code == 1 and "Remove 2 packages? Is this ok [y/N]:" in out
    assert "Operation aborted." in out and set(listed(store)) == ALL
    code, out = in_terminal(["--store", store, "remove", "multi"], answer="y")
    assert code == 0 and "removed multi-1.0-1.i686" in out
    code, out = in_terminal(["--store", store, "remove", "-y", "tool", "libtool-dep"])
    assert code == 0 and "Is this ok" not in out and set(listed(store)) == set()
    res = cli("--store", store, "remove", "nosuch*")  # not a terminal: no question either
    assert res.returncode == 1


def test_restore_brings_back_the_file_with_its_provenance(store, std_set, tmp_path):
    local = tmp_path / "unsigned-1.0-1.noarch.rpm"
    local.write_bytes(open(std_set.path("unsigned"), "rb").read())
    assert cli("--store", store, "add", "--origin", "@commandline", local).returncode == 0
    before = listed(store)["unsigned-1.0-1.noarch"]
    assert cli("--store", store, "remove", "unsigned").returncode == 0
    res = cli("--store", store, "list", "--removed", "--json")
    assert [e["nevra"] for e in json.loads(res.stdout)] == ["unsigned-1.0-1.noarch"]
    res = cli("--store", store, "restore", "unsigned")
    assert res.returncode == 0 and "restored unsigned-1.0-1.noarch" in res.stdout
    assert listed(store)["unsigned-1.0-1.noarch"] == before
    assert cli("--store", store, "verify").returncode == 0
    res = cli("--store", store, "restore", "unsigned")
    assert res.returncode == 1 and "no removed package matches" in one_line_error(res)


def test_only_the_newest_removals_are_kept(store, builder):
    paths = [builder.build("churn", "1.%d" % i) for i in range(12)]
    for path in paths:
        assert cli("--store", store, "add", path).returncode == 0
        assert cli("--store", store, "remove", "churn").returncode == 0
    kept = json.loads(cli("--store", store, "list", "--removed", "--json").stdout)
    assert [e["version"] for e in kept] == ["1.%d" % i for i in range(11, 1, -1)]


def closed_pipe_run(*args):
    """Run persistrepo with stdout on a pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run(cli_command(*args), stdout=write, stderr=subprocess.PIPE,
                          universal_newlines=True, env=cli_env(), timeout=120)
    os.close(write)
    return proc


def test_a_reader_that_goes_away_is_not_an_error(store, tmp_path):
    res = closed_pipe_run("--store", store, "list")
    assert (res.returncode, res.stderr) == (0, "")
    root = bed.make_root(tmp_path / "root")
    res = closed_pipe_run("replay", "--installroot", root, "--store", store, "--dry-run")
    assert (res.returncode, res.stderr) == (0, "")


@pytest.mark.parametrize("closed", [(1,), (1, 2), (0, 1, 2)])
def test_a_command_started_without_its_standard_streams_still_works(store, std_set, closed):
    """Started with standard fds closed (by a careless caller), the command
    still persists, says nothing and leaves a sound store: no file of the
    store took a closed fd's number, where stderr would write into it."""
    res = subprocess.run(cli_command("--store", store, "add", std_set.path("tool", "2.0")),
                         env=cli_env(), preexec_fn=lambda: [os.close(fd) for fd in closed])
    assert res.returncode == 0
    assert "tool-2.0-1.noarch" in listed(store)
    assert cli("--store", store, "verify").returncode == 0


def test_the_table_fits_the_terminal(store):
    wide = cli("--store", store, "list").stdout
    assert max(len(l) for l in wide.splitlines()) > 60
    res = cli("--store", store, "list", env={"COLUMNS": "60"})
    assert max(len(l) for l in res.stdout.splitlines()) <= 60
    assert table_names(res.stdout) == ALL
    code, out = in_terminal(["--store", store, "list"], columns=58)
    assert code == 0 and max(len(l) for l in out.splitlines()) <= 58, out
    assert table_names(out) == ALL
    # narrower than all columns: they go, but never the package names
    res = cli("--store", store, "list", env={"COLUMNS": "40"})
    assert max(len(l) for l in res.stdout.splitlines()) <= 40, res.stdout
    assert table_names(res.stdout) == ALL


@pytest.mark.parametrize("columns", [80, 50])
def test_the_replay_table_fits_the_terminal(store, tmp_path, columns):
    root = bed.make_root(tmp_path / "root")
    res = cli("replay", "--dry-run", "--installroot", root, "--store", store,
              env={"COLUMNS": str(columns)}, tool=True)
    assert res.returncode == 0, res.stderr
    table = [l for l in res.stdout.splitlines() if l.startswith("  ")]
    assert len(table) > 4 and max(len(l) for l in table) <= columns, res.stdout
    assert "absent from the root" in " ".join(" ".join(table).split())


def test_counts_are_words_and_the_report_is_a_host_path(store, std_set, tmp_path):
    one = str(tmp_path / "one")
    assert cli("--store", one, "add", std_set.path("unsigned")).returncode == 0
    assert "ok: 1 package verified" in cli("--store", one, "verify").stdout
    root = bed.make_root(tmp_path / "root")
    res = cli("replay", "--installroot", root, "--store", one)
    assert res.returncode == 0 and "installed 1 package (0 upgraded)" in res.stdout
    report = res.stdout.rsplit("; report ", 1)[1].strip()
    assert report.startswith(os.path.join(root, "var/log/persistrepo/replay-"))
    assert os.path.isfile(report)


def test_ingest_says_when_there_is_nothing_and_refuses_a_missing_root(store, tmp_path):
    res = cli("--store", store, "ingest")
    assert res.returncode == 0
    assert res.stdout == "nothing to ingest: no request waits in %s\n" % os.path.join(
        store, ".persistrepo", "incoming")
    res = cli("--store", store, "ingest", "--installroot", tmp_path / "nonexist")
    assert res.returncode == 2
    assert "--installroot %s is not a directory" % (tmp_path / "nonexist") in one_line_error(res)


def test_config_given_a_directory_names_the_file_it_wants(store, tmp_path):
    res = cli("--config", tmp_path, "list")
    assert res.returncode == 2
    assert "--config %s is a directory; give the config file" % tmp_path in one_line_error(res)


def test_version():
    res = cli("--version")
    assert res.returncode == 0 and res.stdout == "persistrepo %s\n" % persistrepo.__version__


@pytest.mark.parametrize("args", [["--store", "add", "bogus"], ["bogus"], ["list", "add", "--bogus"]])
def test_a_usage_error_names_every_subcommand(args):
    """The parser made for the subcommands a command line names says a usage
    error as the full parser does: with every subcommand, even when the
    line names one (here as --store's value)."""
    from persistrepo.front import subcommands
    res = cli(*args)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    offered = [c.name for c in subcommands.offered("persistrepo")]
    if args[0] == "list":
        assert res.stderr.splitlines()[-1] == "persistrepo: error: unrecognized arguments: --bogus"
    else:
        assert "invalid choice: 'bogus' (choose from %s)" % ", ".join(
            repr(n) for n in offered) in res.stderr


def test_help_before_a_subcommand_lists_them_all():
    from persistrepo.front import subcommands
    res = cli("-h", "add")
    assert res.returncode == 0
    for command in subcommands.offered("persistrepo"):
        assert "    %s" % command.name in res.stdout


def in_dir(cwd, *args):
    return subprocess.run(cli_command(*args), cwd=str(cwd), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          env=cli_env(tool=True))


def test_relative_paths_mean_what_absolute_ones_do(store, tmp_path):
    """Every path option is resolved against the working directory once."""
    bed.make_root(tmp_path / "new1")
    bed.make_root(tmp_path / "img")
    relative = in_dir(tmp_path, "--store", "store", "status", "--installroot", "new1",
                      "--image-root", "img", "--json")
    absolute = in_dir("/", "--store", store, "status", "--installroot", tmp_path / "new1",
                      "--image-root", tmp_path / "img", "--json")
    assert relative.returncode == absolute.returncode == 100, relative.stderr
    assert relative.stdout == absolute.stdout
    doc = json.loads(relative.stdout)
    assert doc["installed"] == 1 and doc["image"]["packages"] == 1
    assert doc["unpersisted"] == []
    # global options after the subcommand, too
    after = in_dir(tmp_path, "status", "--installroot", "new1", "--image-root", "img",
                   "--json", "--store", "store")
    assert after.stdout == absolute.stdout, after.stderr
    res = in_dir(tmp_path, "list", "--store", "store", "--json")
    assert res.returncode == 0 and len(json.loads(res.stdout)) == 4


def test_refresh_says_what_it_did_to_a_corrupt_file(store):
    """A file refresh cannot use is set aside, not 'gone'."""
    path = os.path.join(store, "tool-1.0-1.noarch.rpm")
    with open(path, "rb") as f:
        data = f.read(200)
    with open(path + ".new", "wb") as f:  # a new inode: the store may hardlink the bed's file
        f.write(data)
    os.rename(path + ".new", path)
    res = cli("--store", store, "refresh")
    assert res.returncode == 1
    assert "file is gone" not in res.stdout
    [line] = [l for l in res.stdout.splitlines() if "tool-1.0-1.noarch" in l]
    assert line.startswith("forgot tool-1.0-1.noarch: its file is unusable, set "
                           "aside as .persistrepo/quarantine/"), line
    os.unlink(os.path.join(store, "multi-1.0-1.i686.rpm"))
    res = cli("--store", store, "refresh")
    assert "forgot multi-1.0-1.i686 (its file is gone)" in res.stdout


def test_list_names_the_command_that_clears_the_queue(store):
    """ingest takes in requests; what is no request only refresh sets aside."""
    incoming = os.path.join(store, ".persistrepo", "incoming")
    os.makedirs(incoming, exist_ok=True)
    with open(os.path.join(incoming, "garbage.json"), "w") as f:
        f.write("not json")
    res = cli("--store", store, "list")
    [advice] = [l for l in res.stdout.splitlines() if "incoming" in l]
    assert "no request" in advice and "ingest" not in advice, advice
    fix = advice.split("run '", 1)[1].split("'", 1)[0]
    assert fix == "persistrepo --store %s refresh" % store
    assert cli(*fix.split()[1:]).returncode == 1  # it set the file aside, and says so
    res = cli("--store", store, "list")
    assert "incoming" not in res.stdout


def test_dnf5_persist_takes_the_global_store(store):
    """`persistrepo --store S dnf5-persist list` lists S, as --store after it."""
    for args in (["--store", store, "dnf5-persist", "--json", "--", "list"],
                 ["dnf5-persist", "--store", store, "--json", "--", "list"]):
        res = cli(*args)
        assert res.returncode == 0, res.stderr
        assert set(e["nevra"] for e in json.loads(res.stdout)) == ALL


def test_warnings_of_each_write_reach_the_admin(store, std_set):
    """What a write leaves out of the repodata is said by add, remove, prune
    and restore, and the rest goes on; restore says what it had nothing to do for."""
    left_out = spoil(store, "multi-1.0-1.i686")
    res = cli("--store", store, "add", std_set.path("unsigned"))
    assert res.returncode == 0, res.stderr
    assert "persistrepo: warning: %s" % left_out in res.stderr, res.stderr
    assert "persisted unsigned-1.0-1.noarch" in res.stdout
    res = cli("--store", store, "remove", "unsigned")
    assert res.returncode == 0 and "persistrepo: warning: %s" % left_out in res.stderr
    assert cli("--store", store, "add", std_set.path("tool", "2.0")).returncode == 0
    res = cli("--store", store, "prune")
    assert res.returncode == 0 and "pruned tool-1.0-1.noarch" in res.stdout
    assert "persistrepo: warning: %s" % left_out in res.stderr
    res = cli("--store", store, "restore", "tool-1.0-1.noarch")
    assert res.returncode == 0 and "persistrepo: warning: %s" % left_out in res.stderr
    assert cli("--store", store, "remove", "tool-1.0-1.noarch").returncode == 0
    assert cli("--store", store, "add", std_set.path("tool", "1.0")).returncode == 0
    res = cli("--store", store, "restore", "tool-1.0-1.noarch")
    assert res.returncode == 0
    assert "persistrepo: warning: tool-1.0-1.noarch is persisted already (the same build)" \
        in res.stderr, res.stderr


def test_status_says_what_replay_s_dry_run_could_not_use(tmp_path, std_set):
    """A kept key others may write is not used: status, whose verdicts come
    from replay's dry run, says so as replay itself does."""
    store = str(tmp_path / "store")
    res = cli("--store", store, "add", "--key", std_set.key.pubkey, std_set.path("signed"))
    assert res.returncode == 0, res.stderr
    [key] = os.listdir(os.path.join(store, ".persistrepo", "keys"))
    key = os.path.join(store, ".persistrepo", "keys", key)
    os.chmod(key, 0o666)
    root = bed.make_root(tmp_path / "root")
    res = cli("--store", store, "status", "--installroot", root)
    assert res.returncode == 100, res.stderr
    assert "persistrepo: warning: %s is owned by uid 0 or writable by others" % key \
        in res.stderr, res.stderr
