"""The mmap threshold stays fixed: a buffer freed does not move the next ones into the heap.

Each case runs in its own interpreter (malloc's state is per process). glibc's ``mallinfo2``
counts the blocks served by ``mmap`` (``hblks``): after a 1 MiB block is freed, glibc's dynamic
rule serves a 300 KiB block from the heap; with the threshold fixed it is mapped as well.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
from mongo_lifeboat.memory import keep_big_buffers_mapped
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
if sys.argv[1] == "fixed":
    assert keep_big_buffers_mapped()
libc.free(ctypes.c_void_p(libc.malloc(1 << 20)))
before = libc.mallinfo2().hblks
block = libc.malloc(300 * 1024)
print(libc.mallinfo2().hblks - before)
libc.free(ctypes.c_void_p(block))
"""


def _mapped_after_a_free(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_a_fixed_threshold_keeps_mapping_big_buffers_after_one_is_freed() -> None:
    assert _mapped_after_a_free("dynamic") == 0  # glibc's own rule: the next one is carved from the heap
    assert _mapped_after_a_free("fixed") == 1
