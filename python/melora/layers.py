"""PEFT-style adapter modules around an existing nn.Linear, backed by melora's kernels.

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

Noise: every sampling forward uses one "draw" d of the module's counter RNG (seed S):
    BLoB      EA (r, n)        = melora_noise_normal(S, d << 40, r*n)
    Flipout   sa (ceil(T/G), n) = melora_noise_sign(S, d << 40, ceil(T/G)*n),
              sb (ceil(T/G), r) = melora_noise_sign(S, (d << 40) + ceil(T/G)*n, ...)
    Me-LoRA   EC (E, r, r)     = melora_noise_normal(S, d << 40, E*r*r)
    eq. 8     eps              = melora_rng_uniform(S, d) (d of the latest sampling forward)
so a C program with the same seed and draw index uses the same samples. After a sampling
forward the counter advances (auto_resample=True) so the next forward draws new noise;
resample() advances it by hand and reseed(seed, draw) sets it. seed and draw are saved in
the state_dict (extra state).

Modes: in training every forward samples. In eval, eval_mode is
    "mean"    the mean weights (BLoB: A = MA; Me-LoRA: C = M)  [default]
    "sample"  one fresh sample per forward (melora.mc_predict averages K such passes)
    "mc"      mc_samples samples at once: the output gets a leading dimension K, to be
              averaged as probabilities (use it on a classifier head; Me-LoRA computes
              x A^T once for all K through melora_melora_mc_forward). No gradient.
"""
import math

import torch
import torch.nn as nn

from . import _lib
from . import functional as MF

EVAL_MODES = ("mean", "sample", "mc")
KL_MODES = ("eq7", "eq8", "exact")
_MASK64 = 0xFFFFFFFFFFFFFFFF


class _Adapter(nn.Module):
    """Shared plumbing: base layer, flattening, dtype handling, the noise counter."""

    method = None  # melora_method of the counting functions

    def __init__(self, base_layer, r=8, lora_alpha=16, lora_dropout=0.0, seed=0,
                 eval_mode="mean", mc_samples=10):
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise TypeError("melora adapters wrap an nn.Linear (got %s)"
                            % type(base_layer).__name__)
        if r <= 0:
            raise ValueError("r must be positive")
        if eval_mode not in EVAL_MODES:
            raise ValueError("eval_mode must be one of %s" % (EVAL_MODES,))
        self.base_layer = base_layer
        for p in base_layer.parameters():
            p.requires_grad_(False)
        self.in_features = base_layer.in_features
        self.out_features = base_layer.out_features
        self.r = int(r)
        self.lora_alpha = lora_alpha
        self.scaling = lora_alpha / r
        self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        self.seed = int(seed) & _MASK64
        self.draw = 0
        self.last_draw = None
        self.auto_resample = True
        self.eval_mode = eval_mode
        self.mc_samples = int(mc_samples)

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
    def reseed(self, seed, draw=0):
        """Sets the seed and the index of the next draw."""
        self.seed = int(seed) & _MASK64
        self.draw = int(draw)
        self.last_draw = None
        return self

    def resample(self):
        """The next sampling forward uses new noise (advances the draw index)."""
        self.draw += 1
        return self

    def _take_draw(self, k=1):
        d = self.draw
        self.last_draw = d + k - 1
        if self.auto_resample:
            self.draw = d + k
        return d

    @staticmethod
    def _offset(d):
        return (int(d) << _lib.WINDOW_BITS) & _MASK64

    def get_extra_state(self):
        return {"seed": self.seed, "draw": self.draw}

    def set_extra_state(self, state):
        self.seed = int(state["seed"])
        self.draw = int(state["draw"])

    def _sampling(self):
        return self.training or self.eval_mode != "mean"

    # -- forward ---------------------------------------------------------------------
    def forward(self, x):
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        if self.training or self.eval_mode != "mc":
            y = self._base(x2)
            out = self._add(y, self._adapter_input(x2), x2.shape[0])
            return out.to(self._out_dtype(x2)).reshape(*lead, self.out_features)
        with torch.no_grad():
            z = self._mc(x2, self.mc_samples)
        return z.to(self._out_dtype(x2)).reshape(self.mc_samples, *lead, self.out_features)

    def _out_dtype(self, x2):
        w = self.base_layer.weight
        return torch.result_type(x2, w) if x2.is_floating_point() else w.dtype

    def _base(self, x2):
        y = self.base_layer(x2)
        if y.dtype != torch.float32:
            return y.float()
        if y._base is not None or not y.is_contiguous():
            return y.contiguous().clone()
        return y

    def _adapter_input(self, x2):
        return _lib.f32(self.lora_dropout(x2))

    def _mc(self, x2, K):
        """(K, T, m): K samples of the layer's output (default: K sampling forwards)."""
        xa = self._adapter_input(x2)
        y = self._base(x2)
        return torch.stack([self._add(y.clone(), xa, x2.shape[0]) for _ in range(K)])

    def forward_mc(self, x, K=None):
        """K (default mc_samples) samples of this layer's output, stacked: (K, ..., out).
        Uses draws d .. d+K-1, the same noise as K sampling forwards. No gradient."""
        K = self.mc_samples if K is None else int(K)
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        with torch.no_grad():
            z = self._mc(x2, K)
        return z.to(self._out_dtype(x2)).reshape(K, *lead, self.out_features)

    def kl(self):
        return torch.zeros((), dtype=torch.float32)

    def extra_repr(self):
        return "in_features=%d, out_features=%d, r=%d, lora_alpha=%s, seed=%d" % (
            self.in_features, self.out_features, self.r, self.lora_alpha, self.seed)


class LoRALinear(_Adapter):
    """Plain LoRA: y = base(x) + (alpha/r) dropout(x) A^T B^T (melora_lora_forward/backward)."""

    method = _lib.METHOD_LORA

    def __init__(self, base_layer, r=8, lora_alpha=16, lora_dropout=0.0, seed=0, **kw):
        super().__init__(base_layer, r, lora_alpha, lora_dropout, seed, **kw)
        self._init_lora()

    def _add(self, y, xa, T):
        return MF.lora_add_(y, xa, self.lora_A, self.lora_B, self.scaling)

    def noise(self, T=None, draw=None):
        return {}


class BLoBLinear(_Adapter):
    """BLoB: A ~ N(MA, (GA*GA)^2) entrywise (MA = lora_A, GA = lora_A_rho), B deterministic.
    flipout=True uses Flipout with sign groups of flipout_group tokens (the official code:
    one per token). kl() is BLoB's KL against N(0, prior_std^2)."""

    method = _lib.METHOD_BLOB

    def __init__(self, base_layer, r=8, lora_alpha=16, lora_dropout=0.0, seed=0,
                 flipout=True, flipout_group=1, prior_std=0.2, eps0=0.05, **kw):
        super().__init__(base_layer, r, lora_alpha, lora_dropout, seed, **kw)
        self._init_lora()
        self.lora_A_rho = self._std_param((self.r, self.in_features), eps0)
        self.flipout = bool(flipout)
        self.flipout_group = int(flipout_group)
        self.prior_std = float(prior_std)
        if flipout:
            self.method = _lib.METHOD_BLOB_FLIPOUT

    def noise(self, T=None, draw=None):
        """The noise of draw `draw` (default: the next one): EA, and for Flipout with T
        tokens the signs sa, sb."""
        d = self.draw if draw is None else draw
        out = {"EA": _lib.noise("normal", self.seed, self._offset(d),
                                (self.r, self.in_features))}
        if self.flipout and T is not None:
            out["sa"], out["sb"] = MF.flipout_signs(self.seed, self._offset(d), T,
                                                    self.flipout_group, self.in_features,
                                                    self.r)
        return out

    def _add(self, y, xa, T):
        if not self._sampling():
            return MF.lora_add_(y, xa, self.lora_A, self.lora_B, self.scaling)
        d = self._take_draw()
        EA = _lib.noise("normal", self.seed, self._offset(d), (self.r, self.in_features))
        if self.flipout:
            return MF.blob_flipout_add_(y, xa, self.lora_A, self.lora_A_rho, self.lora_B, EA,
                                        self.scaling, self.flipout_group, self.seed,
                                        self._offset(d))
        return MF.blob_add_(y, xa, self.lora_A, self.lora_A_rho, self.lora_B, EA,
                            self.scaling)

    def _mc(self, x2, K):
        mode, self.eval_mode = self.eval_mode, "sample"
        try:
            return super()._mc(x2, K)
        finally:
            self.eval_mode = mode

    def kl(self):
        return MF.blob_kl(self.lora_A, self.lora_A_rho, self.prior_std)


class MeLoRALinear(_Adapter):
    """Me-LoRA: y = base(x) + (alpha/r) dropout(x) A^T C^T B^T with C = M + (H*H) * EC.
    per_example=False draws one C per forward; True one C per example (the first dimension
    of x: (batch, ..., in) -> batch examples; a 2-D x has one example per row).
    kl_mode: "eq7" (the paper's eq. 7 with sigma = prior_std), "eq8" (eq. 7 with
    sigma = prior_std + eps, eps ~ U(0,1) drawn per step from the module's seed), or
    "exact" (the exact KL of q(C) against N(0, prior_std^2))."""

    method = _lib.METHOD_MELORA

    def __init__(self, base_layer, r=8, lora_alpha=16, lora_dropout=0.0, seed=0,
                 per_example=False, kl_mode="eq7", prior_std=0.2, eps0=0.05, **kw):
        super().__init__(base_layer, r, lora_alpha, lora_dropout, seed, **kw)
        if kl_mode not in KL_MODES:
            raise ValueError("kl_mode must be one of %s" % (KL_MODES,))
        self._init_lora()
        self.lora_M = nn.Parameter(torch.eye(self.r))
        self.lora_H = self._std_param((self.r, self.r), eps0)
        self.per_example = bool(per_example)
        self.kl_mode = kl_mode
        self.prior_std = float(prior_std)

    def noise(self, E=1, draw=None):
        """EC (E, r, r) of draw `draw` (default: the next one)."""
        d = self.draw if draw is None else draw
        return {"EC": _lib.noise("normal", self.seed, self._offset(d), (E, self.r, self.r))}

    def forward(self, x):
        self._E = x.shape[0] if (self.per_example and x.dim() >= 2) else 1
        return super().forward(x)

    def _add(self, y, xa, T):
        if not self._sampling():
            EC = torch.zeros(1, self.r, self.r)
            return MF.melora_add_(y, xa, self.lora_A, self.lora_M, self.lora_H, self.lora_B,
                                  EC, self.scaling, 1)
        E = getattr(self, "_E", 1)
        d = self._take_draw()
        EC = _lib.noise("normal", self.seed, self._offset(d), (E, self.r, self.r))
        return MF.melora_add_(y, xa, self.lora_A, self.lora_M, self.lora_H, self.lora_B, EC,
                              self.scaling, E)

    def _mc(self, x2, K):
        """melora_melora_mc_forward: sample k uses C_k = M + (H*H) EC of draw d + k."""
        d = self._take_draw(K)
        EC = torch.empty(K, self.r, self.r)
        for k in range(K):
            _lib.noise("normal", self.seed, self._offset(d + k), (self.r, self.r), out=EC[k])
        M, H = _lib.f32(self.lora_M.detach()), _lib.f32(self.lora_H.detach())
        C = MF.melora_sample(M, H, EC)
        y = self._base(x2)
        z = y.unsqueeze(0).expand(K, *y.shape).contiguous()
        return MF.melora_mc_add_(z, self._adapter_input(x2), _lib.f32(self.lora_A.detach()),
                                 C, _lib.f32(self.lora_B.detach()), self.scaling)

    def kl_eps(self):
        """eq. 8's eps for the current step: melora_rng_uniform(seed, d), d the draw of the
        latest sampling forward (or the next draw if none has run)."""
        d = self.draw if self.last_draw is None else self.last_draw
        return float(_lib.noise("uniform", self.seed, d, (1,))[0])

    def kl(self):
        if self.kl_mode == "exact":
            return MF.melora_kl_exact(self.lora_M, self.lora_H, self.prior_std)
        if self.kl_mode == "eq7":
            return MF.melora_kl(self.lora_A, self.lora_M, self.lora_H, self.prior_std)
        return MF.melora_kl_prior_noise(self.lora_A, self.lora_M, self.lora_H, self.prior_std,
                                        self.kl_eps())
