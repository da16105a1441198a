"""PEFT-style adapter modules around an existing nn.Linear (or transformers' Conv1D, as in
GPT-2), backed by melora's kernels.

    y = base_layer(x) + adapter(dropout(x))

The base product x W0^T + bias is PyTorch's (the wrapped layer's own forward); the
adapter adds into that output in place (melora's z += delta). Leading dimensions of x
are flattened to (T, n) tokens.

Parameters (names, shapes and initialisation as in PEFT and the official BLoB code):
    lora_A      (r, in)   kaiming-uniform a = sqrt(5), i.e. U(+-1/sqrt(in))  (BLoB: mean MA)
    lora_B      (out, r)  zeros
    lora_A_rho  (r, in)   BLoB's std parameter GA, U(eps0/sqrt2, eps0), std = GA*GA
    lora_M      (r, r)    Me-LoRA's mean of C: the identity
    lora_H      (r, r)    Me-LoRA's std parameter, U(eps0/sqrt2, eps0) like BLoB's GA, so
                          that Omega = H*H starts in BLoB's initial std range
                          [0.00125, 0.0025] (eps0 = 0.05)
    scaling = lora_alpha / r

Noise: every sampling forward uses one "draw" d of the module's counter RNG (seed S),
placed in the streams by the library (melora.h states where):
    BLoB      melora_blob_noise(EA, S, d, r, n)
    Flipout   melora_blob_flipout_noise(EA, sa, sb, S, d, G, {T, n, m, r}) (the signs are
              not stored: backward draws them again)
    Me-LoRA   melora_melora_noise(EC, S, d, E, r)
    eq. 8     eps = melora_rng_uniform(S, d), d the draw of the latest sampling forward
and sample k of a Monte-Carlo pass (eval_mode "mc", forward_mc) that starts at draw d uses
draw d + k. So a C program with the same seed and draw index uses the same samples.
After a sampling forward the counter advances (auto_resample=True) so the next forward
draws new noise; resample() advances it by hand and reseed(seed, draw) sets it. seed and
draw are int64 buffers (melora_seed, melora_draw; the seed is stored as its two's-
complement int64), so they travel with the state_dict and DistributedDataParallel
(broadcast_buffers=True, its default) keeps every rank's counter equal to rank 0's.

Ranks: when torch.distributed is initialised and rank_noise=True (the default), rank k
draws with the seed S + k * 0xD1B54A32D192ED03 (mod 2^64) in place of S, so the ranks'
perturbations are independent; rank 0 (and a single process) uses S itself.

Gradient checkpointing: a sampling forward also takes one 62-bit number from
PyTorch's CPU generator and remembers it with its draw until its backward has read its
saved tensors (up to 4096 per module). torch.utils.checkpoint (reentrant or not, with
preserve_rng_state=True, its default) restores that generator before it recomputes a
forward inside the backward pass, so the recomputation meets the same number and reuses
the original draw instead of taking a new one: the gradients equal those of the run
without checkpointing, and the counter advances once per original forward. Only a
forward that runs inside a backward pass looks its number up, so forwards outside one
(e.g. after the same torch.manual_seed) always take new draws; a recomputation that finds
no number (preserve_rng_state=False) raises a RuntimeError rather than drawing new noise.
(On a PyTorch whose engine cannot say whether a backward pass is running, every
sampling forward looks its number up.) A module has the draws melora_draw_offset accepts
per seed; past them a sampling forward raises rather than repeat the noise.

Checkpoints: the state_dict holds tensors only. Besides the parameters and the two
buffers it has melora_config, a uint8 tensor holding the module's configuration as JSON
(method, r, lora_alpha, sizes, options, merged); load_state_dict refuses a checkpoint
whose configuration differs from the module's, naming the fields.

dtypes: the activations stay in the model's dtype, float32, bfloat16 or float16: the
adapter's input and the base layer's output are handed to the C library as they are
(melora_dims.dtype), the adapter's product is accumulated in float32 and added into the
base output with one rounding to its dtype, and the gradient of x comes back in x's dtype
(no copy of x or of the output in another precision). The parameters are what the model
made them: adapters created on a bf16 or fp16 model keep float32 parameters (mixed
precision: float32 master weights, float32 gradients), and model.to(torch.bfloat16) after
adapt() makes them bf16, as PEFT's: the C call then reads float32 copies (exact) and the
gradients are rounded to bf16. Noise, KLs and every sum stay float32. Other dtypes
(float64, integers) raise melora.DtypeError (a TypeError) naming the dtype; nothing is
computed in a lower precision than the model's. Under torch.autocast, whose base product
comes back in the autocast dtype, the adapter's input is cast to that dtype as autocast
casts the base layer's.

Modes: in training every forward samples. In eval, eval_mode is
    "mean"    the mean weights (BLoB: A = MA; Me-LoRA: C = M)  [default]
    "sample"  one fresh sample per forward (melora.mc_predict averages K such passes)
    "mc"      mc_samples samples at once: the output gets a leading dimension K, to be
              averaged as probabilities (use it on a classifier head; Me-LoRA computes
              x A^T once for all K through melora_melora_mc_forward). No gradient.
merge() adds the mean adapter (scaling * B @ mean_A()) into the base weight and unmerge()
takes it out again; while merged, or while `disabled` is set (melora.disable_adapters),
forward is the base layer alone (a training forward of a merged adapter with gradients
enabled raises: it would leave the adapter without gradients). An empty batch (T = 0)
gives an empty output.
"""
import collections
import json
import math
import numbers
import threading

import torch
import torch.nn as nn

from . import _api, _lib
from . import functional as MF

EVAL_MODES = ("mean", "sample", "mc")
KL_MODES = ("eq7", "eq8", "exact")
_MASK64 = 0xFFFFFFFFFFFFFFFF
RANK_MIX = 0xD1B54A32D192ED03  # rank k draws with seed + k * RANK_MIX
_REPLAY_KEEP = 4096
_LOCK = threading.Lock()  # the draw counters (one module may be called from threads)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError("seed must be an integer (got %r)" % (seed,))
    return int(seed)


def _valid_draw(d):
    """Whether the library has draw d (melora_draw_offset accepts it)."""
    try:
        _lib.draw_offset(d)
    except _lib.MeloraError as e:
        if e.status != _api.ERR_VALUE:
            raise
        return False
    return True


def _check_draw(draw):
    if isinstance(draw, bool) or not isinstance(draw, numbers.Integral) \
            or not _valid_draw(int(draw)):
        raise ValueError("draw must be an integer in the range of melora_draw_offset "
                         "(got %r)" % (draw,))
    return int(draw)


def _signed64(v):
    v = int(v) & _MASK64
    return v - (1 << 64) if v >> 63 else v


def _is_conv1d(layer):
    """transformers.pytorch_utils.Conv1D: y = x W + b with W (in, out)."""
    return (type(layer).__name__ == "Conv1D" and hasattr(layer, "nf")
            and isinstance(getattr(layer, "weight", None), torch.Tensor)
            and layer.weight.dim() == 2)


def _autocast():
    for name in ("is_autocast_cpu_enabled", "is_autocast_enabled"):
        f = getattr(torch, name, None)
        if f is not None and f():
            return True
    return False


def _rank():
    d = torch.distributed
    if d.is_available() and d.is_initialized():
        return d.get_rank()
    return 0


class _Adapter(nn.Module):
    """Shared plumbing: base layer, flattening, dtype handling, the noise counter."""

    method = None  # melora_method of the counting functions
    method_name = None

    def __init__(self, base_layer, r=8, lora_alpha=16, lora_dropout=0.0, seed=0,
                 eval_mode="mean", mc_samples=10, rank_noise=True):
        super().__init__()
        if isinstance(base_layer, nn.Linear):
            in_f, out_f = base_layer.in_features, base_layer.out_features
        elif _is_conv1d(base_layer):
            in_f, out_f = base_layer.weight.shape
        else:
            raise TypeError("melora adapters wrap an nn.Linear or a transformers Conv1D "
                            "(got %s)" % type(base_layer).__name__)
        if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r <= 0:
            raise ValueError("r must be a positive integer (got %r)" % (r,))
        if isinstance(lora_alpha, bool) or not isinstance(lora_alpha, numbers.Real) \
                or not math.isfinite(lora_alpha):
            raise ValueError("lora_alpha must be a finite number (got %r)" % (lora_alpha,))
        if not 0.0 <= float(lora_dropout) < 1.0:
            raise ValueError("lora_dropout must be in [0, 1) (got %r)" % (lora_dropout,))
        if eval_mode not in EVAL_MODES:
            raise ValueError("eval_mode must be one of %s" % (EVAL_MODES,))
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, numbers.Integral) \
                or mc_samples < 1:
            raise ValueError("mc_samples must be a positive integer (got %r)" % (mc_samples,))
        self.base_layer = base_layer
        for p in base_layer.parameters():
            p.requires_grad_(False)
        self.in_features = int(in_f)
        self.out_features = int(out_f)
        self.r = int(r)
        self.lora_alpha = lora_alpha
        self.scaling = lora_alpha / self.r
        self.lora_dropout_p = float(lora_dropout)
        self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        self.register_buffer("melora_seed", torch.tensor(_signed64(_check_seed(seed)),
                                                         dtype=torch.int64))
        self.register_buffer("melora_draw", torch.tensor(0, dtype=torch.int64))
        self.last_draw = None
        self.auto_resample = True
        self.rank_noise = bool(rank_noise)
        self.eval_mode = eval_mode
        self.mc_samples = int(mc_samples)
        self.merged = False
        self.disabled = False
        self._replay = collections.OrderedDict()

    # -- PEFT-style initialisation -------------------------------------------------
    def _init_lora(self):
        self.lora_A = nn.Parameter(torch.empty(self.r, self.in_features))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, self.r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @staticmethod
    def _std_param(shape, eps0):
        """The official BLoB initialisation of a std parameter: U(eps0/sqrt2, eps0)."""
        p = torch.empty(shape)
        if eps0 < 0:
            nn.init.uniform_(p, eps0 - 1, eps0)
        else:
            nn.init.uniform_(p, eps0 / math.sqrt(2), eps0)
        return nn.Parameter(p)

    # -- noise counter ---------------------------------------------------------------
    @property
    def seed(self):
        return int(self._buffers["melora_seed"]) & _MASK64

    @seed.setter
    def seed(self, value):
        self._buffers["melora_seed"].fill_(_signed64(value))

    @property
    def draw(self):
        return int(self._buffers["melora_draw"])

    @draw.setter
    def draw(self, value):
        self._buffers["melora_draw"].fill_(int(value))

    def noise_seed(self):
        """The seed this process draws with: seed, or seed + rank * RANK_MIX under
        torch.distributed with rank_noise=True."""
        s = self.seed
        if self.rank_noise:
            s = (s + _rank() * RANK_MIX) & _MASK64
        return s

    def reseed(self, seed, draw=0):
        """Sets the seed and the index of the next draw."""
        seed, draw = _check_seed(seed), _check_draw(draw)
        with _LOCK:
            self.seed = seed
            self.draw = draw
            self.last_draw = None
            self._replay.clear()
        return self

    def resample(self):
        """The next sampling forward uses new noise (advances the draw index)."""
        with _LOCK:
            self.draw = self.draw + 1
        return self

    def _take_draw(self, k=1):
        """(first draw index, callback for the backward or None). A training forward
        recomputed by torch.utils.checkpoint gets its original draw back (see above)."""
        replayable = k == 1  # a sampling forward (training, or eval_mode "sample")
        with _LOCK:
            if replayable:
                tok = int(torch.randint(0, 1 << 62, (1,)))
                inside = _lib.in_backward()
                d = self._replay.pop(tok, None) if inside is not False else None
                if d is not None:
                    self.last_draw = d
                    return d, None
                if inside:
                    raise RuntimeError(
                        "melora: a sampling forward recomputed inside backward does not "
                        "find the draw of its original forward, so it would sample new "
                        "noise and give wrong gradients. torch.utils.checkpoint must "
                        "restore the generator (preserve_rng_state=True, its default), and "
                        "at most %d forwards of one module may wait for their backward"
                        % _REPLAY_KEEP)
            buf = self._buffers["melora_draw"]
            d = int(buf)
            if not (_valid_draw(d) and _valid_draw(d + k - 1)):
                raise RuntimeError("melora: the draw counter (%d) has left the seed's draws "
                                   "(melora_draw_offset): the noise would repeat; reseed() "
                                   "the module" % d)
            self.last_draw = d + k - 1
            if self.auto_resample:
                buf.fill_(d + k)
            if not replayable:
                return d, None
            self._replay[tok] = d
            while len(self._replay) > _REPLAY_KEEP:
                self._replay.popitem(last=False)
        return d, (lambda: self._retire(tok))

    def _retire(self, tok):
        with _LOCK:
            self._replay.pop(tok, None)

    def _sampling(self):
        return self.training or self.eval_mode != "mean"

    # -- configuration in the state_dict ------------------------------------------------
    def config(self):
        """What the checkpoint records and load_state_dict checks."""
        return {"method": self.method_name, "r": self.r, "lora_alpha": float(self.lora_alpha),
                "in_features": self.in_features, "out_features": self.out_features,
                "merged": bool(self.merged)}

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        blob = json.dumps(self.config(), sort_keys=True).encode()
        destination[prefix + "melora_config"] = torch.tensor(list(blob), dtype=torch.uint8)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        key = prefix + "melora_config"
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        if key in unexpected_keys:
            unexpected_keys.remove(key)
        if key not in state_dict:
            if strict:
                missing_keys.append(key)
            return
        try:
            saved = json.loads(bytes(state_dict[key].to(torch.uint8).tolist()).decode())
        except (ValueError, UnicodeDecodeError):
            error_msgs.append("%s: not a melora configuration" % key)
            return
        mine = self.config()
        diff = ["%s: checkpoint %r, module %r" % (k, saved.get(k), mine.get(k))
                for k in sorted(set(saved) | set(mine)) if saved.get(k) != mine.get(k)]
        if diff:
            error_msgs.append("melora module %s was saved with another configuration (%s)"
                              % (prefix.rstrip(".") or "(root)", "; ".join(diff)))
        else:
            with _LOCK:
                self._replay.clear()

    # -- forward ---------------------------------------------------------------------
    def _examples(self, x):
        return 1

    def forward(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError("x must be a tensor (..., %d) (got %s)" % (
                self.in_features, tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)))
        if self.merged and self.training and torch.is_grad_enabled() and any(
                p.requires_grad for n, p in self.named_parameters()
                if not n.startswith("base_layer.")):
            raise RuntimeError("melora: a merged adapter does not train (its forward is the "
                               "base layer); unmerge() it first")
        if self.merged or self.disabled:
            return self.base_layer(x)
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        E = self._examples(x) if x2.shape[0] else 1
        if self.training or self.eval_mode != "mc":
            y = self._base(x2)
            out = self._add(y, self._adapter_input(x2, y), E)
            return out.reshape(*lead, self.out_features)
        with torch.no_grad():
            z = self._mc(x2, self.mc_samples)
        return z.reshape(self.mc_samples, *lead, self.out_features)

    def _base(self, x2):
        """The base layer's output (T, m), the z the adapter adds into: its own tensor
        (not a view another tensor shares) in its own dtype."""
        _lib.act(x2, "x")  # before the base layer: a float64 input gets melora's error
        y = _lib.act(self.base_layer(x2), "the base layer's output")
        if y._base is not None:
            return y.clone()
        return y

    def _adapter_input(self, x2, y):
        """dropout(x) in the dtype of the base output y (x's own, except under autocast)."""
        x = _lib.act(self.lora_dropout(x2), "x")
        if x.dtype != y.dtype:
            if not _autocast():
                raise _lib.DtypeError("melora: the base layer returned %s for a %s input; "
                                      "the adapter needs both in one dtype"
                                      % (y.dtype, x.dtype))
            x = x.to(y.dtype)
        return x

    @staticmethod
    def _p(t):
        """A parameter as float32 (differentiable: gradients flow back in its dtype)."""
        return _lib.f32(t, "an adapter parameter")

    def _mc(self, x2, K):
        """(K, T, m): K samples of the layer's output (default: K sampling forwards)."""
        y = self._base(x2)
        xa = self._adapter_input(x2, y)
        return torch.stack([self._add(y.clone(), xa, 1) for _ in range(K)])

    def forward_mc(self, x, K=None):
        """K (default mc_samples) samples of this layer's output, stacked: (K, ..., out).
        Uses draws d .. d+K-1, the same noise as K sampling forwards. No gradient."""
        K = self.mc_samples if K is None else int(K)
        if K < 1:
            raise ValueError("K must be a positive integer (got %r)" % (K,))
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        with torch.no_grad():
            z = self._mc(x2, K)
        return z.reshape(K, *lead, self.out_features)

    def kl(self):
        return torch.zeros((), dtype=torch.float32)

    # -- the mean adapter, merging ------------------------------------------------------
    def mean_A(self):
        """A of the mean adapter (float32, detached): delta W = scaling * B @ mean_A()."""
        return self.lora_A.detach().float()

    def delta_weight(self):
        """scaling * B @ mean_A(), (out, in) float32: what merge() adds to the base weight."""
        return self.scaling * (self.lora_B.detach().float() @ self.mean_A())

    @torch.no_grad()
    def _shift_base(self, sign):
        W = self.base_layer.weight
        d = self.delta_weight()
        if _is_conv1d(self.base_layer):
            d = d.t()
        W.copy_((W.float() + sign * d).to(W.dtype))

    def merge(self):
        """Adds the mean adapter into the base weight; forward is then the base layer alone
        (no sampling) until unmerge()."""
        if not self.merged:
            self._shift_base(1.0)
            self.merged = True
        return self

    def unmerge(self):
        """Subtracts what merge() added (recomputed from the current parameters)."""
        if self.merged:
            self._shift_base(-1.0)
            self.merged = False
        return self

    def extra_repr(self):
        return "in_features=%d, out_features=%d, r=%d, lora_alpha=%s, seed=%d" % (
            self.in_features, self.out_features, self.r, self.lora_alpha, self.seed)


class LoRALinear(_Adapter):
    """Plain LoRA: y = base(x) + (alpha/r) dropout(x) A^T B^T (melora_lora_forward/backward)."""

    method = _api.METHOD_LORA
    method_name = "lora"

    def __init__(self, base_layer, r=8, lora_alpha=16, lora_dropout=0.0, seed=0, **kw):
        super().__init__(base_layer, r, lora_alpha, lora_dropout, seed, **kw)
        self._init_lora()

    def _add(self, y, xa, E):
        return MF.lora_add_(y, xa, self._p(self.lora_A), self._p(self.lora_B), self.scaling)

    def noise(self, T=None, draw=None):
        return {}


class BLoBLinear(_Adapter):
    """BLoB: A ~ N(MA, (GA*GA)^2) entrywise (MA = lora_A, GA = lora_A_rho), B deterministic.
    flipout=True uses Flipout with sign groups of flipout_group tokens (the official code:
    one per token). kl() is BLoB's KL against N(0, prior_std^2)."""

    method = _api.METHOD_BLOB
    method_name = "blob"

    def __init__(self, base_layer, r=8, lora_alpha=16, lora_dropout=0.0, seed=0,
                 flipout=True, flipout_group=1, prior_std=0.2, eps0=0.05, **kw):
        super().__init__(base_layer, r, lora_alpha, lora_dropout, seed, **kw)
        if isinstance(flipout_group, bool) or not isinstance(flipout_group, numbers.Integral) \
                or flipout_group < 1:
            raise ValueError("flipout_group must be a positive integer (got %r)"
                             % (flipout_group,))
        if not (isinstance(prior_std, numbers.Real) and math.isfinite(prior_std)
                and prior_std > 0):
            raise ValueError("prior_std must be a positive number (got %r)" % (prior_std,))
        self._init_lora()
        self.lora_A_rho = self._std_param((self.r, self.in_features), eps0)
        self.flipout = bool(flipout)
        self.flipout_group = int(flipout_group)
        self.prior_std = float(prior_std)
        if flipout:
            self.method = _api.METHOD_BLOB_FLIPOUT

    def config(self):
        c = super().config()
        c.update(flipout=self.flipout, flipout_group=self.flipout_group,
                 prior_std=self.prior_std)
        return c

    def noise(self, T=None, draw=None):
        """The noise of draw `draw` (default: the next one): EA, and for Flipout with T
        tokens the signs sa, sb."""
        d = self.draw if draw is None else draw
        S = self.noise_seed()
        if not self.flipout:
            return {"EA": _lib.blob_noise(S, d, self.r, self.in_features)}
        EA, sa, sb = MF.flipout_noise(S, d, 0 if T is None else T, self.flipout_group,
                                      self.in_features, self.out_features, self.r)
        return {"EA": EA} if T is None else {"EA": EA, "sa": sa, "sb": sb}

    def _add(self, y, xa, E):
        A, B = self._p(self.lora_A), self._p(self.lora_B)
        if not self._sampling():
            return MF.lora_add_(y, xa, A, B, self.scaling)
        d, retire = self._take_draw()
        S = self.noise_seed()
        GA = self._p(self.lora_A_rho)
        if self.flipout:
            return MF.blob_flipout_add_(y, xa, A, GA, B, self.scaling, self.flipout_group, S, d,
                                        on_backward=retire)
        EA = _lib.blob_noise(S, d, self.r, self.in_features)
        return MF.blob_add_(y, xa, A, GA, B, EA, self.scaling, on_backward=retire)

    def _mc(self, x2, K):
        y = self._base(x2)
        xa = self._adapter_input(x2, y)
        A, GA, B = (self._p(t.detach()) for t in (self.lora_A, self.lora_A_rho, self.lora_B))
        S = self.noise_seed()
        d, _ = self._take_draw(K)
        out = []
        for k in range(K):  # sample k: draw d + k
            if self.flipout:
                out.append(MF.blob_flipout_add_(y.clone(), xa, A, GA, B, self.scaling,
                                                self.flipout_group, S, d + k))
            else:
                EA = _lib.blob_noise(S, d + k, self.r, self.in_features)
                out.append(MF.blob_add_(y.clone(), xa, A, GA, B, EA, self.scaling))
        return torch.stack(out)

    def kl(self):
        return MF.blob_kl(self._p(self.lora_A), self._p(self.lora_A_rho), self.prior_std)


class MeLoRALinear(_Adapter):
    """Me-LoRA: y = base(x) + (alpha/r) dropout(x) A^T C^T B^T with C = M + (H*H) * EC.
    per_example=False draws one C per forward; True one C per example (the first dimension
    of x: (batch, ..., in) -> batch examples; a 2-D x has one example per row).
    kl_mode: "eq7" (the paper's eq. 7 with sigma = prior_std), "eq8" (eq. 7 with
    sigma = prior_std + eps, eps ~ U(0,1) drawn per step from the module's seed), or
    "exact" (the exact KL of q(C) against N(0, prior_std^2))."""

    method = _api.METHOD_MELORA
    method_name = "melora"

    def __init__(self, base_layer, r=8, lora_alpha=16, lora_dropout=0.0, seed=0,
                 per_example=False, kl_mode="eq7", prior_std=0.2, eps0=0.05, **kw):
        super().__init__(base_layer, r, lora_alpha, lora_dropout, seed, **kw)
        if kl_mode not in KL_MODES:
            raise ValueError("kl_mode must be one of %s" % (KL_MODES,))
        if not (isinstance(prior_std, numbers.Real) and math.isfinite(prior_std)
                and prior_std > 0):
            raise ValueError("prior_std must be a positive number (got %r)" % (prior_std,))
        self._init_lora()
        self.lora_M = nn.Parameter(torch.eye(self.r))
        self.lora_H = self._std_param((self.r, self.r), eps0)
        self.per_example = bool(per_example)
        self.kl_mode = kl_mode
        self.prior_std = float(prior_std)

    def config(self):
        c = super().config()
        c.update(per_example=self.per_example, kl_mode=self.kl_mode, prior_std=self.prior_std)
        return c

    def noise(self, E=1, draw=None):
        """EC (E, r, r) of draw `draw` (default: the next one)."""
        d = self.draw if draw is None else draw
        return {"EC": _lib.melora_noise(self.noise_seed(), d, E, self.r)}

    def _examples(self, x):
        return x.shape[0] if (self.per_example and x.dim() >= 2) else 1

    def _add(self, y, xa, E):
        A, M, H, B = (self._p(t) for t in (self.lora_A, self.lora_M, self.lora_H, self.lora_B))
        if not self._sampling():
            EC = torch.zeros(1, self.r, self.r)
            return MF.melora_add_(y, xa, A, M, H, B, EC, self.scaling, 1)
        d, retire = self._take_draw()
        EC = _lib.melora_noise(self.noise_seed(), d, E, self.r)
        return MF.melora_add_(y, xa, A, M, H, B, EC, self.scaling, E, on_backward=retire)

    def _mc(self, x2, K):
        """melora_melora_mc_forward: sample k uses C_k = M + (H*H) EC of draw d + k."""
        d, _ = self._take_draw(K)
        S = self.noise_seed()
        EC = torch.empty(K, self.r, self.r)
        for k in range(K):
            _lib.melora_noise(S, d + k, 1, self.r, out=EC[k])
        M, H = _lib.f32(self.lora_M.detach()), _lib.f32(self.lora_H.detach())
        C = MF.melora_sample(M, H, EC)
        y = self._base(x2)
        z = y.unsqueeze(0).expand(K, *y.shape).contiguous()
        return MF.melora_mc_add_(z, self._adapter_input(x2, y), _lib.f32(self.lora_A.detach()),
                                 C, _lib.f32(self.lora_B.detach()), self.scaling)

    def mean_A(self):
        """Me-LoRA's mean adapter: C = M, so delta W = scaling * B M A."""
        return self.lora_M.detach().float() @ self.lora_A.detach().float()

    def kl_eps(self):
        """eq. 8's eps for the current step: melora_rng_uniform(seed, d), d the draw of the
        latest sampling forward (or the next draw if none has run)."""
        d = self.draw if self.last_draw is None else self.last_draw
        return float(_lib.noise("uniform", self.noise_seed(), d, (1,))[0])

    def kl(self):
        M, H = self._p(self.lora_M), self._p(self.lora_H)
        if self.kl_mode == "exact":
            return MF.melora_kl_exact(M, H, self.prior_std)
        A = self._p(self.lora_A)
        if self.kl_mode == "eq7":
            return MF.melora_kl(A, M, H, self.prior_std)
        return MF.melora_kl_prior_noise(A, M, H, self.prior_std, self.kl_eps())
