"""Every module's output and gradients against the pure-PyTorch reference (float64,
autograd) on odd shapes, for every KL variant and sampling mode."""
import math
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

import melora
from melora import functional as MF
import reference as ref

torch.set_num_threads(1)

# (leading dims, n, m, r): T = 15 in three examples of five, T = 7, r = 1, n < m
SHAPES = [((3, 5), 13, 11, 3), ((7,), 9, 17, 1), ((2, 1, 3), 21, 6, 4)]


def close(test, actual, expected, what, rtol=2e-5):
    actual = actual.detach().double()
    expected = expected.detach().double()
    atol = 2e-5 * max(1.0, expected.abs().max().item())
    test.assertEqual(actual.shape, expected.shape, what)
    err = (actual - expected).abs().max().item() if actual.numel() else 0.0
    test.assertTrue(torch.allclose(actual, expected, rtol=rtol, atol=atol),
                    "%s: max abs error %.3g (atol %.3g)" % (what, err, atol))


def make(cls, lead, n, m, r, seed=0, **kw):
    torch.manual_seed(1234 + n + m + r)
    base = nn.Linear(n, m)
    mod = cls(base, r=r, lora_alpha=2 * r + 1, seed=seed, **kw)
    with torch.no_grad():  # B = 0 at init would hide most gradients
        mod.lora_B.normal_()
        if hasattr(mod, "lora_M"):
            mod.lora_M.add_(0.3 * torch.randn(r, r))
            mod.lora_H.copy_(0.2 + 0.5 * torch.rand(r, r))
        if hasattr(mod, "lora_A_rho"):
            mod.lora_A_rho.copy_(0.2 + 0.5 * torch.rand(r, n))
    x = torch.randn(*lead, n)
    dz = torch.randn(*lead, m)
    return mod, x, dz


def params(mod):
    return {k: p for k, p in mod.named_parameters() if p.requires_grad}


def run_module(mod, x, dz, kl_weight=0.0):
    """Output, and gradients of sum(y * dz) + kl_weight * kl() w.r.t. x and parameters."""
    for p in mod.parameters():
        p.grad = None
    x = x.clone().requires_grad_(True)
    y = mod(x)
    loss = (y * dz).sum()
    if kl_weight:
        loss = loss + kl_weight * mod.kl()
    loss.backward()
    grads = {k: p.grad for k, p in params(mod).items()}
    grads["x"] = x.grad
    return y.detach(), grads


def run_reference(mod, x, dz, adapter, kl_fn=None, kl_weight=0.0):
    """The same in float64 through `adapter(x2, P)` (P: float64 leaf copies of the
    module's parameters) plus the base layer."""
    P = {k: p.detach().double().requires_grad_(True) for k, p in params(mod).items()}
    xd = x.double().requires_grad_(True)
    x2 = xd.reshape(-1, mod.in_features)
    W, b = mod.base_layer.weight.double(), mod.base_layer.bias.double()
    y = (F.linear(x2, W, b) + adapter(x2, P)).reshape(*x.shape[:-1], mod.out_features)
    loss = (y * dz.double()).sum()
    if kl_fn is not None and kl_weight:
        loss = loss + kl_weight * kl_fn(P)
    loss.backward()
    grads = {k: p.grad for k, p in P.items()}
    grads["x"] = xd.grad
    return y.detach(), grads


def d64(t):
    return t.double()


class Compare(unittest.TestCase):
    def check(self, mod, x, dz, adapter, kl_fn=None, kl_weight=0.0, label=""):
        y, g = run_module(mod, x, dz, kl_weight)
        ye, ge = run_reference(mod, x, dz, adapter, kl_fn, kl_weight)
        close(self, y, ye, label + " output")
        self.assertEqual(set(g), set(ge))
        for k in ge:
            if ge[k] is None:
                self.assertTrue(g[k] is None or g[k].abs().max() == 0, label + " d" + k)
            else:
                self.assertIsNotNone(g[k], label + " d" + k)
                close(self, g[k], ge[k], label + " d" + k)
        self.assertIsNone(mod.base_layer.weight.grad)
        return y


class TestLoRA(Compare):
    def test_train_and_eval(self):
        for lead, n, m, r in SHAPES:
            mod, x, dz = make(melora.LoRALinear, lead, n, m, r)
            s = mod.scaling
            self.assertEqual(s, (2 * r + 1) / r)
            adapter = lambda x2, P: ref.lora(x2, P["lora_A"], P["lora_B"], s)
            self.check(mod, x, dz, adapter, label="lora %s" % (lead,))
            mod.eval()
            self.check(mod, x, dz, adapter, label="lora eval %s" % (lead,))
            self.assertEqual(float(mod.kl()), 0.0)

    def test_initialisation(self):
        mod = melora.LoRALinear(nn.Linear(400, 300), r=8, lora_alpha=16)
        self.assertEqual(tuple(mod.lora_A.shape), (8, 400))
        self.assertEqual(tuple(mod.lora_B.shape), (300, 8))
        self.assertEqual(mod.scaling, 2.0)
        self.assertEqual(mod.lora_B.abs().max().item(), 0.0)
        bound = 1 / math.sqrt(400)  # kaiming-uniform with a = sqrt(5)
        self.assertLessEqual(mod.lora_A.abs().max().item(), bound)
        self.assertGreater(mod.lora_A.abs().max().item(), 0.9 * bound)
        self.assertFalse(mod.base_layer.weight.requires_grad)
        x = torch.randn(5, 400)
        self.assertTrue(torch.equal(mod(x), mod.base_layer(x)))  # B = 0


class TestBLoB(Compare):
    def adapter(self, mod, T, draw):
        nz = mod.noise(T, draw=draw)
        s, G = mod.scaling, mod.flipout_group
        if mod.flipout:
            return lambda x2, P: ref.flipout(x2, P["lora_A"], P["lora_A_rho"], P["lora_B"],
                                             d64(nz["EA"]), d64(nz["sa"]), d64(nz["sb"]), s, G)
        return lambda x2, P: ref.blob(x2, P["lora_A"], P["lora_A_rho"], P["lora_B"],
                                      d64(nz["EA"]), s)

    def test_train_every_variant(self):
        for lead, n, m, r in SHAPES:
            T = math.prod(lead)
            for flipout, G in ((False, 1), (True, 1), (True, 2), (True, 4)):
                mod, x, dz = make(melora.BLoBLinear, lead, n, m, r, seed=77 + G,
                                  flipout=flipout, flipout_group=G)
                label = "blob flipout=%s G=%d %s" % (flipout, G, lead)
                kl_fn = lambda P: ref.blob_kl(P["lora_A"], P["lora_A_rho"], 0.2)
                for step in range(2):  # draws 0 and 1: new noise each forward
                    d = mod.draw
                    self.check(mod, x, dz, self.adapter(mod, T, d), kl_fn, 0.37, label)
                    self.assertEqual(mod.draw, d + 1)

    def test_eval_modes(self):
        lead, n, m, r = SHAPES[0]
        T = math.prod(lead)
        for flipout in (False, True):
            mod, x, dz = make(melora.BLoBLinear, lead, n, m, r, seed=5, flipout=flipout)
            mod.eval()
            mean = lambda x2, P: ref.lora(x2, P["lora_A"], P["lora_B"], mod.scaling)
            self.check(mod, x, dz, mean, label="blob mean")
            self.assertEqual(mod.draw, 0)  # mean mode draws nothing
            mod.eval_mode = "sample"
            self.check(mod, x, dz, self.adapter(mod, T, 0), label="blob sample")
            self.assertEqual(mod.draw, 1)
            mod.eval_mode, mod.mc_samples = "mc", 3
            with torch.no_grad():
                z = mod(x)
            self.assertEqual(tuple(z.shape), (3,) + tuple(lead) + (m,))
            for k in range(3):
                ye, _ = run_reference(mod, x, dz, self.adapter(mod, T, 1 + k))
                close(self, z[k], ye, "blob mc sample %d" % k)
            self.assertEqual(mod.draw, 4)


class TestMeLoRA(Compare):
    def adapter(self, mod, E, draw):
        EC = d64(mod.noise(E, draw=draw)["EC"])
        s = mod.scaling
        return lambda x2, P: ref.melora(x2, P["lora_A"], P["lora_M"], P["lora_H"],
                                        P["lora_B"], EC, s, E)

    @staticmethod
    def kl_ref(mod):
        sp = mod.prior_std
        if mod.kl_mode == "exact":
            return lambda P: ref.melora_kl_exact(P["lora_M"], P["lora_H"], sp)
        sigma = sp if mod.kl_mode == "eq7" else sp + mod.kl_eps()
        return lambda P: ref.melora_kl(P["lora_A"], P["lora_M"], P["lora_H"], sigma)

    def test_train_every_variant(self):
        for lead, n, m, r in SHAPES:
            for per_example in (False, True):
                for kl_mode in melora.layers.KL_MODES:
                    mod, x, dz = make(melora.MeLoRALinear, lead, n, m, r, seed=11,
                                      per_example=per_example, kl_mode=kl_mode)
                    E = lead[0] if per_example else 1
                    label = "melora E=%d %s %s" % (E, kl_mode, lead)
                    for step in range(2):
                        d = mod.draw
                        adapter = self.adapter(mod, E, d)
                        y, g = run_module(mod, x, dz, 0.29)  # kl_eps follows this draw
                        ye, ge = run_reference(mod, x, dz, adapter, self.kl_ref(mod), 0.29)
                        close(self, y, ye, label + " output")
                        for k in ge:
                            close(self, g[k], ge[k], label + " d" + k)
                        self.assertEqual(mod.draw, d + 1)

    def test_kl_values(self):
        lead, n, m, r = SHAPES[2]
        for kl_mode in melora.layers.KL_MODES:
            mod, x, dz = make(melora.MeLoRALinear, lead, n, m, r, kl_mode=kl_mode)
            mod(x)
            P = {k: p.detach().double() for k, p in params(mod).items()}
            close(self, mod.kl(), self.kl_ref(mod)(P), "kl " + kl_mode)
        # eq. 8's eps is melora_rng_uniform(seed, draw of the latest sampling forward)
        mod.kl_mode = "eq8"
        self.assertAlmostEqual(mod.kl_eps(), ref.rng_uniform(mod.seed, mod.last_draw), 7)

    def test_eval_modes(self):
        lead, n, m, r = SHAPES[0]
        mod, x, dz = make(melora.MeLoRALinear, lead, n, m, r, seed=9, per_example=True)
        mod.eval()
        mean = lambda x2, P: ref.melora(x2, P["lora_A"], P["lora_M"], P["lora_H"],
                                        P["lora_B"], torch.zeros(1, r, r, dtype=torch.float64),
                                        mod.scaling, 1)
        y, g = run_module(mod, x, dz)
        ye, ge = run_reference(mod, x, dz, mean)
        close(self, y, ye, "melora mean")
        for k in ge:
            if ge[k] is not None:
                close(self, g[k], ge[k], "melora mean d" + k)
        self.assertEqual(g["lora_H"].abs().max().item(), 0.0)
        self.assertEqual(mod.draw, 0)
        mod.eval_mode = "sample"  # per example: E = lead[0]
        y, _ = run_module(mod, x, dz)
        ye, _ = run_reference(mod, x, dz, self.adapter(mod, lead[0], 0))
        close(self, y, ye, "melora sample")
        mod.eval_mode, mod.mc_samples = "mc", 4  # one C per sample, x A^T shared
        with torch.no_grad():
            z = mod(x)
        self.assertEqual(tuple(z.shape), (4,) + tuple(lead) + (m,))
        for k in range(4):
            ye, _ = run_reference(mod, x, dz, self.adapter(mod, 1, 1 + k))
            close(self, z[k], ye, "melora mc sample %d" % k)
        self.assertEqual(mod.draw, 5)
        # forward_mc equals K one-sample forwards with the same draws
        mod.reseed(mod.seed, 1)
        zz = mod.forward_mc(x, 4)
        self.assertTrue(torch.equal(zz, z))


class TestFunctional(unittest.TestCase):
    def test_inplace_composition(self):
        """The adapters add into z, so two adapters on one base output compose."""
        torch.manual_seed(3)
        T, n, m, r = 6, 5, 4, 2
        x = torch.randn(T, n)
        A1, B1, A2, B2 = (torch.randn(r, n), torch.randn(m, r), torch.randn(r, n),
                          torch.randn(m, r))
        z0 = torch.randn(T, m)
        z = MF.lora_add_(z0.clone(), x, A1, B1, 0.5)
        z = MF.lora_add_(z, x, A2, B2, 2.0)
        close(self, z, z0 + ref.lora(x, A1, B1, 0.5) + ref.lora(x, A2, B2, 2.0), "composed")

    def test_errors(self):
        x, A, B = torch.randn(3, 4), torch.randn(2, 4), torch.randn(5, 2)
        M, H = torch.eye(2), torch.ones(2, 2)
        with self.assertRaisesRegex(ValueError, "multiple of E"):  # T % E != 0
            MF.melora_add_(torch.zeros(3, 5), x, A, M, H, B, torch.zeros(2, 2, 2), 1.0, 2)
        with self.assertRaises(melora.MeloraError) as cm:  # zero std: infinite KL
            MF.blob_kl(A, torch.zeros(2, 4), 0.2)
        self.assertEqual(cm.exception.status, -5)
        with self.assertRaisesRegex(ValueError, "^s must be finite"):
            MF.lora_add_(torch.zeros(3, 5), x, A, B, float("inf"))
        with self.assertRaisesRegex(ValueError, "^x must be float32"):
            MF.lora_add_(torch.zeros(3, 5), x.double(), A, B, 1.0)


class TestGradcheck(unittest.TestCase):
    """The C functions are float32 only, so double-precision gradcheck runs on the
    reference formulas (which the tests above tie to the C path); a directional finite
    difference in float32 checks the C path's gradients of each module directly."""

    def test_reference_gradcheck(self):
        torch.manual_seed(0)
        dd = dict(dtype=torch.float64, requires_grad=True)
        T, n, m, r, E, G = 6, 5, 4, 3, 2, 4
        x, A, B = torch.randn(T, n, **dd), torch.randn(r, n, **dd), torch.randn(m, r, **dd)
        GA, M = (0.5 + torch.rand(r, n, dtype=torch.float64)).requires_grad_(), \
            torch.randn(r, r, **dd)
        H = (0.5 + torch.rand(r, r, dtype=torch.float64)).requires_grad_()
        EA = torch.randn(r, n, dtype=torch.float64)
        EC = torch.randn(E, r, r, dtype=torch.float64)
        ng = (T + G - 1) // G
        sa = torch.randint(0, 2, (ng, n)).double() * 2 - 1
        sb = torch.randint(0, 2, (ng, r)).double() * 2 - 1
        gc = torch.autograd.gradcheck
        self.assertTrue(gc(lambda x, A, B: ref.lora(x, A, B, 1.5), (x, A, B)))
        self.assertTrue(gc(lambda x, A, GA, B: ref.blob(x, A, GA, B, EA, 1.5), (x, A, GA, B)))
        self.assertTrue(gc(lambda x, A, GA, B: ref.flipout(x, A, GA, B, EA, sa, sb, 1.5, G),
                           (x, A, GA, B)))
        self.assertTrue(gc(lambda x, A, M, H, B: ref.melora(x, A, M, H, B, EC, 1.5, E),
                           (x, A, M, H, B)))
        self.assertTrue(gc(lambda A, GA: ref.blob_kl(A, GA, 0.2), (A, GA)))
        self.assertTrue(gc(lambda A, M, H: ref.melora_kl(A, M, H, 0.7), (A, M, H)))
        self.assertTrue(gc(lambda M, H: ref.melora_kl_exact(M, H, 0.2), (M, H)))

    def test_c_path_directional_derivative(self):
        lead, n, m, r = (2, 3), 7, 5, 2
        cases = [(melora.LoRALinear, {}), (melora.BLoBLinear, {"flipout": False}),
                 (melora.BLoBLinear, {"flipout": True, "flipout_group": 2})]
        cases += [(melora.MeLoRALinear, {"kl_mode": k, "per_example": True})
                  for k in melora.layers.KL_MODES]
        for cls, kw in cases:
            mod, x, dz = make(cls, lead, n, m, r, seed=21, **kw)
            mod.auto_resample = False  # the same noise at every evaluation

            def loss():
                return (mod(x) * dz).sum() + 0.1 * mod.kl()

            for p in mod.parameters():
                p.grad = None
            if isinstance(mod, melora.MeLoRALinear):
                mod.last_draw = 0
            loss().backward()
            for name, p in params(mod).items():
                torch.manual_seed(len(name))
                v = torch.randn_like(p)
                h = 1e-2
                with torch.no_grad():
                    p.add_(h * v)
                    lp = loss().item()
                    p.sub_(2 * h * v)
                    lm = loss().item()
                    p.add_(h * v)
                fd = (lp - lm) / (2 * h)
                an = (p.grad * v).sum().item()
                self.assertLess(abs(fd - an), 2e-2 * max(1.0, abs(an)),
                                "%s %s d%s: fd %.6g vs analytic %.6g" % (cls.__name__, kw,
                                                                         name, fd, an))


if __name__ == "__main__":
    unittest.main()
