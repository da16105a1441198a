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

_VP = ctypes.c_void_p
_F = ctypes.c_float
_D = ctypes.c_double
_I = ctypes.c_int
_I64 = ctypes.c_int64
_U64 = ctypes.c_uint64

# melora_op
OP_LORA_FORWARD = 0
OP_LORA_BACKWARD = 1
OP_FLIPOUT_FORWARD = 2
OP_FLIPOUT_BACKWARD = 3
OP_MELORA_FORWARD = 4
OP_MELORA_BACKWARD = 5
OP_MELORA_MC_FORWARD = 6
OP_MELORA_KL = 7

# melora_method
METHOD_LORA = 0
METHOD_BLOB = 1
METHOD_BLOB_FLIPOUT = 2
METHOD_MELORA = 3

# melora_dtype
DTYPE_FP32 = 0
DTYPE_BF16 = 1
DTYPE_FP16 = 2


# melora_status (melora.h): MeloraError.status is one of the negative ones
OK = 0
ERR_NULL = -1
ERR_SIZE = -2
ERR_OVERFLOW = -3
ERR_DIVISIBILITY = -4
ERR_VALUE = -5
ERR_ENUM = -6
ERR_CAPACITY = -7
ERR_ALIGNMENT = -8
ERR_ALLOC = -9
ERR_CUDA = -10
ERR_CUBLAS = -11
ERR_ALIAS = -12  # an output or the workspace overlaps another buffer of the call
STATUS_NAMES = {v: "MELORA_" + k for k, v in list(globals().items())
                if (k == "OK" or k.startswith("ERR_")) and isinstance(v, int)}


class MeloraError(RuntimeError):
    """A melora function returned a negative status; .status is its code (ERR_*), .name
    its melora.h name."""

    def __init__(self, status, func):
        self.status = status
        self.name = STATUS_NAMES.get(status, "unknown status")
        self.func = func
        super().__init__("%s: %s (status %d)" % (func, _status_string(status), status))


class Module(ctypes.Structure):
    """melora_module: `count` weights of shape m x n."""
    _fields_ = [("name", ctypes.c_char_p), ("m", _I64), ("n", _I64), ("count", _I64)]


class TrainMemory(ctypes.Structure):
    """melora_train_memory, bytes per part."""
    _fields_ = [(f, _I64) for f in
                ("params", "grads", "adam", "activations", "noise", "total")]


# name: (argument types) -- every function returns melora_status (int)
_SIGS = {
    "melora_workspace_size": [ctypes.POINTER(ctypes.c_size_t), _I, _I, _I, _I, _I],
    "melora_noise_normal": [_VP, _U64, _U64, _I64],
    "melora_noise_uniform": [_VP, _U64, _U64, _I64],
    "melora_noise_sign": [_VP, _U64, _U64, _I64],
    "melora_lora_forward": [_VP] * 6 + [_F, _I, _I, _I, _I],
    "melora_lora_backward": [_VP] * 9 + [_F, _I, _I, _I, _I],
    "melora_blob_sample": [_VP] * 4 + [_I, _I],
    "melora_blob_forward": [_VP] * 9 + [_F, _I, _I, _I, _I],
    "melora_blob_backward": [_VP] * 12 + [_F, _I, _I, _I, _I],
    "melora_blob_flipout_forward": [_VP] * 10 + [_F, _I, _I, _I, _I, _I],
    "melora_blob_flipout_backward": [_VP] * 14 + [_F, _I, _I, _I, _I, _I],
    "melora_blob_kl": [_VP] * 5 + [_F, _F, _I, _I],
    "melora_melora_sample": [_VP] * 4 + [_I, _I],
    "melora_melora_forward": [_VP] * 8 + [_F, _I, _I, _I, _I, _I],
    "melora_melora_backward": [_VP] * 15 + [_F, _I, _I, _I, _I, _I],
    "melora_melora_mc_forward": [_VP] * 7 + [_F, _I, _I, _I, _I, _I],
    "melora_melora_kl": [_VP] * 8 + [_F, _F, _I, _I],
    "melora_melora_kl_prior_noise": [_VP] * 8 + [_F, _F, _F, _I, _I],
    "melora_melora_kl_exact": [_VP] * 5 + [_F, _F, _I],
    "melora_count_params": [ctypes.POINTER(_I64), _I, _I64, _I64, _I64],
    "melora_count_model_params": [ctypes.POINTER(_I64), _I, ctypes.POINTER(Module), _I, _I64],
    "melora_count_train_memory": [ctypes.POINTER(TrainMemory), _I, ctypes.POINTER(Module), _I,
                                  _I64, _I64, _I64, _I64, _I, _I],
}


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
lib.melora_status_string.restype = ctypes.c_char_p
lib.melora_status_string.argtypes = [_I]
for _name, _args in _SIGS.items():
    _f = getattr(lib, _name)
    _f.restype = _I
    _f.argtypes = _args


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
    f.argtypes = [_I]
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


def f32(t, name="tensor"):
    """t as a contiguous float32 CPU tensor (a copy only when needed); ValueError naming
    `name` for a tensor on another device."""
    if t.device.type != "cpu":
        raise ValueError("%s is on %s: melora's PyTorch bridge runs on the CPU only (the "
                         "CUDA library libmelora_cuda.so is not bridged yet)" % (name, t.device))
    if t.dtype != torch.float32:
        t = t.float()
    return t.contiguous()


_tls = threading.local()


def workspace(op, T, n, m, r):
    """Scratch for `op` (melora_workspace_size bytes): one growing buffer per thread.
    The compute functions use it only during a call, so consecutive calls share it."""
    size = ctypes.c_size_t(0)
    call("melora_workspace_size", ctypes.byref(size), op, T, n, m, r)
    buf = getattr(_tls, "buf", None)
    if buf is None or buf.numel() < size.value:
        buf = torch.empty(max(size.value, 64), dtype=torch.uint8)
        assert buf.data_ptr() % 8 == 0
        _tls.buf = buf
    return buf.data_ptr()


WINDOW_BITS = 40  # draw d of a module uses stream indices [d << 40, (d + 1) << 40)


def noise(kind, seed, offset, shape, out=None):
    """Tensor of melora_rng_<kind>(seed, offset + i), kind in normal|uniform|sign."""
    if out is None:
        out = torch.empty(shape, dtype=torch.float32)
    count = out.numel()
    if count == 0:
        return out
    call("melora_noise_" + kind, ptr(out), seed & 0xFFFFFFFFFFFFFFFF,
         offset & 0xFFFFFFFFFFFFFFFF, count)
    return out
