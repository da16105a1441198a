"""Whole-model helpers: adapt named target modules (like PEFT's target_modules), sum the
KL terms, draw new noise, Monte-Carlo prediction, merging, PEFT LoRA adapters in and out,
and parameter/memory counts through melora's counting functions."""
import contextlib
import ctypes
import json
import os
import re

import torch
import torch.nn as nn

from . import _api, _lib
from .layers import BLoBLinear, LoRALinear, MeLoRALinear, _Adapter, _check_seed, _is_conv1d

METHODS = {"lora": LoRALinear, "blob": BLoBLinear, "melora": MeLoRALinear}
_GOLDEN = 0x9E3779B97F4A7C15


def _matches(name, targets):
    if isinstance(targets, str):  # a regular expression on the full name, as in PEFT
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def adapt(model, target_modules, method="lora", r=8, lora_alpha=16, seed=0,
          freeze_base=True, **kwargs):
    """Replaces every nn.Linear (or transformers Conv1D) of `model` whose name matches
    `target_modules` (a list of names or name suffixes such as ["q_proj", "v_proj"], or a
    regular expression matched against the full name) by the adapter `method` ("lora",
    "blob", "melora") wrapping it. freeze_base=True freezes every other parameter, as PEFT
    does. On a transformers model it also calls model.enable_input_require_grads() (as PEFT
    does), which reentrant gradient checkpointing needs when the embeddings are frozen. The
    k-th adapted module gets seed (seed + k * 0x9E3779B97F4A7C15) mod 2^64. kwargs go to
    the module class. Returns the model (changed in place)."""
    if freeze_base:  # everything but the adapters already in the model
        keep = {id(p) for _, a in adapters(model) for n, p in a.named_parameters()
                if not n.startswith("base_layer.")}
        for p in model.parameters():
            if id(p) not in keep:
                p.requires_grad_(False)
    if isinstance(method, str) and method not in METHODS:
        raise ValueError("method must be one of %s (got %r)" % (tuple(METHODS), method))
    cls = METHODS[method] if isinstance(method, str) else method
    inside = {n + "." for n, _ in adapters(model)}  # the base layers of existing adapters
    names = [name for name, mod in model.named_modules()
             if (isinstance(mod, nn.Linear) or _is_conv1d(mod))
             and not isinstance(mod, _Adapter) and name
             and not any(name.startswith(p) for p in inside)
             and _matches(name, target_modules)]
    if not names:
        raise ValueError("no nn.Linear of the model matches target_modules=%r"
                         % (target_modules,))
    for k, name in enumerate(names):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, child)
        s = (_check_seed(seed) + k * _GOLDEN) & 0xFFFFFFFFFFFFFFFF
        setattr(parent, child, cls(base, r=r, lora_alpha=lora_alpha, seed=s, **kwargs))
    _inputs_require_grad(model)
    return model


def _inputs_require_grad(model):
    """transformers models: make the input embeddings' output require grad (PEFT does the
    same), so that reentrant gradient checkpointing over a frozen embedding still sends
    gradients to the adapters."""
    hook = getattr(model, "enable_input_require_grads", None)
    if callable(hook) and getattr(model, "_require_grads_hook", None) is None:
        try:
            hook()
        except (NotImplementedError, AttributeError):
            pass


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
    seed = _check_seed(seed)
    for k, (_, m) in enumerate(adapters(model)):
        m.reseed((seed + k * _GOLDEN) & 0xFFFFFFFFFFFFFFFF, draw)
    return model


def _probabilities(out):
    """softmax over the last dimension of a tensor, or of a model output's .logits (as
    transformers' models return), in float32."""
    if not isinstance(out, torch.Tensor):
        logits = getattr(out, "logits", None)
        if not isinstance(logits, torch.Tensor):
            raise TypeError("mc_predict: the model returned %s, neither a tensor nor an "
                            "output with .logits; pass fn= to turn it into probabilities"
                            % type(out).__name__)
        out = logits
    return torch.softmax(out.float(), dim=-1)


@torch.no_grad()
def mc_predict(model, *args, samples=10, fn=None, **kwargs):
    """Average of fn(model(*args, **kwargs)) over `samples` sampling passes in eval mode
    (every adapter draws new noise per pass); fn defaults to softmax over the last
    dimension of the output (or of its .logits, for transformers' models), in float32,
    so class probabilities, not logits, are averaged (as BLoB evaluates, N = 10)."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError("samples must be a positive integer (got %r)" % (samples,))
    fn = fn or _probabilities
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
    arr = (_api.melora_module * len(mods))()
    keep = []
    for i, ((name, m, n), count) in enumerate(sorted(mods.items())):
        b = name.encode()
        keep.append(b)
        arr[i] = _api.melora_module(b, m, n, count)
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


_DTYPES = {"fp32": _api.FP32, "bf16": _api.BF16, "fp16": _api.FP16}


def train_memory(model, T, E=1, G=1, dtype="fp32", noise_regenerated=True):
    """melora_count_train_memory summed over the adapters: bytes of trainable params, their
    grads, AdamW moments, saved activations and stored noise for T tokens."""
    total = {f: 0 for f, _ in _api.melora_train_memory._fields_}
    for (method, r), mods in _groups(model).items():
        arr, keep = _modules_array(mods)
        out = _api.melora_train_memory()
        setup = _api.melora_train_setup(r, T, E, G, 1 if noise_regenerated else 0)
        _lib.call("melora_count_train_memory", ctypes.byref(out), method, arr, len(mods),
                  ctypes.byref(setup), _DTYPES[dtype])
        for f in total:
            total[f] += getattr(out, f)
    return total


# ----------------------------------------------------------------- merging, disabling --
def merge(model):
    """Adds every adapter's mean (LoRA: B A; BLoB: B MA; Me-LoRA: B M A, times scaling)
    into its base weight; the adapted layers then run as their base layers alone."""
    for _, m in adapters(model):
        m.merge()
    return model


def unmerge(model):
    """Undoes merge() (subtracts the mean adapters, recomputed from the parameters)."""
    for _, m in adapters(model):
        m.unmerge()
    return model


def merge_and_unload(model):
    """merge(), then replaces every adapter by its (merged) base layer: a plain model."""
    for name, m in adapters(model):
        m.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, m.base_layer)
    return model


@contextlib.contextmanager
def disable_adapters(model):
    """with melora.disable_adapters(model): ... runs the base model (adapters bypassed)."""
    mods = [m for _, m in adapters(model)]
    saved = [m.disabled for m in mods]
    for m in mods:
        m.disabled = True
    try:
        yield model
    finally:
        for m, d in zip(mods, saved):
            m.disabled = d


# ------------------------------------------------------------------------- PEFT interop --
PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_WEIGHTS_BIN = "adapter_model.bin"
PEFT_CONFIG = "adapter_config.json"
_PEFT_KEY = re.compile(r"^base_model\.model\.(.+)\.lora_([AB])(?:\.[A-Za-z0-9_-]+)?\.weight$")


def save_peft_adapter(model, directory, base_model_name_or_path=None, task_type=None):
    """Writes the adapters of `model` as a PEFT LoRA adapter (adapter_config.json and
    adapter_model.safetensors, or adapter_model.bin without safetensors) that
    peft.PeftModel.from_pretrained(base_model, directory) loads. LoRA is written as it is;
    BLoB and Me-LoRA as their mean adapters (lora_A = MA, or M A), with their lora_B. The
    adapters must share r and lora_alpha. Returns the config written."""
    mods = adapters(model)
    if not mods:
        raise ValueError("save_peft_adapter: the model has no melora adapter")
    rs = {m.r for _, m in mods}
    alphas = {float(m.lora_alpha) for _, m in mods}
    if len(rs) > 1 or len(alphas) > 1:
        raise ValueError("save_peft_adapter: the adapters must share r and lora_alpha "
                         "(found r in %s, lora_alpha in %s)" % (sorted(rs), sorted(alphas)))
    if any(m.merged for _, m in mods):
        raise ValueError("save_peft_adapter: unmerge() the adapters first")
    conv = {_is_conv1d(m.base_layer) for _, m in mods}
    if len(conv) > 1:
        raise ValueError("save_peft_adapter: nn.Linear and Conv1D layers need two adapters")
    tensors = {}
    for name, m in mods:
        key = "base_model.model." + name
        tensors[key + ".lora_A.weight"] = m.mean_A().contiguous()
        tensors[key + ".lora_B.weight"] = m.lora_B.detach().float().contiguous()
    alpha = alphas.pop()
    if base_model_name_or_path is None:
        base_model_name_or_path = getattr(getattr(model, "config", None), "_name_or_path",
                                          None) or None
    config = {"peft_type": "LORA", "task_type": task_type, "r": rs.pop(),
              "lora_alpha": int(alpha) if alpha.is_integer() else alpha,
              "lora_dropout": mods[0][1].lora_dropout_p,
              "target_modules": sorted(n for n, _ in mods), "bias": "none",
              "fan_in_fan_out": conv.pop(), "modules_to_save": None,
              "init_lora_weights": True, "inference_mode": True, "use_rslora": False,
              "use_dora": False, "rank_pattern": {}, "alpha_pattern": {},
              "layers_to_transform": None, "layers_pattern": None,
              "base_model_name_or_path": base_model_name_or_path, "revision": None}
    os.makedirs(directory, exist_ok=True)
    try:
        from safetensors.torch import save_file
    except ImportError:
        torch.save(tensors, os.path.join(directory, PEFT_WEIGHTS_BIN))
    else:
        save_file(tensors, os.path.join(directory, PEFT_WEIGHTS), metadata={"format": "pt"})
    with open(os.path.join(directory, PEFT_CONFIG), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    return config


def _read_peft(directory):
    with open(os.path.join(directory, PEFT_CONFIG)) as f:
        config = json.load(f)
    path = os.path.join(directory, PEFT_WEIGHTS)
    if os.path.exists(path):
        from safetensors.torch import load_file
        tensors = load_file(path)
    else:
        path = os.path.join(directory, PEFT_WEIGHTS_BIN)
        try:  # tensors only, no arbitrary pickled objects
            tensors = torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:  # a torch without weights_only
            tensors = torch.load(path, map_location="cpu")
    return config, tensors


def load_peft_adapter(model, directory, method="lora", seed=0, **kwargs):
    """Adapts `model` (the base model the PEFT adapter was trained on) with `method` on the
    adapter's target modules and sets lora_A, lora_B from it: LoRA as it is, BLoB's mean
    MA = lora_A (its std starts from BLoB's initialisation), Me-LoRA's A = lora_A with
    M = I (so M A is the adapter's A). r, lora_alpha and lora_dropout come from
    adapter_config.json; kwargs go to the module class. Returns the model."""
    config, tensors = _read_peft(directory)
    if config.get("peft_type") != "LORA":
        raise ValueError("load_peft_adapter: %s is not a LoRA adapter (peft_type %r)"
                         % (directory, config.get("peft_type")))
    for key, ok in (("use_dora", False), ("use_rslora", False), ("bias", "none")):
        if config.get(key, ok) != ok:
            raise ValueError("load_peft_adapter: %s = %r is not supported"
                             % (key, config[key]))
    for key in ("rank_pattern", "alpha_pattern", "modules_to_save", "layers_to_transform"):
        if config.get(key):
            raise ValueError("load_peft_adapter: %s is not supported" % key)
    weights = {}
    for key, t in tensors.items():
        mt = _PEFT_KEY.match(key)
        if not mt:
            raise ValueError("load_peft_adapter: unexpected tensor %r in the adapter" % key)
        weights.setdefault(mt.group(1), {})[mt.group(2)] = t
    names = sorted(weights)
    for name in names:
        if set(weights[name]) != {"A", "B"}:
            raise ValueError("load_peft_adapter: %s lacks lora_A or lora_B" % name)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError("load_peft_adapter: the model has no module %s" % ", ".join(missing))
    r = int(config["r"])
    for name in names:  # every shape before the model is changed
        layer = modules[name]
        if isinstance(layer, nn.Linear):
            n_in, n_out = layer.in_features, layer.out_features
        elif _is_conv1d(layer):
            n_in, n_out = layer.weight.shape
        else:
            raise ValueError("load_peft_adapter: %s is a %s, not an nn.Linear or Conv1D"
                             % (name, type(layer).__name__))
        for what, want in (("A", (r, n_in)), ("B", (n_out, r))):
            got = tuple(weights[name][what].shape)
            if got != tuple(want):
                raise ValueError("load_peft_adapter: %s.lora_%s has shape %s, the module "
                                 "expects %s" % (name, what, got, tuple(want)))
    adapt(model, r"|".join(re.escape(n) for n in names), method=method, r=r,
          lora_alpha=config["lora_alpha"], seed=seed,
          lora_dropout=float(config.get("lora_dropout") or 0.0), **kwargs)
    mods = dict(adapters(model))
    with torch.no_grad():
        for name in names:
            m = mods[name]
            m.lora_A.copy_(weights[name]["A"].to(m.lora_A.dtype))
            m.lora_B.copy_(weights[name]["B"].to(m.lora_B.dtype))
    return model
