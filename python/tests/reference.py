"""Pure-PyTorch statements of the formulas of docs/DESIGN.md section 2, differentiated by
autograd (no melora code), and a pure-Python Philox4x32-10 with the index -> number
mapping of docs/DESIGN.md section 4.2 (melora.h's header comment). The tests compare the
C-backed modules with these; bench_torch.py times them."""
import math

import torch


# ------------------------------------------------------------------------ adapters --
def lora(x, A, B, s):
    return s * (x @ A.t()) @ B.t()


def blob(x, MA, GA, B, EA, s):
    As = MA + (GA * GA) * EA
    return s * (x @ As.t()) @ B.t()


def flipout(x, MA, GA, B, EA, sa, sb, s, G):
    g = torch.arange(x.shape[0]) // G
    dA = (GA * GA) * EA
    u = x @ MA.t() + ((x * sa[g]) @ dA.t()) * sb[g]
    return s * u @ B.t()


def melora(x, A, M, H, B, EC, s, E):
    T, r = x.shape[0], A.shape[0]
    C = M + (H * H) * EC.reshape(E, r, r)               # (E, r, r)
    u = (x @ A.t()).reshape(E, T // E, r)               # example e: rows e*T/E ..
    v = torch.einsum("etk,ejk->etj", u, C).reshape(T, r)  # v_t = C_e u_t
    return s * v @ B.t()


# ------------------------------------------------------------------------------ KL --
def diag_kl(mu, g, sigma):
    om = g * g
    return (math.log(sigma) - torch.log(om) + (om * om + mu * mu) / (2 * sigma * sigma)
            - 0.5).sum()


def blob_kl(MA, GA, sigma_p):
    return diag_kl(MA, GA, sigma_p)


def melora_kl_exact(M, H, sigma):
    return diag_kl(M, H, sigma)


def melora_kl(A, M, H, sigma):
    """Paper eq. 7 (eq. 8: sigma = sigma_p + eps)."""
    P = M @ A
    S = (H * H) @ A.abs()
    return ((P * P).sum() + (S * S).sum()) / (2 * sigma * sigma) - torch.log(H * H).sum()


# -------------------------------------------------------------------------- Philox --
M32 = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, \
            p0 & M32
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return [c0, c1, c2, c3]


def _block(seed, b, stream):
    return philox4x32_10([b & M32, (b >> 32) & M32, stream, 0], [seed & M32, (seed >> 32) & M32])


def rng_normal(seed, k):
    w = _block(seed, k >> 2, 0)
    p = (k >> 1) & 1
    u1 = ((w[2 * p] >> 8) + 1) * 2.0 ** -24
    u2 = (w[2 * p + 1] >> 8) * 2.0 ** -24
    rad = math.sqrt(-2.0 * math.log(u1))
    return rad * (math.cos if k % 2 == 0 else math.sin)(2 * math.pi * u2)


def rng_uniform(seed, k):
    return (_block(seed, k >> 2, 1)[k & 3] >> 8) * 2.0 ** -24


def rng_sign(seed, k):
    w = _block(seed, k >> 7, 2)
    return -1.0 if (w[(k >> 5) & 3] >> (k & 31)) & 1 else 1.0
