#!/usr/bin/python3
"""The kernels an OpenBLAS library runs in this environment, as "0.3.21 Haswell" (its version and
openblas_get_corename, which OPENBLAS_CORETYPE decides where it is set).

    /usr/bin/python3 kat-bench/peer/openblas_core.py LIBRARY.so   # prints it, or "unknown"
"""
import ctypes
import sys


def describe(path):
    """Version and core name of the OpenBLAS at path, or None where it is not one."""
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    if not hasattr(lib, "openblas_get_corename"):
        return None
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    return f"{lib.openblas_get_config().decode().split()[1]} {lib.openblas_get_corename().decode()}"


if __name__ == "__main__":
    print((describe(sys.argv[1]) if len(sys.argv) > 1 else None) or "unknown")
