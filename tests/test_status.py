"""persistrepo.front.status: the image manifest and how packages match it."""

import pytest

from persistrepo.errors import UsageError
from persistrepo.front import status


def pkg(name, epoch, version, release="1", arch="x86_64"):
    evr = "%s-%s" % (version, release)
    nevra = "%s-%s%s.%s" % (name, "%s:" % epoch if epoch else "", evr, arch)
    return {"name": name, "epoch": epoch, "version": version, "release": release,
            "arch": arch, "nevra": nevra}


def test_manifest_lines(tmp_path):
    path = tmp_path / "manifest"
    path.write_text("# rpm -qa of the image\n\n"
                    "bash-5.1-1.x86_64\n"
                    "kernel-2:4.18-1.x86_64   # with an epoch\n"
                    "vim-9.0-1.x86_64.rpm\n"
                    "gpg-pubkey-deadbeef-12345678\n")
    image = status.read_manifest(str(path))
    assert len(image) == 3
    assert image.source == "manifest %s" % path
    # a line without an epoch (as rpm -qa prints) matches any epoch
    assert image.contains(pkg("bash", 0, "5.1"))
    assert image.contains(pkg("bash", 3, "5.1"))
    assert image.contains(pkg("vim", 0, "9.0"))
    # a line with an epoch matches only that epoch
    assert image.contains(pkg("kernel", 2, "4.18"))
    assert not image.contains(pkg("kernel", 1, "4.18"))
    assert not image.contains(pkg("bash", 0, "5.2"))
    assert not image.contains(pkg("bash", 0, "5.1", arch="i686"))


def test_manifest_lines_in_every_form_dnf_prints(tmp_path):
    """dnf repoquery prints N-E:V-R.A, with epoch 0 too; yum and
    `rpm -q --qf '%{EPOCH}:%{NAME}-...'` print E:N-V-R.A."""
    path = tmp_path / "manifest"
    path.write_text("kernel-0:5.2-1.x86_64\n1:openssl-3.0-2.x86_64\nbash-5.1-1.x86_64\n")
    image = status.read_manifest(str(path))
    assert len(image) == 3
    assert image.contains(pkg("kernel", 0, "5.2"))
    assert image.contains(pkg("kernel", None, "5.2"))
    assert not image.contains(pkg("kernel", 1, "5.2"))
    assert image.contains(pkg("openssl", 1, "3.0", "2"))
    assert not image.contains(pkg("openssl", 0, "3.0", "2"))


@pytest.mark.parametrize("line", ["this is not a nevra", "bash", "bash-5.1.x86_64",
                                  "x:bash-5.1-1.x86_64", "bash-5.1-1.x86/64"])
def test_a_manifest_line_that_is_no_package_is_refused_with_its_number(tmp_path, line):
    path = tmp_path / "manifest"
    path.write_text("# image\nbash-5.1-1.x86_64\n%s\n" % line)
    with pytest.raises(UsageError, match=r"manifest line 3: .* is not a package"):
        status.read_manifest(str(path))


def test_manifest_and_root_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read the image manifest"):
        status.read_manifest(str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="not both"):
        status.image_packages(str(tmp_path / "m"), str(tmp_path))
    with pytest.raises(UsageError, match="no such directory"):
        status.image_packages(image_root=str(tmp_path / "nope"))


def test_no_image_information_for_another_root(tmp_path):
    # imgbased describes the running host only, never an --installroot
    assert status.image_packages(installroot=str(tmp_path)) is None
