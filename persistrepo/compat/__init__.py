"""The rpm, createrepo_c, dnf and Python bindings as persistrepo uses them:
every difference between the versions it runs on, one module per thing
wrapped (docs/testing.md names the stacks that test each branch).

- strings: strings the bindings give as bytes;
- headers: reading a package's header, its NEVRA, digests and signer;
- signatures: rpm's verdict on signatures, keys to check them, the verify level;
- rpmdb: a root's rpm database;
- versions: rpm's version order;
- dnfapi: dnf's and libdnf's Python API;
- decompress: the compressions of repo metadata;
- stdlib: where Python 2.7's standard library differs.

Python 2.7 compatible.
"""
