"""Float32 error of melora against plain float32 PyTorch, both measured against a
float64 reference computed from the same inputs (make bench-accuracy).

1. The paper's shapes (T = 1200, n = m = 4096, r = 8 and 64): LoRA's z, u, dx, dA, dB and
   Me-LoRA's dM (one C per batch), relative error max|err| / max|ref| per tensor.
2. Long batches (n = m = 16, r = 8, T = 1200 ... 1,048,576): the gradients that sum
   over T (dA, dB, dM), where a float running sum loses precision first.

Needs PyTorch (Debian's python3-torch) and build/libmelora.so (make lib)."""
import ctypes
import os
import sys

import numpy as np
import torch

# the declarations generated from melora.h (python/melora/_api.py); the library is found as
# the PyTorch bridge finds it ($MELORA_LIB, else build/libmelora.so)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from melora import _api, _lib  # noqa: E402

LIB = _lib.lib
byref = ctypes.byref


def ptr(a):
    return None if a is None else a.ctypes.data


def work(op, d):
    """A melora_work of the size melora_workspace_size reports; the array travels with it."""
    b = ctypes.c_size_t(0)
    assert LIB.melora_workspace_size(byref(b), op, d) == 0
    buf = np.zeros(b.value // 4 + 16, np.float32)
    return _api.melora_work(ptr(buf), buf.nbytes), buf


def rel(a, ref):
    return float(np.max(np.abs(a.astype(np.float64) - ref)) / np.max(np.abs(ref)))


def step(T, n, m, r, seed):
    """One LoRA forward + backward and one Me-LoRA dM, by melora, torch and float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, n)).astype(np.float32)
    dz = rng.standard_normal((T, m)).astype(np.float32)
    A = (rng.standard_normal((r, n)) / np.sqrt(n)).astype(np.float32)
    B = (rng.standard_normal((m, r)) / np.sqrt(r)).astype(np.float32)
    s = np.float32(16.0 / r)
    fs = float(s)
    z = np.zeros((T, m), np.float32)
    u = np.zeros((T, r), np.float32)
    d = _api.melora_dims(T, n, m, r)
    sv = _api.melora_lora_saved(ptr(x), ptr(u))
    p = _api.melora_lora_params(ptr(A), ptr(B), s)
    w, wbuf = work(_api.OP_LORA_FORWARD, d)
    assert LIB.melora_lora_forward(ptr(z), byref(sv), w, byref(p), d) == 0
    dx = np.zeros((T, n), np.float32)
    dA = np.zeros((r, n), np.float32)
    dB = np.zeros((m, r), np.float32)
    w, wbuf = work(_api.OP_LORA_BACKWARD, d)
    assert LIB.melora_lora_backward(ptr(dx), byref(_api.melora_lora_grads(ptr(dA), ptr(dB))),
                                    byref(sv), w, ptr(dz), byref(p), d) == 0
    # Me-LoRA's dM with C = I, whose v equals u
    C = np.eye(r, dtype=np.float32)
    H = np.full((r, r), 0.1, np.float32)
    EC = np.zeros((1, r, r), np.float32)
    dM = np.zeros((r, r), np.float32)
    dx2 = np.zeros((T, n), np.float32)
    w, wbuf = work(_api.OP_MELORA_BACKWARD, d)
    assert LIB.melora_melora_backward(
        ptr(dx2), byref(_api.melora_melora_grads(dM=ptr(dM))),
        byref(_api.melora_melora_saved(ptr(x), ptr(u), ptr(u))), w, ptr(dz),
        byref(_api.melora_melora_params(ptr(A), ptr(B), None, ptr(H), s)),
        byref(_api.melora_melora_draw(ptr(C), ptr(EC), 1)), d) == 0
    del wbuf
    tx, tdz, tA, tB, tu0 = (torch.from_numpy(a) for a in (x, dz, A, B, u))
    tu = tx @ tA.T
    tz = fs * (tu @ tB.T)
    tdu = fs * (tdz @ tB)
    got = {"z": (z, tz), "u": (u, tu), "dx": (dx, tdu @ tA), "dA": (dA, tdu.T @ tx),
           "dB": (dB, fs * (tdz.T @ tu0)), "dM": (dM, tdu.T @ tu0)}
    xd, dzd, Ad, Bd, ud0 = (a.astype(np.float64) for a in (x, dz, A, B, u))
    ud = xd @ Ad.T
    dud = fs * dzd @ Bd
    ref = {"z": fs * ud @ Bd.T, "u": ud, "dx": dud @ Ad, "dA": dud.T @ xd, "dB": fs * dzd.T @ ud0,
           "dM": dud.T @ ud0}
    return {k: (rel(a, ref[k]), rel(t.numpy(), ref[k])) for k, (a, t) in got.items()}


def main():
    torch.set_num_threads(1)
    print("relative error max|err| / max|ref| against float64: melora | PyTorch %s float32 "
          "(ratio)" % torch.__version__)
    for r in (8, 64):
        e = step(1200, 4096, 4096, r, r)
        print("T=1200 n=m=4096 r=%d: " % r + " | ".join(
            "%s %.2e %.2e (%.2fx)" % (k, a, t, a / t) for k, (a, t) in e.items()))
    for T in [int(a) for a in sys.argv[1:]] or [1200, 16384, 262144, 1048576]:
        e = step(T, 16, 16, 8, T)
        print("T=%d n=m=16 r=8: " % T + " | ".join(
            "%s %.2e %.2e (%.2fx)" % (k, e[k][0], e[k][1], e[k][0] / e[k][1])
            for k in ("dA", "dB", "dM")))


if __name__ == "__main__":
    main()
