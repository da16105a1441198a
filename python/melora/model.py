"""Whole-model helpers: adapt named target modules (like PEFT's target_modules), sum the
KL terms, draw new noise, Monte-Carlo prediction, and parameter/memory counts through
melora's counting functions."""
import ctypes
import re

import torch
import torch.nn as nn

from . import _lib
from .layers import BLoBLinear, LoRALinear, MeLoRALinear, _Adapter

METHODS = {"lora": LoRALinear, "blob": BLoBLinear, "melora": MeLoRALinear}
_GOLDEN = 0x9E3779B97F4A7C15


def _matches(name, targets):
    if isinstance(targets, str):  # a regular expression on the full name, as in PEFT
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def adapt(model, target_modules, method="lora", r=8, lora_alpha=16, seed=0,
          freeze_base=True, **kwargs):
    """Replaces every nn.Linear of `model` whose name matches `target_modules` (a list of
    names or name suffixes such as ["q_proj", "v_proj"], or a regular expression matched
    against the full name) by the adapter `method` ("lora", "blob", "melora") wrapping it.
    freeze_base=True freezes every other parameter, as PEFT does. The k-th adapted module
    gets seed (seed + k * 0x9E3779B97F4A7C15) mod 2^64. kwargs go to the module class.
    Returns the model (changed in place)."""
    cls = METHODS[method] if isinstance(method, str) else method
    if freeze_base:  # everything but the adapters already in the model
        keep = {id(p) for _, a in adapters(model) for n, p in a.named_parameters()
                if not n.startswith("base_layer.")}
        for p in model.parameters():
            if id(p) not in keep:
                p.requires_grad_(False)
    names = [name for name, mod in model.named_modules()
             if isinstance(mod, nn.Linear) and not isinstance(mod, _Adapter) and name
             and _matches(name, target_modules)]
    if not names:
        raise ValueError("no nn.Linear of the model matches target_modules=%r"
                         % (target_modules,))
    for k, name in enumerate(names):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, child)
        s = (int(seed) + k * _GOLDEN) & 0xFFFFFFFFFFFFFFFF
        setattr(parent, child, cls(base, r=r, lora_alpha=lora_alpha, seed=s, **kwargs))
    return model


def adapters(model):
    """(name, module) of every melora adapter in `model`."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _Adapter)]


def kl(model):
    """Sum of the adapters' kl() (0 for LoRA): add weight * kl(model) to the loss."""
    total = torch.zeros((), dtype=torch.float32)
    for _, m in adapters(model):
        total = total + m.kl()
    return total


def resample(model):
    for _, m in adapters(model):
        m.resample()
    return model


def reseed(model, seed, draw=0):
    """Seeds the adapters as adapt() does: the k-th gets seed + k * 0x9E3779B97F4A7C15."""
    for k, (_, m) in enumerate(adapters(model)):
        m.reseed((int(seed) + k * _GOLDEN) & 0xFFFFFFFFFFFFFFFF, draw)
    return model


@torch.no_grad()
def mc_predict(model, *args, samples=10, fn=None, **kwargs):
    """Average of fn(model(*args)) over `samples` sampling passes in eval mode (every
    adapter draws new noise per pass); fn defaults to softmax over the last dimension,
    so class probabilities, not logits, are averaged (as BLoB evaluates, N = 10)."""
    fn = fn or (lambda out: torch.softmax(out, dim=-1))
    mods = adapters(model)
    saved = [(m, m.eval_mode) for _, m in mods]
    was_training = model.training
    model.eval()
    try:
        for m, _ in saved:
            m.eval_mode = "sample"
        acc = None
        for _ in range(samples):
            p = fn(model(*args, **kwargs))
            acc = p if acc is None else acc + p
        return acc / samples
    finally:
        for m, mode in saved:
            m.eval_mode = mode
        model.train(was_training)


def _groups(model):
    """Adapters grouped by (melora_method, r): lists of melora_module (name, m, n, count)."""
    groups = {}
    for name, m in adapters(model):
        key = (m.method, m.r)
        short = name.rpartition(".")[2]
        mods = groups.setdefault(key, {})
        shape = (short, m.out_features, m.in_features)
        mods[shape] = mods.get(shape, 0) + 1
    return groups


def _modules_array(mods):
    arr = (_lib.Module * len(mods))()
    keep = []
    for i, ((name, m, n), count) in enumerate(sorted(mods.items())):
        b = name.encode()
        keep.append(b)
        arr[i] = _lib.Module(b, m, n, count)
    return arr, keep


def count_parameters(model):
    """{'adapter': melora_count_model_params over the adapted weights, 'trainable': numel
    of the parameters that require grad, 'all': numel of all parameters,
    'percent': 100 * trainable / all}. With freeze_base, adapter == trainable."""
    adapter = 0
    for (method, r), mods in _groups(model).items():
        arr, keep = _modules_array(mods)
        out = ctypes.c_int64(0)
        _lib.call("melora_count_model_params", ctypes.byref(out), method, arr, len(mods), r)
        adapter += out.value
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"adapter": adapter, "trainable": trainable, "all": total,
            "percent": 100.0 * trainable / max(total, 1)}


def print_trainable_parameters(model):
    c = count_parameters(model)
    print("trainable params: {:,} || all params: {:,} || trainable%: {:.4f} "
          "|| adapter params (melora_count_model_params): {:,}".format(
              c["trainable"], c["all"], c["percent"], c["adapter"]))
    return c


_DTYPES = {"fp32": _lib.DTYPE_FP32, "bf16": _lib.DTYPE_BF16, "fp16": _lib.DTYPE_FP16}


def train_memory(model, T, E=1, G=1, dtype="fp32", noise_regenerated=True):
    """melora_count_train_memory summed over the adapters: bytes of trainable params, their
    grads, AdamW moments, saved activations and stored noise for T tokens."""
    total = {f: 0 for f, _ in _lib.TrainMemory._fields_}
    for (method, r), mods in _groups(model).items():
        arr, keep = _modules_array(mods)
        out = _lib.TrainMemory()
        _lib.call("melora_count_train_memory", ctypes.byref(out), method, arr, len(mods), r,
                  T, E, G, _DTYPES[dtype], 1 if noise_regenerated else 0)
        for f in total:
            total[f] += getattr(out, f)
    return total
