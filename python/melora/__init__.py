"""melora for PyTorch: LoRA, BLoB and Me-LoRA layers backed by melora.h's CPU kernels
(libmelora.so through ctypes; build it with `make lib`).

    import melora
    melora.adapt(model, ["q_proj", "v_proj"], method="melora", r=8, lora_alpha=16)
    loss = nll + kl_weight * melora.kl(model)
"""
from ._lib import DtypeError, MeloraError
from .layers import BLoBLinear, LoRALinear, MeLoRALinear
from .model import (adapt, adapters, count_parameters, disable_adapters, kl,
                    load_peft_adapter, mc_predict, merge, merge_and_unload,
                    print_trainable_parameters, resample, reseed, save_peft_adapter,
                    train_memory, unmerge)
from . import functional

__all__ = ["MeloraError", "DtypeError", "LoRALinear", "BLoBLinear", "MeLoRALinear", "adapt",
           "adapters", "count_parameters", "kl", "mc_predict", "print_trainable_parameters",
           "resample", "reseed", "train_memory", "functional", "merge", "unmerge",
           "merge_and_unload", "disable_adapters", "save_peft_adapter", "load_peft_adapter"]
