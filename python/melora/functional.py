"""melora's forward/backward pairs as torch.autograd.Function objects.

Each `*_add_(z, x, ...)` adds an adapter's output into `z` in place and returns it, the
way the C functions do (z += delta): pass the base layer's output (T, m) and the adapter
composes with it without an extra (T, m) tensor. The gradient with respect to z is dz
itself. All tensors are float32, contiguous, on the CPU: x (T, n), z (T, m), weights as
in PyTorch ([out][in]). The modules in melora.layers flatten leading dimensions and
convert dtypes before they call these.

KL functions return a 0-dim float32 tensor; the C call computes the value (in double)
and the gradients together, and backward scales the stored gradients by grad_output.
"""
import ctypes

import torch

from . import _lib
from ._lib import call, ptr, workspace


def _zeros_if(flag, like):
    return torch.zeros_like(like) if flag else None


def _check(*ts):
    for t in ts:
        if t.dtype != torch.float32 or not t.is_contiguous() or t.device.type != "cpu":
            raise TypeError("melora.functional expects contiguous float32 CPU tensors "
                            "(got %s, %s, contiguous=%s)" % (t.dtype, t.device,
                                                            t.is_contiguous()))


def _sizes(z, x, r):
    T, n = x.shape
    if z.dim() != 2 or z.shape[0] != T:
        raise ValueError("z must be (T, m) with T = x.shape[0]")
    return T, n, z.shape[1], r


# ----------------------------------------------------------------------------- LoRA --
class LoRAFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, x, A, B, s):
        _check(z, x, A, B)
        T, n, m, r = _sizes(z, x, A.shape[0])
        u = torch.empty(T, r)
        call("melora_lora_forward", ptr(z), ptr(u), workspace(_lib.OP_LORA_FORWARD, T, n, m, r),
             ptr(x), ptr(A), ptr(B), s, T, n, m, r)
        ctx.mark_dirty(z)
        ctx.save_for_backward(x, A, B, u)
        ctx.s = s
        return z

    @staticmethod
    def backward(ctx, dz):
        x, A, B, u = ctx.saved_tensors
        dz = dz.float().contiguous()
        T, n = x.shape
        m, r = B.shape
        nz, nx, nA, nB = ctx.needs_input_grad[:4]
        dx, dA, dB = _zeros_if(nx, x), _zeros_if(nA, A), _zeros_if(nB, B)
        if nx or nA or nB:
            call("melora_lora_backward", ptr(dx), ptr(dA), ptr(dB),
                 workspace(_lib.OP_LORA_BACKWARD, T, n, m, r), ptr(dz), ptr(u), ptr(x),
                 ptr(A), ptr(B), ctx.s, T, n, m, r)
        return (dz if nz else None), dx, dA, dB, None


def lora_add_(z, x, A, B, s):
    """z += s (x A^T) B^T, in place; A (r, n), B (m, r)."""
    return LoRAFunction.apply(z, x, A, B, float(s))


# ----------------------------------------------------------------------------- BLoB --
class BLoBFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, x, MA, GA, B, EA, s):
        _check(z, x, MA, GA, B, EA)
        T, n, m, r = _sizes(z, x, MA.shape[0])
        u = torch.empty(T, r)
        As = torch.empty(r, n)
        call("melora_blob_forward", ptr(z), ptr(u), ptr(As),
             workspace(_lib.OP_LORA_FORWARD, T, n, m, r), ptr(x), ptr(MA), ptr(GA), ptr(EA),
             ptr(B), s, T, n, m, r)
        ctx.mark_dirty(z)
        ctx.save_for_backward(x, As, GA, EA, B, u)
        ctx.s = s
        return z

    @staticmethod
    def backward(ctx, dz):
        x, As, GA, EA, B, u = ctx.saved_tensors
        dz = dz.float().contiguous()
        T, n = x.shape
        m, r = B.shape
        nz, nx, nMA, nGA, nB = ctx.needs_input_grad[:5]
        dx, dMA, dGA, dB = (_zeros_if(nx, x), _zeros_if(nMA, As), _zeros_if(nGA, GA),
                            _zeros_if(nB, B))
        if nx or nMA or nGA or nB:
            call("melora_blob_backward", ptr(dx), ptr(dMA), ptr(dGA), ptr(dB),
                 workspace(_lib.OP_LORA_BACKWARD, T, n, m, r), ptr(dz), ptr(u), ptr(x),
                 ptr(As), ptr(GA), ptr(EA), ptr(B), ctx.s, T, n, m, r)
        return (dz if nz else None), dx, dMA, dGA, dB, None, None


def blob_add_(z, x, MA, GA, B, EA, s):
    """As = MA + (GA*GA)*EA; z += s (x As^T) B^T, in place."""
    return BLoBFunction.apply(z, x, MA, GA, B, EA, float(s))


def flipout_signs(seed, offset, T, G, n, r):
    """Flipout's sign tensors for T tokens in groups of G: sa (ceil(T/G), n) from the sign
    stream at `offset`, sb (ceil(T/G), r) right after it."""
    ng = (T + G - 1) // G
    sa = _lib.noise("sign", seed, offset, (ng, n))
    sb = _lib.noise("sign", seed, offset + ng * n, (ng, r))
    return sa, sb


class FlipoutFunction(torch.autograd.Function):
    """BLoB with Flipout. The (ceil(T/G), n) signs are not stored: backward regenerates
    them from (seed, offset)."""

    @staticmethod
    def forward(ctx, z, x, MA, GA, B, EA, s, G, seed, offset):
        _check(z, x, MA, GA, B, EA)
        T, n, m, r = _sizes(z, x, MA.shape[0])
        sa, sb = flipout_signs(seed, offset, T, G, n, r)
        u = torch.empty(T, r)
        call("melora_blob_flipout_forward", ptr(z), ptr(u),
             workspace(_lib.OP_FLIPOUT_FORWARD, T, n, m, r), ptr(x), ptr(MA), ptr(GA), ptr(EA),
             ptr(sa), ptr(sb), ptr(B), s, G, T, n, m, r)
        del sa, sb
        ctx.mark_dirty(z)
        ctx.save_for_backward(x, MA, GA, EA, B, u)
        ctx.args = (s, G, seed, offset)
        return z

    @staticmethod
    def backward(ctx, dz):
        x, MA, GA, EA, B, u = ctx.saved_tensors
        s, G, seed, offset = ctx.args
        dz = dz.float().contiguous()
        T, n = x.shape
        m, r = B.shape
        nz, nx, nMA, nGA, nB = ctx.needs_input_grad[:5]
        dx, dMA, dGA, dB = (_zeros_if(nx, x), _zeros_if(nMA, MA), _zeros_if(nGA, GA),
                            _zeros_if(nB, B))
        if nx or nMA or nGA or nB:
            sa, sb = flipout_signs(seed, offset, T, G, n, r)
            call("melora_blob_flipout_backward", ptr(dx), ptr(dMA), ptr(dGA), ptr(dB),
                 workspace(_lib.OP_FLIPOUT_BACKWARD, T, n, m, r), ptr(dz), ptr(u), ptr(x),
                 ptr(MA), ptr(GA), ptr(EA), ptr(sa), ptr(sb), ptr(B), s, G, T, n, m, r)
        return (dz if nz else None), dx, dMA, dGA, dB, None, None, None, None, None


def blob_flipout_add_(z, x, MA, GA, B, EA, s, G, seed, offset):
    """u_t = x_t MA^T + ((x_t * sa_g) ((GA*GA)*EA)^T) * sb_g;  z += s u B^T, in place.
    Signs: flipout_signs(seed, offset, T, G, n, r)."""
    return FlipoutFunction.apply(z, x, MA, GA, B, EA, float(s), int(G), int(seed), int(offset))


# -------------------------------------------------------------------------- Me-LoRA --
def melora_sample(M, H, EC):
    """C_e = M + (H*H) * EC_e for EC (E, r, r); no gradient (the forward samples itself)."""
    _check(M, H, EC)
    r = M.shape[0]
    E = EC.numel() // (r * r)
    C = torch.empty(E, r, r)
    call("melora_melora_sample", ptr(C), ptr(M), ptr(H), ptr(EC), E, r)
    return C


class MeLoRAFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, x, A, M, H, B, EC, s, E):
        _check(z, x, A, M, H, B, EC)
        T, n, m, r = _sizes(z, x, A.shape[0])
        C = melora_sample(M, H, EC)
        u = torch.empty(T, r)
        v = torch.empty(T, r)
        call("melora_melora_forward", ptr(z), ptr(u), ptr(v),
             workspace(_lib.OP_MELORA_FORWARD, T, n, m, r), ptr(x), ptr(A), ptr(C), ptr(B),
             s, E, T, n, m, r)
        ctx.mark_dirty(z)
        ctx.save_for_backward(x, A, C, H, B, EC, u, v)
        ctx.args = (s, E)
        return z

    @staticmethod
    def backward(ctx, dz):
        x, A, C, H, B, EC, u, v = ctx.saved_tensors
        s, E = ctx.args
        dz = dz.float().contiguous()
        T, n = x.shape
        m, r = B.shape
        nz, nx, nA, nM, nH, nB = ctx.needs_input_grad[:6]
        dx, dA, dM, dH, dB = (_zeros_if(nx, x), _zeros_if(nA, A), _zeros_if(nM, H),
                              _zeros_if(nH, H), _zeros_if(nB, B))
        if nx or nA or nM or nH or nB:
            call("melora_melora_backward", ptr(dx), ptr(dA), ptr(dB), ptr(dM), ptr(dH),
                 workspace(_lib.OP_MELORA_BACKWARD, T, n, m, r), ptr(dz), ptr(u), ptr(v),
                 ptr(x), ptr(A), ptr(C), ptr(B), ptr(H), ptr(EC), s, E, T, n, m, r)
        return (dz if nz else None), dx, dA, dM, dH, dB, None, None, None


def melora_add_(z, x, A, M, H, B, EC, s, E=1):
    """C_e = M + (H*H)*EC_e (EC is (E, r, r)); u = x A^T; v_t = C_e u_t; z += s v B^T.
    Example e owns tokens e*T/E .. (e+1)*T/E - 1."""
    return MeLoRAFunction.apply(z, x, A, M, H, B, EC, float(s), int(E))


def melora_mc_add_(z, x, A, C, B, s):
    """Monte-Carlo inference (no gradient): z (K, T, m) += s (x A^T C_k^T) B^T for the K
    matrices C (K, r, r); x A^T is computed once."""
    _check(z, x, A, C, B)
    T, n = x.shape
    K, m = z.shape[0], z.shape[2]
    r = A.shape[0]
    u = torch.empty(T, r)
    call("melora_melora_mc_forward", ptr(z), ptr(u),
         workspace(_lib.OP_MELORA_MC_FORWARD, T, n, m, r), ptr(x), ptr(A), ptr(C), ptr(B),
         float(s), K, T, n, m, r)
    return z


# ------------------------------------------------------------------------------ KL --
class _KLFunction(torch.autograd.Function):
    """kind: blob | eq7 | eq8 | exact.  params: the tensors the KL depends on, in the
    order of the C function's gradient arguments."""

    @staticmethod
    def forward(ctx, kind, sigma, eps, *params):
        for p in params:
            _check(p)
        want = [ctx.needs_input_grad[3 + i] for i in range(len(params))]
        grads = [torch.zeros_like(p) if w else None for p, w in zip(params, want)]
        kl = ctypes.c_double(0.0)
        if kind == "blob":
            MA, GA = params
            r, n = MA.shape
            call("melora_blob_kl", ctypes.byref(kl), ptr(grads[0]), ptr(grads[1]), ptr(MA),
                 ptr(GA), sigma, 1.0, r, n)
        elif kind == "exact":
            M, H = params
            r = M.shape[0]
            call("melora_melora_kl_exact", ctypes.byref(kl), ptr(grads[0]), ptr(grads[1]),
                 ptr(M), ptr(H), sigma, 1.0, r)
        else:
            A, M, H = params
            r, n = A.shape
            work = workspace(_lib.OP_MELORA_KL, 1, n, 1, r)
            if kind == "eq7":
                call("melora_melora_kl", ctypes.byref(kl), ptr(grads[0]), ptr(grads[1]),
                     ptr(grads[2]), work, ptr(A), ptr(M), ptr(H), sigma, 1.0, r, n)
            else:
                call("melora_melora_kl_prior_noise", ctypes.byref(kl), ptr(grads[0]),
                     ptr(grads[1]), ptr(grads[2]), work, ptr(A), ptr(M), ptr(H), sigma, eps,
                     1.0, r, n)
        ctx.grads = grads
        return torch.tensor(kl.value, dtype=torch.float32)

    @staticmethod
    def backward(ctx, g):
        out = [None, None, None]
        for d in ctx.grads:
            out.append(None if d is None else d * g.to(d.dtype))
        ctx.grads = None
        return tuple(out)


def blob_kl(MA, GA, sigma_p):
    """sum log sigma_p - log Om + (Om^2 + MA^2)/(2 sigma_p^2) - 1/2, Om = GA*GA."""
    return _KLFunction.apply("blob", float(sigma_p), 0.0, MA, GA)


def melora_kl(A, M, H, sigma):
    """Paper eq. 7: (|M A|_F^2 + |Om |A||_F^2) / (2 sigma^2) - sum log Om, Om = H*H."""
    return _KLFunction.apply("eq7", float(sigma), 0.0, A, M, H)


def melora_kl_prior_noise(A, M, H, sigma_p, eps):
    """Paper eq. 8: eq. 7 with sigma = sigma_p + eps, eps in [0, 1)."""
    return _KLFunction.apply("eq8", float(sigma_p), float(eps), A, M, H)


def melora_kl_exact(M, H, sigma):
    """Exact KL of q(C) = N(M, Om^2) against N(0, sigma^2), Om = H*H."""
    return _KLFunction.apply("exact", float(sigma), 0.0, M, H)
