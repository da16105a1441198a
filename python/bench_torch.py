"""Speed of each melora module against the pure-PyTorch reference on the CPU.

    make python-bench        (or: python3 bench_torch.py [--T 1200 --n 4096 --m 4096 --r 8])

Times the adapter part of one training step, forward + backward: given x (T, n) and the
base layer's output z (T, m), produce z + delta and, from dz, the gradients of x and of
every adapter parameter. The frozen base product x W0^T is PyTorch's in both paths and is
left out (it is the same work for both and, at n = m = 4096, larger than the adapters).
melora: the modules' own path (noise from melora's Philox, the C kernels through ctypes,
adding into z in place). Reference: the formulas of tests/reference.py under autograd,
with noise from PyTorch's generator (torch.randn / torch.randint), as a pure-PyTorch
layer would do it. Runs are interleaved; the table gives the median of each, their ratio,
and the median of the ratios of neighbouring runs (steadier on a shared machine).

Debian's python3-torch uses the system libblas.so.3, which is the reference BLAS unless
an optimised one is installed; to time the reference with OpenBLAS without changing the
system, unpack libopenblas0-pthread (apt-get download; dpkg -x) and put its
openblas-pthread directory on LD_LIBRARY_PATH. The header line names the BLAS in use.
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))
import melora  # noqa: E402
import reference as ref  # noqa: E402


def reference_delta(mod, x, E):
    """The pure-PyTorch adapter of module `mod`, with PyTorch's random numbers."""
    s, r, n = mod.scaling, mod.r, mod.in_features
    if isinstance(mod, melora.LoRALinear):
        return ref.lora(x, mod.lora_A, mod.lora_B, s)
    if isinstance(mod, melora.BLoBLinear):
        EA = torch.randn(r, n)
        if not mod.flipout:
            return ref.blob(x, mod.lora_A, mod.lora_A_rho, mod.lora_B, EA, s)
        T = x.shape[0]
        sa = torch.randint(0, 2, (T, n)).float().mul_(2).sub_(1)
        sb = torch.randint(0, 2, (T, r)).float().mul_(2).sub_(1)
        return ref.flipout(x, mod.lora_A, mod.lora_A_rho, mod.lora_B, EA, sa, sb, s, 1)
    EC = torch.randn(E, r, r)
    return ref.melora(x, mod.lora_A, mod.lora_M, mod.lora_H, mod.lora_B, EC, s, E)


def step_melora(mod, z, x, dz, E):
    out = mod._add(z, x, E)
    out.backward(dz)


def step_reference(mod, z, x, dz, E):
    out = z + reference_delta(mod, x, E)
    out.backward(dz)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, default=1200)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--m", type=int, default=4096)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--E", type=int, default=4, help="examples for per-example Me-LoRA")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", default="1,%d" % os.cpu_count(),
                    help="comma-separated thread counts, one table each")
    a = ap.parse_args()
    for threads in sorted({int(t) for t in a.threads.split(",")}):
        # torch.set_num_threads also sets libmelora's OpenMP threads (one libgomp)
        torch.set_num_threads(threads)
        run(a)


def blas():
    """The BLAS library this process loaded (PyTorch's matrix products go through it)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower()}
    except OSError:
        return "unknown"
    return ", ".join(sorted(os.path.basename(os.path.dirname(p)) + "/" + os.path.basename(p)
                            for p in libs)) or "none found"


def run(a):
    T, n, m, r = a.T, a.n, a.m, a.r
    torch.manual_seed(0)
    base = nn.Linear(n, m)
    cases = [
        ("LoRA", melora.LoRALinear(base, r=r, lora_alpha=2 * r), 1),
        ("BLoB (no Flipout)", melora.BLoBLinear(base, r=r, lora_alpha=2 * r, flipout=False), 1),
        ("BLoB + Flipout (G=1)", melora.BLoBLinear(base, r=r, lora_alpha=2 * r), 1),
        ("Me-LoRA, one C per batch", melora.MeLoRALinear(base, r=r, lora_alpha=2 * r), 1),
        ("Me-LoRA, C per example (E=%d)" % a.E,
         melora.MeLoRALinear(base, r=r, lora_alpha=2 * r, per_example=True), a.E),
    ]
    for _, mod, _ in cases:
        with torch.no_grad():
            mod.lora_B.normal_(0, 0.02)
    x = torch.randn(T, n).requires_grad_(True)
    z = torch.randn(T, m)
    dz = torch.randn(T, m)
    print()
    print("# melora PyTorch bridge vs pure-PyTorch reference, adapter forward+backward")
    print("# T=%d n=%d m=%d r=%d, %d thread(s), torch %s, BLAS %s, load average %s" % (
        T, n, m, r, torch.get_num_threads(), torch.__version__, blas(),
        " ".join("%.2f" % v for v in os.getloadavg())))
    print("| module | melora (ms) | PyTorch reference (ms) | speed-up | paired speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, mod, E in cases:
        times = {"melora": [], "reference": []}
        fns = {"melora": step_melora, "reference": step_reference}
        for rep in range(a.reps + 2):
            for key in (("melora", "reference") if rep % 2 else ("reference", "melora")):
                for p in mod.parameters():
                    p.grad = None
                x.grad = None
                zz = z.clone() if key == "melora" else z  # melora adds into z in place
                t0 = time.perf_counter()
                fns[key](mod, zz, x, dz, E)
                dt = time.perf_counter() - t0
                if rep >= 2:  # warm-up
                    times[key].append(dt)
        tm, tr = statistics.median(times["melora"]), statistics.median(times["reference"])
        paired = statistics.median(b / a for a, b in zip(times["melora"], times["reference"]))
        print("| %s | %.1f | %.1f | %.1fx | %.1fx |" % (name, 1e3 * tm, 1e3 * tr, tr / tm,
                                                      paired))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
