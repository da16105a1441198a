"""ctypes binding of libmelora.so (melora.h built as a shared library by `make lib`).

The library is found, in order, at $MELORA_LIB, at <repository>/build/libmelora.so (this
file lives in <repository>/python/melora/), and through ctypes.util.find_library.
Every call's status is checked; a negative status raises MeloraError with the text of
melora_status_string().
"""
import ctypes
import ctypes.util
import os
import threading

import torch

from . import _api
from ._api import STATUS_NAMES

# Every signature, struct, constant and status name comes from _api.py, which
# tools/api.py generates from melora.h: the binding cannot drift from the header.


class MeloraError(RuntimeError):
    """A melora function returned a negative status; .status is its code (_api.ERR_*),
    .name its melora.h name."""

    def __init__(self, status, func):
        self.status = status
        self.name = STATUS_NAMES.get(status, "unknown status")
        self.func = func
        super().__init__("%s: %s (status %d)" % (func, _status_string(status), status))


def _candidates():
    env = os.environ.get("MELORA_LIB")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "build", "libmelora.so")
    yield os.path.join(here, "libmelora.so")
    found = ctypes.util.find_library("melora")
    if found:
        yield found


def _load():
    errors = []
    for path in _candidates():
        if os.path.sep not in path or os.path.exists(path):
            try:
                return ctypes.CDLL(path), path
            except OSError as e:  # pragma: no cover - reported below
                errors.append("%s: %s" % (path, e))
        else:
            errors.append("%s: not found" % path)
    raise ImportError("libmelora.so not found (run `make lib` at the repository root or set "
                      "MELORA_LIB): " + "; ".join(errors))


lib, path = _load()
_api.declare(lib)


# Fork safety. GNU OpenMP's thread pool does not survive fork(): a child whose parent has
# already run a parallel region waits forever for the parent's pool threads at its first
# parallel region. As PyTorch does for its own pools, a child of os.fork (multiprocessing's
# "fork", gunicorn --preload, ...) runs melora's OpenMP regions on one thread: the handler
# sets the forking thread's OpenMP thread count to 1 (threads the child starts later build
# pools of their own).
forked_child = False


def _omp_set_num_threads():
    try:
        f = ctypes.CDLL("libgomp.so.1").omp_set_num_threads
    except (OSError, AttributeError):
        try:
            f = lib.omp_set_num_threads
        except AttributeError:
            return None
    f.restype = None
    f.argtypes = [ctypes.c_int]
    return f


_omp_set = _omp_set_num_threads()


def _after_fork_in_child():
    global forked_child
    forked_child = True
    if _omp_set is not None:
        _omp_set(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


with torch.enable_grad():
    _probe = torch.zeros(1, requires_grad=True) * 1  # any autograd node, for in_backward()


def in_backward():
    """True while the autograd engine runs a backward pass on this thread (where
    torch.utils.checkpoint recomputes forwards), False outside, None if this PyTorch
    cannot tell."""
    try:
        torch._C._will_engine_execute_node(_probe.grad_fn)
    except RuntimeError as e:
        if "during the backward" in str(e):
            return False
        return None
    except (AttributeError, TypeError):
        return None
    return True


def _status_string(status):
    return lib.melora_status_string(status).decode()


def call(name, *args):
    """Calls melora function `name`; raises MeloraError on a negative status."""
    st = getattr(lib, name)(*args)
    if st != 0:
        raise MeloraError(st, name)


def ptr(t):
    """Address of a tensor's data (None for None: the C NULL that skips a gradient)."""
    if t is None:
        return None
    return t.data_ptr()


class DtypeError(TypeError, ValueError):
    """A tensor of a dtype melora does not take there (float64, an integer type, or a half
    parameter where the C call needs float32). A TypeError; also a ValueError, like the
    bridge's other argument errors, so that code catching those still catches it."""


# The activations' dtypes the C library takes (melora_dims.dtype): torch.bfloat16's bits are
# melora's bf16 and torch.float16's IEEE binary16, so their storage is passed as it is.
ACT_DTYPES = {torch.float32: _api.FP32, torch.bfloat16: _api.BF16, torch.float16: _api.FP16}
_ACT_NAMES = "float32, bfloat16 or float16"


def _cpu(t, name):
    if t.device.type != "cpu":
        raise ValueError("%s is on %s: melora's PyTorch bridge runs on the CPU only (the "
                         "CUDA library libmelora_cuda.so is not bridged yet)" % (name, t.device))


def f32(t, name="tensor"):
    """A parameter as a contiguous float32 CPU tensor: float32 as it is, bf16 / fp16 widened
    (exactly; differentiable, so the gradient returns rounded to the parameter's dtype).
    ValueError naming `name` for a tensor on another device, DtypeError for another dtype
    (float64 would lose precision silently)."""
    _cpu(t, name)
    if t.dtype != torch.float32:
        if t.dtype not in ACT_DTYPES:
            raise DtypeError("%s is %s: melora's parameters are float32 (bfloat16 and "
                             "float16 are widened to it)" % (name, t.dtype))
        t = t.float()
    return t.contiguous()


def act(t, name="x"):
    """An activation as a contiguous CPU tensor of its own dtype (float32, bfloat16 or
    float16, which the C library reads and writes as they are); DtypeError for any other."""
    _cpu(t, name)
    if t.dtype not in ACT_DTYPES:
        raise DtypeError("%s is %s: melora's activations are %s" % (name, t.dtype, _ACT_NAMES))
    return t.contiguous()


def dtype_code(t):
    """melora_dtype of an activation tensor."""
    return ACT_DTYPES[t.dtype]


def dims(T, n, m, r, dtype=_api.FP32):
    """melora_dims {T, n, m, r, dtype}: the sizes (and the activations' dtype) every compute
    call takes by value."""
    return _api.melora_dims(T, n, m, r, dtype)


def grads(cls, *tensors):
    """A pointer to the grads struct `cls` of these gradients (None for each one not
    wanted), or None, the NULL that asks for no parameter gradient, when none is wanted."""
    if all(t is None for t in tensors):
        return None
    return ctypes.byref(cls(*[ptr(t) for t in tensors]))


_tls = threading.local()


def workspace(op, d):
    """melora_work for `op` at dims `d` (at least melora_workspace_size bytes): one growing
    buffer per thread. The compute functions use it only during a call, so consecutive
    calls share it."""
    size = ctypes.c_size_t(0)
    call("melora_workspace_size", ctypes.byref(size), op, d)
    buf = getattr(_tls, "buf", None)
    if buf is None or buf.numel() < size.value:
        buf = torch.empty(max(size.value, 64), dtype=torch.uint8)
        assert buf.data_ptr() % 8 == 0
        _tls.buf = buf
    return _api.melora_work(buf.data_ptr(), buf.numel())


_MASK64 = 0xFFFFFFFFFFFFFFFF


def noise(kind, seed, offset, shape, out=None):
    """Tensor of melora_rng_<kind>(seed, offset + i), kind in normal|uniform|sign."""
    if out is None:
        out = torch.empty(shape, dtype=torch.float32)
    count = out.numel()
    if count == 0:
        return out
    call("melora_noise_" + kind, ptr(out), seed & _MASK64, offset & _MASK64, count)
    return out


# A draw's noise, placed in the streams by the library (melora.h states where): these
# wrappers only allocate. A draw outside the seed's range raises MeloraError ERR_VALUE.
def _draw(draw, func):
    """draw as a uint64 argument: ctypes would wrap a negative or too wide int into one
    the library accepts, so those get the library's answer for any draw out of range."""
    draw = int(draw)
    if not 0 <= draw <= _MASK64:
        raise MeloraError(_api.ERR_VALUE, func)
    return draw


def draw_offset(draw):
    """melora_draw_offset: the first stream index of draw `draw`."""
    off = ctypes.c_uint64(0)
    call("melora_draw_offset", ctypes.byref(off), _draw(draw, "melora_draw_offset"))
    return off.value


def blob_noise(seed, draw, r, n, out=None):
    """melora_blob_noise: BLoB's EA (r, n) of draw `draw`."""
    if out is None:
        out = torch.empty(r, n, dtype=torch.float32)
    call("melora_blob_noise", ptr(out), seed & _MASK64, _draw(draw, "melora_blob_noise"), r, n)
    return out


def flipout_noise(seed, draw, G, d):
    """melora_blob_flipout_noise at dims d: EA (r, n), sa (ceil(T/G), n), sb (ceil(T/G), r)
    of draw `draw`. For T = 0 the signs are empty and EA is the one a one-token batch
    draws (the library's EA does not depend on T)."""
    groups = -(-d.T // G)
    EA = torch.empty(d.r, d.n, dtype=torch.float32)
    sa = torch.empty(groups, d.n, dtype=torch.float32)
    sb = torch.empty(groups, d.r, dtype=torch.float32)
    if d.T == 0:
        e = flipout_noise(seed, draw, G, dims(1, d.n, d.m, d.r))[0]
        return e, sa, sb
    call("melora_blob_flipout_noise", ptr(EA), ptr(sa), ptr(sb), seed & _MASK64,
         _draw(draw, "melora_blob_flipout_noise"), G, d)
    return EA, sa, sb


def melora_noise(seed, draw, E, r, out=None):
    """melora_melora_noise: Me-LoRA's EC (E, r, r) of draw `draw`."""
    if out is None:
        out = torch.empty(E, r, r, dtype=torch.float32)
    if out.numel() == 0:  # E = 0: an empty batch draws nothing
        return out
    call("melora_melora_noise", ptr(out), seed & _MASK64, _draw(draw, "melora_melora_noise"),
         E, r)
    return out
