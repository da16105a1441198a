"""The bridge in a Hugging Face pipeline, on a random-init LlamaForCausalLM (and GPT-2 for
transformers' Conv1D) built from a small config: no weights are downloaded. Needs the
pinned transformers / peft / safetensors / accelerate that `make python-test` installs
into build/venv; without them the whole module is skipped (and the make target says so).
PEFT is the independent side: its LoRA layer computes the logits melora's adapters must
match."""
import contextlib
import io
import os
import tempfile
import unittest
import warnings

import torch

try:
    import peft
    import safetensors.torch
    import transformers
except ImportError as e:  # reported as a skipped module by unittest
    raise unittest.SkipTest("Hugging Face packages not installed (%s); make python-test "
                            "installs the pinned versions into build/venv" % e)

import melora

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore", module="transformers")
warnings.filterwarnings("ignore", module="peft")
warnings.filterwarnings("ignore", module="torch.utils.checkpoint")
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message="Could not find a config file")

METHODS = [("lora", {}), ("blob", {"flipout": True}), ("blob", {"flipout": False}),
           ("melora", {}), ("melora", {"per_example": True, "kl_mode": "eq8"})]
V = 64
KL_WEIGHT = 1e-5  # per token of the 48-token batch: the KL must not swamp 25 steps


def llama(seed=0):
    cfg = transformers.LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=4, max_position_embeddings=64)
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(cfg)


def adapted(method, kw, seed=0, r=4, lora_alpha=8, nonzero=True):
    model = llama(seed)
    melora.adapt(model, ["q_proj", "v_proj"], method=method, r=r, lora_alpha=lora_alpha,
                 seed=3, **kw)
    if nonzero:  # B = 0 at init would make every adapter invisible in the logits
        g = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for _, m in melora.adapters(model):
                m.lora_B.copy_(0.3 * torch.randn(m.lora_B.shape, generator=g))
                if hasattr(m, "lora_M"):
                    m.lora_M.add_(0.2 * torch.randn(m.lora_M.shape, generator=g))
    return model


def batch(seed=1, B=4, L=12):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, L), generator=g)


def logits(model, ids):
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def grads(model, ids):
    model.zero_grad()
    loss = model(input_ids=ids, labels=ids).loss + 1e-3 * melora.kl(model)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def rel(a, b):
    return ((a - b).norm() / max(b.norm().item(), 1e-30)).item()


class TestTraining(unittest.TestCase):
    def test_each_method_trains(self):
        ids = batch()
        for method, kw in METHODS:
            model = adapted(method, kw, nonzero=False)
            start = model(input_ids=ids, labels=ids).loss.item()
            model.train()
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                    lr=5e-2)
            for _ in range(30):
                opt.zero_grad()
                loss = model(input_ids=ids, labels=ids).loss + KL_WEIGHT * melora.kl(model)
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                end = model(input_ids=ids, labels=ids).loss.item()
            self.assertLess(end, start - 0.2, "%s %s: %.3f -> %.3f" % (method, kw, start, end))

    def test_bf16_model_trains(self):
        ids = batch()
        for method, kw in METHODS:
            model = adapted(method, kw, nonzero=False).to(torch.bfloat16)
            with torch.no_grad():
                start = model(input_ids=ids, labels=ids).loss.item()
            model.train()
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                    lr=5e-2)
            for _ in range(30):
                opt.zero_grad()
                loss = model(input_ids=ids, labels=ids).loss + KL_WEIGHT * melora.kl(model)
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                out = model(input_ids=ids, labels=ids)
            self.assertEqual(model.lm_head.weight.dtype, torch.bfloat16)
            for _, m in melora.adapters(model):  # no cast by the user; bf16 parameters
                self.assertEqual(m.lora_A.dtype, torch.bfloat16)
                self.assertEqual(m.lora_A.grad.dtype, torch.bfloat16)
            self.assertLess(out.loss.item(), start - 0.2, "%s %s" % (method, kw))

    def test_gradient_checkpointing(self):
        """model.gradient_checkpointing_enable() (reentrant, as transformers defaults, and
        not): the gradients equal those of the same step without checkpointing."""
        ids = batch()
        for method, kw in METHODS:
            want = grads(adapted(method, kw).train(), ids)
            for reentrant in (True, False):
                model = adapted(method, kw).train()
                model.gradient_checkpointing_enable(  # adapt() made the inputs require grad
                    gradient_checkpointing_kwargs={"use_reentrant": reentrant})
                got = grads(model, ids)
                label = "%s %s reentrant=%s" % (method, kw, reentrant)
                self.assertEqual(set(got), set(want), label)
                for n in want:
                    self.assertLess(rel(got[n], want[n]), 1e-5, "%s d%s" % (label, n))
                draws = {m.draw for _, m in melora.adapters(model)}
                self.assertEqual(draws, {0 if method == "lora" else 1}, label)


class TestCheckpoints(unittest.TestCase):
    def test_save_pretrained_and_load(self):
        ids = batch()
        for method, kw in METHODS:
            model = adapted(method, kw)
            model.train()
            model(input_ids=ids)  # a draw taken: the counter is saved too
            with tempfile.TemporaryDirectory() as d:
                model.save_pretrained(d)
                path = os.path.join(d, "model.safetensors")
                self.assertTrue(os.path.exists(path))
                sd = safetensors.torch.load_file(path)
                other = adapted(method, kw, seed=5, nonzero=False)
                other.load_state_dict(sd)
                self.assertTrue(torch.equal(logits(model, ids), logits(other, ids)), method)
                other.train()
                model.train()
                with torch.no_grad():  # the same next draw
                    self.assertTrue(torch.equal(model(input_ids=ids).logits,
                                                other(input_ids=ids).logits), method)
                wrong = adapted(method, kw, lora_alpha=16)
                with self.assertRaisesRegex(RuntimeError, "lora_alpha: checkpoint 8.0, module 16"):
                    wrong.load_state_dict(sd)

    def test_trainer_with_kl_and_save_model(self):
        model = adapted("melora", {}, nonzero=False)
        ids = batch(B=8)

        class KLTrainer(transformers.Trainer):
            def compute_loss(self, model, inputs, return_outputs=False):
                loss, outputs = super().compute_loss(model, inputs, return_outputs=True)
                loss = loss + KL_WEIGHT * melora.kl(model)
                return (loss, outputs) if return_outputs else loss

        with tempfile.TemporaryDirectory() as d:
            args = transformers.TrainingArguments(d, max_steps=4, per_device_train_batch_size=4,
                                                  learning_rate=1e-2, use_cpu=True,
                                                  report_to=[], save_strategy="no",
                                                  logging_strategy="no",
                                                  # torch 1.13's DataLoader rejects the
                                                  # prefetch_factor=None of transformers
                                                  # 4.38 unless workers load the data
                                                  dataloader_num_workers=1,
                                                  dataloader_prefetch_factor=2)
            trainer = KLTrainer(model=model, args=args,
                                train_dataset=[{"input_ids": i, "labels": i} for i in ids])
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                trainer.train()
            self.assertEqual({m.draw for _, m in melora.adapters(model)}, {4})
            trainer.save_model(os.path.join(d, "final"))
            sd = safetensors.torch.load_file(os.path.join(d, "final", "model.safetensors"))
        other = adapted("melora", {}, seed=9, nonzero=False)
        other.load_state_dict(sd)
        self.assertTrue(torch.equal(logits(model, ids), logits(other, ids)))


class TestPEFT(unittest.TestCase):
    def test_export_loads_in_peft(self):
        """melora -> PEFT: PeftModel.from_pretrained gives the logits of melora's mean."""
        ids = batch()
        for method, kw in METHODS:
            model = adapted(method, kw)
            want = logits(model, ids)
            with tempfile.TemporaryDirectory() as d:
                melora.save_peft_adapter(model, d)
                self.assertTrue(os.path.exists(os.path.join(d, "adapter_model.safetensors")))
                pm = peft.PeftModel.from_pretrained(llama(0), d)
                got = logits(pm, ids)
                self.assertLess((got - want).abs().max().item(), 1e-4, method)
                with melora.disable_adapters(model):
                    base = logits(model, ids)
                self.assertGreater((want - base).abs().max().item(), 1e-2, method)
                # and back into melora, as each method's mean
                for back in ("lora", "blob", "melora"):
                    m2 = melora.load_peft_adapter(llama(0), d, method=back)
                    self.assertLess((logits(m2, ids) - want).abs().max().item(), 1e-4,
                                    "%s -> %s" % (method, back))

    def test_import_from_peft(self):
        """A PEFT LoRA adapter saved by PEFT itself loads into melora with equal logits,
        merges into the base weights, and unloads to a plain model."""
        ids = batch()
        cfg = peft.LoraConfig(r=4, lora_alpha=12, target_modules=["q_proj", "v_proj", "o_proj"],
                              lora_dropout=0.0)
        pm = peft.get_peft_model(llama(0), cfg)
        torch.manual_seed(4)
        with torch.no_grad():
            for n, p in pm.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.3)
        want = logits(pm, ids)
        with tempfile.TemporaryDirectory() as d:
            pm.save_pretrained(d)
            model = melora.load_peft_adapter(llama(0), d, method="lora")
        self.assertEqual(len(melora.adapters(model)), 6)
        self.assertLess((logits(model, ids) - want).abs().max().item(), 1e-4)
        melora.merge(model)
        self.assertLess((logits(model, ids) - want).abs().max().item(), 1e-4)
        melora.unmerge(model)
        plain = melora.merge_and_unload(model)
        self.assertEqual(melora.adapters(plain), [])
        self.assertIsInstance(plain.model.layers[0].self_attn.q_proj, torch.nn.Linear)
        self.assertLess((logits(plain, ids) - want).abs().max().item(), 1e-4)

    def test_gpt2_conv1d(self):
        """adapt() covers transformers' Conv1D (GPT-2's c_attn) as PEFT does."""
        cfg = transformers.GPT2Config(vocab_size=V, n_embd=32, n_layer=2, n_head=4,
                                      n_positions=64)
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(cfg)
        ids = batch()
        before = logits(model, ids)
        melora.adapt(model, ["c_attn"], method="melora", r=4, lora_alpha=8)
        self.assertEqual(len(melora.adapters(model)), 2)
        torch.manual_seed(5)
        with torch.no_grad():
            for _, m in melora.adapters(model):
                m.lora_B.normal_(0, 0.3)
        want = logits(model, ids)
        self.assertGreater((want - before).abs().max().item(), 1e-2)
        with tempfile.TemporaryDirectory() as d:
            melora.save_peft_adapter(model, d)
            torch.manual_seed(0)
            pm = peft.PeftModel.from_pretrained(transformers.GPT2LMHeadModel(cfg), d)
        self.assertLess((logits(pm, ids) - want).abs().max().item(), 1e-4)
        melora.merge(model)
        self.assertLess((logits(model, ids) - want).abs().max().item(), 1e-4)


class TestGenerate(unittest.TestCase):
    def test_generate_matches_peft(self):
        """generate() with the KV cache (one token per step) through the adapters equals
        PEFT's with the exported mean adapter."""
        ids = batch(B=2, L=5)
        for method, kw in (("blob", {"flipout": True}), ("melora", {"per_example": True})):
            model = adapted(method, kw).eval()
            with torch.no_grad():
                out = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
            with tempfile.TemporaryDirectory() as d:
                melora.save_peft_adapter(model, d)
                pm = peft.PeftModel.from_pretrained(llama(0), d).eval()
            with torch.no_grad():
                want = pm.generate(input_ids=ids, max_new_tokens=6, do_sample=False,
                                   pad_token_id=0)
            self.assertEqual(tuple(out.shape), (2, 11))
            self.assertTrue(torch.equal(out, want), method)


class TestPredict(unittest.TestCase):
    def test_mc_predict_on_model_outputs(self):
        ids = batch()
        model = adapted("blob", {"flipout": True})
        p = melora.mc_predict(model, ids, samples=3)
        self.assertEqual(tuple(p.shape), tuple(ids.shape) + (V,))
        self.assertTrue(torch.allclose(p.sum(-1), torch.ones(ids.shape)))
        melora.reseed(model, 3)  # the same draws, by hand
        model.eval()
        for _, m in melora.adapters(model):
            m.eval_mode = "sample"
        with torch.no_grad():
            want = sum(torch.softmax(model(input_ids=ids).logits, -1) for _ in range(3)) / 3
        self.assertTrue(torch.allclose(p, want, atol=1e-6))


class TestReadmeHF(unittest.TestCase):
    def test_readme_hf_example(self):
        """The README's ```python hf-example block, run as it stands."""
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                            "README.md")
        if not os.path.exists(path):
            self.skipTest("no README.md")
        lines, on = [], False
        with open(path) as f:
            for line in f:
                if line.startswith("```python hf-example"):
                    on = True
                elif line.startswith("```"):
                    on = False
                elif on:
                    lines.append(line)
        self.assertTrue(lines, "README.md has no ```python hf-example block")
        ns = {}
        with tempfile.TemporaryDirectory() as d:
            cwd = os.getcwd()
            os.chdir(d)
            try:
                with contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    exec(compile("".join(lines), "README.md hf-example", "exec"), ns)
            finally:
                os.chdir(cwd)
        ids = ns["ids"]
        self.assertLess(ns["losses"][-1], ns["losses"][0])
        want = logits(ns["model"], ids)
        self.assertLess((logits(ns["peft_model"], ids) - want).abs().max().item(), 1e-4)
        self.assertTrue(torch.equal(logits(ns["reloaded"], ids), want))
        self.assertTrue(torch.allclose(ns["probs"].sum(-1), torch.ones(ids.shape)))
        # the README's KLTrainer: its loss is the model's plus 1e-5 * KL
        model = ns["model"].eval()
        with tempfile.TemporaryDirectory() as d:
            args = transformers.TrainingArguments(d, use_cpu=True, report_to=[])
            trainer = ns["KLTrainer"](model=model, args=args)
            inputs = {"input_ids": ids, "labels": ids}
            with torch.no_grad():
                got = trainer.compute_loss(model, inputs)
                want = model(**inputs).loss + 1e-5 * melora.kl(model)
        self.assertAlmostEqual(got.item(), want.item(), places=6)
        self.assertGreater(1e-5 * melora.kl(model).item(), 1e-4)  # the KL term shows


if __name__ == "__main__":
    unittest.main()
