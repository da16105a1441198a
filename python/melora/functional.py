"""melora's forward/backward pairs as torch.autograd.Function objects.

Each `*_add_(z, x, ...)` adds an adapter's output into `z` in place and returns it, the
way the C functions do (z += delta): pass the base layer's output (T, m) and the adapter
composes with it without an extra (T, m) tensor. The gradient with respect to z is dz
itself. All tensors are contiguous, on the CPU: x (T, n), z (T, m), weights as in PyTorch
([out][in]). The parameters, noise and KLs are float32; the activations x and z (and so
dz and dx) are float32, bfloat16 or float16, both of one dtype, passed to C as they are
(melora_dims.dtype): the adapter's product is accumulated in float32 and z += delta is
rounded once to z's dtype; dx is returned in x's dtype. The modules in melora.layers
flatten leading dimensions and widen half parameters to float32 before they call these.

Every function checks its arguments before it calls C: a tensor of the wrong type, dtype,
device, layout or shape (against T, n, m, r taken from x, z and A), an output that shares
memory with an input, or a bad size raises a ValueError that names the argument (a wrong
dtype raises melora.DtypeError, a TypeError that is also a ValueError). T = 0
is allowed (nothing is added; gradients are zeros, as for nn.Linear). The backward
passes are once_differentiable: a double backward (create_graph=True, then backward
through the gradient) raises instead of returning a wrong second derivative.
`on_backward`, where a function takes it, is called (with no argument) by the backward
pass once it has read its saved tensors (the modules use it to retire a noise draw).

KL functions return a 0-dim float32 tensor; the C call computes the value (in double)
and the gradients together, and backward scales the stored gradients by grad_output.
"""
import ctypes
import functools
import math
import numbers

import torch

from . import _api, _lib
from ._lib import DtypeError, call, grads, ptr, workspace

_byref = ctypes.byref


def once_differentiable(backward):
    """Like torch.autograd.function.once_differentiable, but strict: under create_graph
    every gradient it returns carries an error node, even when grad_output is a constant
    (as for a KL term added to the loss), so differentiating it again raises instead of
    treating the C gradient as a constant."""
    @functools.wraps(backward)
    def wrapper(ctx, *args):
        with torch.no_grad():
            outputs = backward(ctx, *args)
        if not torch.is_grad_enabled():
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        err = torch._C._functions.DelayedError(
            b"melora's backward passes are not differentiable: trying to differentiate "
            b"twice (a double backward, e.g. a gradient penalty, is not supported)", len(outs))

        def fake(v):
            if v is None:
                return None
            v = v.detach()
            v.requires_grad = True
            return v

        wrapped = err(*[fake(v) for v in outs])
        if not isinstance(wrapped, tuple):
            wrapped = (wrapped,)
        return wrapped[0] if single else tuple(wrapped)
    return wrapper


def _zeros_if(flag, like):
    return torch.zeros_like(like) if flag else None


def _tensor(name, t, shape=None, dim=None, act=False):
    """ValueError naming `name` unless t is a contiguous float32 CPU tensor (an activation,
    act=True: float32, bfloat16 or float16) of `shape` (a tuple of ints) or of `dim`
    dimensions; a wrong dtype is a DtypeError (a TypeError and a ValueError)."""
    if not isinstance(t, torch.Tensor):
        raise ValueError("%s must be a torch.Tensor (got %s)" % (name, type(t).__name__))
    if act:
        if t.dtype not in _lib.ACT_DTYPES:
            raise DtypeError("%s must be float32, bfloat16 or float16 (got %s)"
                             % (name, t.dtype))
    elif t.dtype != torch.float32:
        raise DtypeError("%s must be float32 (got %s)" % (name, t.dtype))
    if t.device.type != "cpu":
        raise ValueError("%s must be a CPU tensor (got %s; melora's PyTorch bridge runs on "
                         "the CPU only)" % (name, t.device))
    if not t.is_contiguous():
        raise ValueError("%s must be contiguous" % name)
    if dim is not None and t.dim() != dim:
        raise ValueError("%s must have %d dimensions (got shape %s)"
                         % (name, dim, tuple(t.shape)))
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ValueError("%s must have shape %s (got %s)" % (name, tuple(shape),
                                                            tuple(t.shape)))
    return t


def _no_alias(out_name, out, **inputs):
    """ValueError if `out` overlaps any input (all are contiguous: compare byte ranges)."""
    if not out.numel():
        return
    lo = out.data_ptr()
    hi = lo + out.numel() * out.element_size()
    for name, t in inputs.items():
        if t is not None and t.numel():
            a = t.data_ptr()
            if a < hi and lo < a + t.numel() * t.element_size():
                raise ValueError("%s must not share memory with %s" % (out_name, name))


def _int(name, v, low=1):
    if type(v) is not int and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
        raise ValueError("%s must be an integer (got %r)" % (name, v))
    if v < low:
        raise ValueError("%s must be >= %d (got %d)" % (name, low, v))
    return int(v)


def _scalar(name, v):
    if type(v) is float:  # the common case, without the abstract-class checks
        if not math.isfinite(v):
            raise ValueError("%s must be finite (got %r)" % (name, v))
        return v
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError("%s must be a real number (got %r)" % (name, v))
    v = float(v)
    if not math.isfinite(v):
        raise ValueError("%s must be finite (got %r)" % (name, v))
    return v


def _same_dtype(z, x):
    # one melora_dims.dtype covers x, z, dz and dx: z is accumulated in x's precision
    if z.dtype != x.dtype:
        raise DtypeError("z and x must have the same dtype (got z %s, x %s)"
                         % (z.dtype, x.dtype))


def _sizes(z, x, A, Aname="A"):
    """(T, n, m, r) from x (T, n), z (T, m) and A (r, n), each checked."""
    _tensor("x", x, dim=2, act=True)
    T, n = x.shape
    _tensor("z", z, dim=2, act=True)
    _same_dtype(z, x)
    if z.shape[0] != T:
        raise ValueError("z must have shape (T, m) with T = x.shape[0] = %d (got %s)"
                         % (T, tuple(z.shape)))
    m = z.shape[1]
    _tensor(Aname, A, dim=2)
    r = A.shape[0]
    if r < 1 or n < 1 or m < 1:
        raise ValueError("sizes must be positive: r = %d (%s.shape[0]), n = %d (x.shape[1]),"
                         " m = %d (z.shape[1])" % (r, Aname, n, m))
    _tensor(Aname, A, (r, n))
    return T, n, m, r


def _dims(x, n, m, r):
    """melora_dims for x (T, n) in its dtype."""
    return _lib.dims(x.shape[0], n, m, r, _lib.dtype_code(x))


def _grad_out(dz, x):
    """The incoming gradient as the C call reads it: contiguous, in the activations' dtype
    (autograd already gives it z's dtype, which is x's)."""
    return dz.to(x.dtype).contiguous()


def _call_backward(ctx):
    cb = getattr(ctx, "on_backward", None)
    if cb is not None:
        cb()


# ----------------------------------------------------------------------------- LoRA --
class LoRAFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, x, A, B, s):
        T, n, m, r = _sizes(z, x, A)
        _tensor("B", B, (m, r))
        _no_alias("z", z, x=x, A=A, B=B)
        u = torch.empty(T, r, dtype=torch.float32)
        if T:
            d = _dims(x, n, m, r)
            call("melora_lora_forward", ptr(z), _byref(_api.melora_lora_saved(ptr(x), ptr(u))),
                 workspace(_api.OP_LORA_FORWARD, d),
                 _byref(_api.melora_lora_params(ptr(A), ptr(B), s)), d)
        ctx.mark_dirty(z)
        ctx.save_for_backward(x, A, B, u)
        ctx.s = s
        return z

    @staticmethod
    @once_differentiable
    def backward(ctx, dz):
        x, A, B, u = ctx.saved_tensors
        dz = _grad_out(dz, x)
        T, n = x.shape
        m, r = B.shape
        nz, nx, nA, nB = ctx.needs_input_grad[:4]
        dx, dA, dB = _zeros_if(nx, x), _zeros_if(nA, A), _zeros_if(nB, B)
        if T and (nx or nA or nB):
            d = _dims(x, n, m, r)
            call("melora_lora_backward", ptr(dx), grads(_api.melora_lora_grads, dA, dB),
                 _byref(_api.melora_lora_saved(ptr(x), ptr(u))),
                 workspace(_api.OP_LORA_BACKWARD, d), ptr(dz),
                 _byref(_api.melora_lora_params(ptr(A), ptr(B), ctx.s)), d)
        return (dz if nz else None), dx, dA, dB, None


def lora_add_(z, x, A, B, s):
    """z += s (x A^T) B^T, in place; A (r, n), B (m, r)."""
    return LoRAFunction.apply(z, x, A, B, _scalar("s", s))


# ----------------------------------------------------------------------------- BLoB --
class BLoBFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, x, MA, GA, B, EA, s, on_backward):
        T, n, m, r = _sizes(z, x, MA, "MA")
        _tensor("GA", GA, (r, n))
        _tensor("B", B, (m, r))
        _tensor("EA", EA, (r, n))
        _no_alias("z", z, x=x, MA=MA, GA=GA, B=B, EA=EA)
        u = torch.empty(T, r, dtype=torch.float32)
        As = torch.empty(r, n, dtype=torch.float32)
        if T:
            d = _dims(x, n, m, r)
            call("melora_blob_forward", ptr(z), _byref(_api.melora_lora_saved(ptr(x), ptr(u))),
                 ptr(As), workspace(_api.OP_LORA_FORWARD, d),
                 _byref(_api.melora_blob_params(ptr(MA), ptr(GA), ptr(B), s)), ptr(EA), d)
        ctx.mark_dirty(z)
        ctx.save_for_backward(x, As, GA, EA, B, u)
        ctx.s = s
        ctx.on_backward = on_backward
        return z

    @staticmethod
    @once_differentiable
    def backward(ctx, dz):
        x, As, GA, EA, B, u = ctx.saved_tensors
        _call_backward(ctx)
        dz = _grad_out(dz, x)
        T, n = x.shape
        m, r = B.shape
        nz, nx, nMA, nGA, nB = ctx.needs_input_grad[:5]
        dx, dMA, dGA, dB = (_zeros_if(nx, x), _zeros_if(nMA, As), _zeros_if(nGA, GA),
                            _zeros_if(nB, B))
        if T and (nx or nMA or nGA or nB):
            d = _dims(x, n, m, r)
            # the backward reads the drawn As, not MA (not saved)
            call("melora_blob_backward", ptr(dx), grads(_api.melora_blob_grads, dMA, dGA, dB),
                 _byref(_api.melora_lora_saved(ptr(x), ptr(u))),
                 workspace(_api.OP_LORA_BACKWARD, d), ptr(dz),
                 _byref(_api.melora_blob_params(None, ptr(GA), ptr(B), ctx.s)),
                 _byref(_api.melora_blob_draw(ptr(As), ptr(EA))), d)
        return (dz if nz else None), dx, dMA, dGA, dB, None, None, None


def blob_add_(z, x, MA, GA, B, EA, s, on_backward=None):
    """As = MA + (GA*GA)*EA; z += s (x As^T) B^T, in place. MA, GA, EA (r, n), B (m, r)."""
    return BLoBFunction.apply(z, x, MA, GA, B, EA, _scalar("s", s), on_backward)


def flipout_noise(seed, draw, T, G, n, m, r):
    """Flipout's noise of draw `draw` for T tokens in groups of G (melora_blob_flipout_noise):
    EA (r, n), sa (ceil(T/G), n), sb (ceil(T/G), r)."""
    T, G = _int("T", T, 0), _int("G", G)
    d = _lib.dims(T, _int("n", n), _int("m", m), _int("r", r))
    return _lib.flipout_noise(seed, draw, G, d)


class FlipoutFunction(torch.autograd.Function):
    """BLoB with Flipout. Its noise (EA and the (ceil(T/G), n) signs) is not stored:
    forward draws it and backward regenerates it from (seed, draw)."""

    @staticmethod
    def forward(ctx, z, x, MA, GA, B, s, G, seed, draw, on_backward):
        T, n, m, r = _sizes(z, x, MA, "MA")
        _tensor("GA", GA, (r, n))
        _tensor("B", B, (m, r))
        _no_alias("z", z, x=x, MA=MA, GA=GA, B=B)
        u = torch.empty(T, r, dtype=torch.float32)
        if T:
            d = _dims(x, n, m, r)
            EA, sa, sb = _lib.flipout_noise(seed, draw, G, d)
            call("melora_blob_flipout_forward", ptr(z),
                 _byref(_api.melora_lora_saved(ptr(x), ptr(u))),
                 workspace(_api.OP_FLIPOUT_FORWARD, d),
                 _byref(_api.melora_blob_params(ptr(MA), ptr(GA), ptr(B), s)),
                 _byref(_api.melora_flipout_noise(ptr(EA), ptr(sa), ptr(sb), G)), d)
            del EA, sa, sb
        ctx.mark_dirty(z)
        ctx.save_for_backward(x, MA, GA, B, u)
        ctx.args = (s, G, seed, draw)
        ctx.on_backward = on_backward
        return z

    @staticmethod
    @once_differentiable
    def backward(ctx, dz):
        x, MA, GA, B, u = ctx.saved_tensors
        _call_backward(ctx)
        s, G, seed, draw = ctx.args
        dz = _grad_out(dz, x)
        T, n = x.shape
        m, r = B.shape
        nz, nx, nMA, nGA, nB = ctx.needs_input_grad[:5]
        dx, dMA, dGA, dB = (_zeros_if(nx, x), _zeros_if(nMA, MA), _zeros_if(nGA, GA),
                            _zeros_if(nB, B))
        if T and (nx or nMA or nGA or nB):
            d = _dims(x, n, m, r)
            EA, sa, sb = _lib.flipout_noise(seed, draw, G, d)
            call("melora_blob_flipout_backward", ptr(dx),
                 grads(_api.melora_blob_grads, dMA, dGA, dB),
                 _byref(_api.melora_lora_saved(ptr(x), ptr(u))),
                 workspace(_api.OP_FLIPOUT_BACKWARD, d), ptr(dz),
                 _byref(_api.melora_blob_params(ptr(MA), ptr(GA), ptr(B), s)),
                 _byref(_api.melora_flipout_noise(ptr(EA), ptr(sa), ptr(sb), G)), d)
        return (dz if nz else None), dx, dMA, dGA, dB, None, None, None, None, None


def blob_flipout_add_(z, x, MA, GA, B, s, G, seed, draw, on_backward=None):
    """u_t = x_t MA^T + ((x_t * sa_g) ((GA*GA)*EA)^T) * sb_g;  z += s u B^T, in place.
    EA, sa, sb: flipout_noise(seed, draw, T, G, n, m, r); G >= 1 tokens per sign group."""
    return FlipoutFunction.apply(z, x, MA, GA, B, _scalar("s", s), _int("G", G),
                                 _int("seed", seed, 0), _int("draw", draw, 0), on_backward)


# -------------------------------------------------------------------------- Me-LoRA --
def melora_sample(M, H, EC):
    """C_e = M + (H*H) * EC_e for EC (E, r, r); no gradient (the forward samples itself)."""
    _tensor("M", M, dim=2)
    r = M.shape[0]
    if r < 1:
        raise ValueError("M must be (r, r) with r >= 1 (got %s)" % (tuple(M.shape),))
    _tensor("M", M, (r, r))
    _tensor("H", H, (r, r))
    _tensor("EC", EC, dim=3)
    E = EC.shape[0]
    _tensor("EC", EC, (E, r, r))
    if torch.is_grad_enabled() and (M.requires_grad or H.requires_grad):
        raise ValueError("melora_sample has no gradient: pass detached M and H (or call it "
                         "under torch.no_grad())")
    C = torch.empty(E, r, r, dtype=torch.float32)
    if E:
        call("melora_melora_sample", ptr(C),
             _byref(_api.melora_melora_params(None, None, ptr(M), ptr(H), 0.0)), ptr(EC), E, r)
    return C


class MeLoRAFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, x, A, M, H, B, EC, s, E, on_backward):
        T, n, m, r = _sizes(z, x, A)
        _tensor("M", M, (r, r))
        _tensor("H", H, (r, r))
        _tensor("B", B, (m, r))
        _tensor("EC", EC, (E, r, r))
        if T % E:
            raise ValueError("T = %d tokens (x.shape[0]) must be a multiple of E = %d examples"
                             % (T, E))
        _no_alias("z", z, x=x, A=A, M=M, H=H, B=B, EC=EC)
        C = melora_sample(M, H, EC)
        u = torch.empty(T, r, dtype=torch.float32)
        v = torch.empty(T, r, dtype=torch.float32)
        if T:
            d = _dims(x, n, m, r)
            call("melora_melora_forward", ptr(z),
                 _byref(_api.melora_melora_saved(ptr(x), ptr(u), ptr(v))),
                 workspace(_api.OP_MELORA_FORWARD, d),
                 _byref(_api.melora_melora_params(ptr(A), ptr(B), ptr(M), ptr(H), s)),
                 _byref(_api.melora_melora_draw(ptr(C), ptr(EC), E)), d)
        ctx.mark_dirty(z)
        ctx.save_for_backward(x, A, C, H, B, EC, u, v)
        ctx.args = (s, E)
        ctx.on_backward = on_backward
        return z

    @staticmethod
    @once_differentiable
    def backward(ctx, dz):
        x, A, C, H, B, EC, u, v = ctx.saved_tensors
        _call_backward(ctx)
        s, E = ctx.args
        dz = _grad_out(dz, x)
        T, n = x.shape
        m, r = B.shape
        nz, nx, nA, nM, nH, nB = ctx.needs_input_grad[:6]
        dx, dA, dM, dH, dB = (_zeros_if(nx, x), _zeros_if(nA, A), _zeros_if(nM, H),
                              _zeros_if(nH, H), _zeros_if(nB, B))
        if T and (nx or nA or nM or nH or nB):
            d = _dims(x, n, m, r)
            # the backward reads the drawn C, not M (not saved)
            call("melora_melora_backward", ptr(dx),
                 grads(_api.melora_melora_grads, dA, dB, dM, dH),
                 _byref(_api.melora_melora_saved(ptr(x), ptr(u), ptr(v))),
                 workspace(_api.OP_MELORA_BACKWARD, d), ptr(dz),
                 _byref(_api.melora_melora_params(ptr(A), ptr(B), None, ptr(H), s)),
                 _byref(_api.melora_melora_draw(ptr(C), ptr(EC), E)), d)
        return (dz if nz else None), dx, dA, dM, dH, dB, None, None, None, None


def melora_add_(z, x, A, M, H, B, EC, s, E=1, on_backward=None):
    """C_e = M + (H*H)*EC_e (EC is (E, r, r)); u = x A^T; v_t = C_e u_t; z += s v B^T.
    Example e owns tokens e*T/E .. (e+1)*T/E - 1 (T must be a multiple of E)."""
    return MeLoRAFunction.apply(z, x, A, M, H, B, EC, _scalar("s", s), _int("E", E),
                                on_backward)


def melora_mc_add_(z, x, A, C, B, s):
    """Monte-Carlo inference (no gradient): z (K, T, m) += s (x A^T C_k^T) B^T for the K
    matrices C (K, r, r); x A^T is computed once."""
    _tensor("x", x, dim=2, act=True)
    T, n = x.shape
    _tensor("z", z, dim=3, act=True)
    _same_dtype(z, x)
    K, m = z.shape[0], z.shape[2]
    if z.shape[1] != T:
        raise ValueError("z must have shape (K, T, m) with T = x.shape[0] = %d (got %s)"
                         % (T, tuple(z.shape)))
    _tensor("A", A, dim=2)
    r = A.shape[0]
    if r < 1 or n < 1 or m < 1 or K < 1:
        raise ValueError("sizes must be positive: r = %d, n = %d, m = %d, K = %d"
                         % (r, n, m, K))
    _tensor("A", A, (r, n))
    _tensor("C", C, (K, r, r))
    _tensor("B", B, (m, r))
    _no_alias("z", z, x=x, A=A, C=C, B=B)
    s = _scalar("s", s)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (z, x, A, C, B)):
        raise ValueError("melora_mc_add_ has no gradient: call it under torch.no_grad()")
    if T:
        u = torch.empty(T, r, dtype=torch.float32)
        d = _dims(x, n, m, r)
        call("melora_melora_mc_forward", ptr(z), _byref(_api.melora_lora_saved(ptr(x), ptr(u))),
             workspace(_api.OP_MELORA_MC_FORWARD, d),
             _byref(_api.melora_melora_params(ptr(A), ptr(B), None, None, s)), ptr(C), K, d)
    return z


# ------------------------------------------------------------------------------ KL --
class _KLFunction(torch.autograd.Function):
    """kind: blob | eq7 | eq8 | exact.  params: the tensors the KL depends on, in the
    order of the C function's gradient arguments."""

    @staticmethod
    def forward(ctx, kind, sigma, eps, *params):
        want = [ctx.needs_input_grad[3 + i] for i in range(len(params))]
        g = [torch.zeros_like(p) if w else None for p, w in zip(params, want)]
        kl = ctypes.c_double(0.0)
        if kind == "blob":
            MA, GA = params
            r, n = MA.shape
            call("melora_blob_kl", _byref(kl), grads(_api.melora_blob_grads, g[0], g[1], None),
                 _byref(_api.melora_blob_params(ptr(MA), ptr(GA), None, 0.0)), sigma, 1.0, r, n)
        elif kind == "exact":
            M, H = params
            r = M.shape[0]
            call("melora_melora_kl_exact", _byref(kl),
                 grads(_api.melora_melora_grads, None, None, g[0], g[1]),
                 _byref(_api.melora_melora_params(None, None, ptr(M), ptr(H), 0.0)), sigma, 1.0,
                 r)
        else:
            A, M, H = params
            r, n = A.shape
            gr = grads(_api.melora_melora_grads, g[0], None, g[1], g[2])
            p = _byref(_api.melora_melora_params(ptr(A), None, ptr(M), ptr(H), 0.0))
            work = workspace(_api.OP_MELORA_KL, _lib.dims(1, n, 1, r))
            if kind == "eq7":
                call("melora_melora_kl", _byref(kl), gr, work, p, sigma, 1.0, r, n)
            else:
                call("melora_melora_kl_prior_noise", _byref(kl), gr, work, p, sigma, eps, 1.0,
                     r, n)
        ctx.grads = g
        return torch.tensor(kl.value, dtype=torch.float32)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # the stored gradients stay for a retain_graph backward
        out = [None, None, None]
        for d in ctx.grads:
            out.append(None if d is None else d * g.to(d.dtype))
        return tuple(out)


def _kl_args(names, params, shapes):
    for name, p, shape in zip(names, params, shapes):
        _tensor(name, p, dim=len(shape))
    r = params[0].shape[0]
    n = params[0].shape[1]
    if r < 1 or n < 1:
        raise ValueError("%s must be non-empty (got %s)" % (names[0], tuple(params[0].shape)))
    dims = {"r": r, "n": n}
    for name, p, shape in zip(names, params, shapes):
        _tensor(name, p, tuple(dims[k] for k in shape))


def blob_kl(MA, GA, sigma_p):
    """sum log sigma_p - log Om + (Om^2 + MA^2)/(2 sigma_p^2) - 1/2, Om = GA*GA."""
    _kl_args(("MA", "GA"), (MA, GA), ("rn", "rn"))
    return _KLFunction.apply("blob", _scalar("sigma_p", sigma_p), 0.0, MA, GA)


def melora_kl(A, M, H, sigma):
    """Paper eq. 7: (|M A|_F^2 + |Om |A||_F^2) / (2 sigma^2) - sum log Om, Om = H*H."""
    _kl_args(("A", "M", "H"), (A, M, H), ("rn", "rr", "rr"))
    return _KLFunction.apply("eq7", _scalar("sigma", sigma), 0.0, A, M, H)


def melora_kl_prior_noise(A, M, H, sigma_p, eps):
    """Paper eq. 8: eq. 7 with sigma = sigma_p + eps, eps in [0, 1)."""
    _kl_args(("A", "M", "H"), (A, M, H), ("rn", "rr", "rr"))
    return _KLFunction.apply("eq8", _scalar("sigma_p", sigma_p), _scalar("eps", eps), A, M, H)


def melora_kl_exact(M, H, sigma):
    """Exact KL of q(C) = N(M, Om^2) against N(0, sigma^2), Om = H*H."""
    _kl_args(("M", "H"), (M, H), ("rr", "rr"))
    return _KLFunction.apply("exact", _scalar("sigma", sigma), 0.0, M, H)
