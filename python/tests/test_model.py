"""adapt() on named target modules, parameter counts through melora's counting functions,
Monte-Carlo prediction, and a tiny end-to-end training run per module."""
import math
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

import melora

torch.set_num_threads(1)


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.o_proj = nn.Linear(d, d)

    def forward(self, x):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(x.shape[-1]), dim=-1)
        return x + self.o_proj(a @ v)


class Tiny(nn.Module):
    def __init__(self, d=16, layers=2, classes=3):
        super().__init__()
        self.layers = nn.ModuleList([Attention(d) for _ in range(layers)])
        self.lm_head = nn.Linear(d, classes)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(x[:, -1])


class TestAdapt(unittest.TestCase):
    def test_targets_and_counts(self):
        d, r = 16, 4
        for method, per in (("lora", r * 2 * d), ("blob", 2 * r * d + r * d),
                            ("melora", r * 2 * d + 2 * r * r)):
            torch.manual_seed(0)
            model = Tiny(d)
            total_before = sum(p.numel() for p in model.parameters())
            melora.adapt(model, ["q_proj", "v_proj"], method=method, r=r, lora_alpha=8, seed=3)
            names = [n for n, _ in melora.adapters(model)]
            self.assertEqual(names, ["layers.0.q_proj", "layers.0.v_proj", "layers.1.q_proj",
                                     "layers.1.v_proj"])
            c = melora.count_parameters(model)
            self.assertEqual(c["adapter"], 4 * per)           # melora_count_model_params
            self.assertEqual(c["trainable"], 4 * per)         # what PyTorch trains
            self.assertEqual(c["all"], total_before + 4 * per)
            seeds = [m.seed for _, m in melora.adapters(model)]
            self.assertEqual(len(set(seeds)), 4)
            self.assertEqual(seeds[0], 3)
            mem = melora.train_memory(model, T=10)
            self.assertEqual(mem["params"], 4 * per * 4)
            self.assertEqual(mem["adam"], 2 * mem["params"])
            x = torch.randn(2, 5, d)
            out = model(x)
            self.assertEqual(tuple(out.shape), (2, 3))

    def test_two_calls(self):
        """A second adapt() (another method on other modules) keeps the first trainable."""
        model = Tiny(8)
        melora.adapt(model, ["q_proj"], method="lora", r=2)
        melora.adapt(model, ["v_proj", "lm_head"], method="blob", r=2)
        kinds = {n: type(m).__name__ for n, m in melora.adapters(model)}
        self.assertEqual(kinds["layers.0.q_proj"], "LoRALinear")
        self.assertEqual(kinds["lm_head"], "BLoBLinear")
        c = melora.count_parameters(model)
        self.assertEqual(c["trainable"], c["adapter"])
        self.assertEqual(c["adapter"], 2 * 2 * 16 + 2 * (2 * 2 * 8 + 2 * 8) + 2 * 2 * 8 + 2 * 3)

    def test_regex_and_errors(self):
        model = Tiny(8)
        melora.adapt(model, r"layers\.1\.(q|k)_proj", method="blob", r=2)
        self.assertEqual([n for n, _ in melora.adapters(model)],
                         ["layers.1.q_proj", "layers.1.k_proj"])
        with self.assertRaises(ValueError):
            melora.adapt(Tiny(8), ["nope"])
        with self.assertRaises(TypeError):
            melora.LoRALinear(nn.Conv1d(2, 2, 1))

    def test_kl_sum_and_mc_predict(self):
        torch.manual_seed(1)
        model = Tiny(8)
        melora.adapt(model, ["q_proj", "v_proj", "lm_head"], method="melora", r=2,
                     kl_mode="exact")
        total = melora.kl(model)
        self.assertAlmostEqual(total.item(), sum(m.kl().item() for _, m in
                                                 melora.adapters(model)), places=2)
        for _, m in melora.adapters(model):
            nn.init.normal_(m.lora_B)
        x = torch.randn(4, 5, 8)
        p = melora.mc_predict(model, x, samples=5)
        self.assertEqual(tuple(p.shape), (4, 3))
        self.assertTrue(torch.allclose(p.sum(-1), torch.ones(4)))
        self.assertTrue(model.training)  # restored
        self.assertTrue(all(m.eval_mode == "mean" for _, m in melora.adapters(model)))
        self.assertTrue(all(m.draw == 5 for _, m in melora.adapters(model)))
        # the mean-mode prediction differs from the MC average but not by much
        model.eval()
        with torch.no_grad():
            pm = torch.softmax(model(x), -1)
        self.assertLess((pm - p).abs().max().item(), 0.5)

    def test_bf16_base(self):
        base = nn.Linear(6, 4).to(torch.bfloat16)
        mod = melora.LoRALinear(base, r=2)
        nn.init.normal_(mod.lora_B)
        x = torch.randn(3, 6, dtype=torch.bfloat16, requires_grad=True)
        y = mod(x)
        self.assertEqual(y.dtype, torch.bfloat16)
        y.float().sum().backward()
        self.assertEqual(x.grad.dtype, torch.bfloat16)
        self.assertIsNotNone(mod.lora_A.grad)


def synthetic(n=256, d=12, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    teacher = torch.randn(d, classes, generator=g)
    y = (x @ teacher + 0.3 * torch.randn(n, classes, generator=g)).argmax(-1)
    return x, y


class TestTraining(unittest.TestCase):
    """A two-layer model, base frozen at random weights, adapted on both layers, trained
    for 300 full-batch steps: the loss falls for every module."""

    CASES = [("lora", {}), ("blob", {"flipout": True}), ("blob", {"flipout": False}),
             ("melora", {"kl_mode": "eq7"}), ("melora", {"kl_mode": "eq8"}),
             ("melora", {"kl_mode": "exact", "per_example": True})]

    def test_loss_falls(self):
        x, y = synthetic()
        for method, kw in self.CASES:
            torch.manual_seed(0)
            model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 4))
            melora.adapt(model, ["0", "2"], method=method, r=4, lora_alpha=8, seed=1, **kw)
            opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
            kl_weight = 1.0 / (100 * len(x))
            with torch.no_grad():
                start = F.cross_entropy(model(x), y).item()
            for step in range(300):
                opt.zero_grad()
                nll = F.cross_entropy(model(x), y)
                loss = nll + kl_weight * melora.kl(model)
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                end = F.cross_entropy(model(x), y).item()
                acc = (model(x).argmax(-1) == y).float().mean().item()
            self.assertTrue(math.isfinite(end))
            self.assertLess(end, 0.6 * start, "%s %s: loss %.3f -> %.3f" % (method, kw, start,
                                                                          end))
            self.assertGreater(acc, 0.8, "%s %s: accuracy %.2f" % (method, kw, acc))


class TestReadme(unittest.TestCase):
    def test_readme_example(self):
        """The README's ```python example block, run as it stands."""
        import contextlib
        import io
        import os
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                            "README.md")
        if not os.path.exists(path):
            self.skipTest("no README.md")
        lines, on = [], False
        with open(path) as f:
            for line in f:
                if line.startswith("```python example"):
                    on = True
                elif line.startswith("```"):
                    on = False
                elif on:
                    lines.append(line)
        self.assertTrue(lines, "README.md has no ```python example block")
        self.assertLessEqual(len(lines), 15)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile("".join(lines), "README.md example", "exec"), {})
        self.assertIn("accuracy", out.getvalue())


if __name__ == "__main__":
    unittest.main()
