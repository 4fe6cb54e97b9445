"""Decompressing repo metadata: Python 3.14's compression.zstd reads zstd,
older Pythons run the zstd tool; Python 2.7 has no lzma. Python 2.7
compatible.
"""

import contextlib
import os


@contextlib.contextmanager
def decompressing(f, suffix):
    """Binary file f as a stream read(n) decompresses as its name's suffix
    (.gz, .bz2, .xz, .zst; anything else is read as it is) says, or None if
    zstd is neither in compression.zstd nor the zstd tool. A damaged stream
    raises its decompressor's own error (ValueError for the zstd tool)."""
    if suffix in (".gz", ".bz2", ".xz"):
        import bz2
        import gzip
        import lzma  # novm
        opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[suffix]  # novm
        with opener(f) as z:
            yield z
    elif suffix == ".zst":
        try:
            from compression import zstd  # novm
        except ImportError:
            zstd = None
        if zstd is not None:
            with zstd.ZstdFile(f) as z:
                yield z
        else:
            with _ZstdTool(f) as z:
                yield z if z.proc is not None else None
    else:
        yield f


class _ZstdTool(object):
    """`zstd -dc` as a stream; at its end, a failed decompression is a ValueError."""

    def __init__(self, f):
        import subprocess  # only here: every command imports this module
        try:
            with open(os.devnull, "wb") as null:
                self.proc = subprocess.Popen(["zstd", "-dcq"], stdin=f,
                                             stdout=subprocess.PIPE, stderr=null)
        except OSError:
            self.proc = None

    def read(self, n):
        data = self.proc.stdout.read(n)
        if len(data) < n and self.proc.wait() != 0:
            raise ValueError("zstd cannot decompress it")
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            if self.proc.poll() is None:  # the reader stopped early
                self.proc.kill()
            self.proc.stdout.close()
            self.proc.wait()
