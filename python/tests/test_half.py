"""bf16 and fp16 activations: x, z, dz and dx go to the C library in their own dtype
(melora_dims.dtype), the adapter's product is accumulated in float32 and z += delta and dx
are rounded once. Expected values: the float64 reference formulas (reference.py) on the
same half inputs, rounded to the dtype by rne() below (round to nearest even, in float64:
no torch conversion is involved), and PEFT's LoRA layer run in the same dtype.

The bound of a rounded output: the C result is rne(e + err) with e the exact (float64)
value and |err| <= tol, the float32 error of a sum of k products, tol = (k + 4) 2^-24 b
where b is the formula evaluated on the absolute values of its inputs. rne is monotonic,
so it must lie in [rne(e - tol), rne(e + tol)]: rne(e) itself unless e is within tol of a
rounding boundary. A second rounding (delta rounded to the dtype before the add, as PEFT
does) leaves this interval wherever the two roundings do not cancel."""
import math
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

import melora
from melora import _lib, functional as MF
import reference as ref

torch.set_num_threads(1)

DTYPES = [torch.bfloat16, torch.float16]
# significand bits (with the implicit one) and the smallest normal exponent
FORMAT = {torch.bfloat16: (8, -126), torch.float16: (11, -14)}


def rne(v, dtype):
    """float64 v rounded to `dtype` (to nearest, ties to even), in float64."""
    p, emin = FORMAT[dtype]
    a = v.abs()
    e = torch.floor(torch.log2(torch.where(a > 0, a, torch.ones_like(a))))
    q = torch.pow(2.0, torch.clamp(e, min=emin) - (p - 1))
    return torch.round(v / q) * q  # torch.round rounds halves to even


def assert_rounded_once(test, got, exact, bound, k, what):
    """got (half) is exact (float64) + a float32 error of <= (k + 4) 2^-24 bound, rounded
    once to got's dtype."""
    tol = (k + 4) * 2.0 ** -24 * bound
    lo, hi = rne(exact - tol, got.dtype), rne(exact + tol, got.dtype)
    g = got.detach().double()  # widening is exact
    ok = (g >= lo) & (g <= hi)
    if not bool(ok.all()):
        i = tuple((~ok).nonzero()[0].tolist())
        test.fail("%s: %d of %d elements not in [rne(exact - tol), rne(exact + tol)], first "
                  "at %s: got %r, exact %r" % (what, int((~ok).sum()), ok.numel(), i,
                                                g[i].item(), exact[i].item()))
    # and not a vacuous check: most elements are exactly rne(exact)
    exact_frac = (g == rne(exact, got.dtype)).double().mean().item()
    test.assertGreater(exact_frac, 0.9, what)


def assert_close32(test, got, want, bound, k, what):
    """A float32 result against float64: |got - want| <= (k + 4) 2^-24 bound (+ the
    float32 rounding of the result itself)."""
    test.assertEqual(got.dtype, torch.float32, what)
    tol = (k + 5) * 2.0 ** -24 * bound.abs() + 1e-30
    err = (got.double() - want).abs()
    test.assertTrue(bool((err <= tol).all()), "%s: max error %.3g, bound %.3g"
                    % (what, err.max().item(), tol.max().item()))


def half(shape, dtype, g, scale=1.0):
    return (scale * torch.randn(shape, generator=g)).to(dtype)


def f32(shape, g, scale=1.0):
    return scale * torch.randn(shape, generator=g)


def grads64(formula, inputs, dz):
    """The float64 reference's output and the gradients of sum(out * dz) with respect to
    `inputs` (a dict of tensors, each widened to a float64 leaf)."""
    P = {k: v.detach().double().requires_grad_(True) for k, v in inputs.items()}
    out = formula(**P)
    (out * dz.double()).sum().backward()
    return out.detach(), {k: p.grad for k, p in P.items()}


class Case:
    """One adapter call: the melora function, the reference formula and its inputs."""

    def __init__(self, name, T, n, m, r, dtype, seed):
        g = torch.Generator().manual_seed(seed)
        self.name, self.T, self.n, self.m, self.r, self.dtype = name, T, n, m, r, dtype
        self.x = half((T, n), dtype, g)
        self.z0 = half((T, m), dtype, g, 4.0)  # a base output that dominates the delta
        self.dz = half((T, m), dtype, g)
        self.s = 1.5
        A, B = f32((r, n), g, 0.5), f32((m, r), g, 0.5)
        if name == "lora":
            self.params = {"A": A, "B": B}
            self.call = lambda z, x, P: MF.lora_add_(z, x, P["A"], P["B"], self.s)
            self.formula = lambda x, A, B: ref.lora(x, A, B, self.s)
        elif name in ("blob", "flipout"):
            GA = 0.3 + 0.5 * torch.rand((r, n), generator=g)
            self.params = {"MA": A, "GA": GA, "B": B}
            if name == "blob":
                EA = torch.randn((r, n), generator=g)
                self.call = lambda z, x, P: MF.blob_add_(z, x, P["MA"], P["GA"], P["B"], EA,
                                                         self.s)
                self.formula = lambda x, MA, GA, B: ref.blob(x, MA, GA, B, EA.double(), self.s)
            else:
                G, sd, dr = 2, 11, 3
                EA, sa, sb = MF.flipout_noise(sd, dr, T, G, n, m, r)
                self.call = lambda z, x, P: MF.blob_flipout_add_(
                    z, x, P["MA"], P["GA"], P["B"], self.s, G, sd, dr)
                self.formula = lambda x, MA, GA, B: ref.flipout(
                    x, MA, GA, B, EA.double(), sa.double(), sb.double(), self.s, G)
            self._abs = {"EA": EA.double().abs()}
        else:  # melora, E examples of T / E tokens
            E = 3
            M = torch.eye(r) + 0.3 * torch.randn((r, r), generator=g)
            H = 0.3 + 0.5 * torch.rand((r, r), generator=g)
            EC = _lib.melora_noise(5, 2, E, r)
            self.params = {"A": A, "M": M, "H": H, "B": B}
            self.call = lambda z, x, P: MF.melora_add_(z, x, P["A"], P["M"], P["H"], P["B"],
                                                       EC, self.s, E)
            self.formula = lambda x, A, M, H, B: ref.melora(x, A, M, H, B, EC.double(),
                                                            self.s, E)
            self._abs = {"EC": EC.double().abs()}
        # products per output: u = x A^T (n; Flipout 2n), C u (r), u B^T (r)
        self.k = (2 * n if name == "flipout" else n) + (2 * r if name == "melora" else r)

    def abs_formula(self, **P):
        """The formula on absolute values: a bound of its sums' magnitudes."""
        P = {k: v.abs() for k, v in P.items()}
        if self.name == "lora":
            return ref.lora(P["x"], P["A"], P["B"], self.s)
        if self.name in ("blob", "flipout"):
            # Flipout: |x| |MA|^T + |x| |dA|^T, BLoB's formula on absolute values too
            return ref.blob(P["x"], P["MA"], P["GA"], P["B"], self._abs["EA"], self.s)
        return ref.melora(P["x"], P["A"], P["M"], P["H"], P["B"], self._abs["EC"], self.s,
                          3)


def run_case(c):
    """melora's z, and the gradients of sum(z * dz) (x, and every parameter)."""
    P = {k: v.clone().requires_grad_(True) for k, v in c.params.items()}
    x = c.x.clone().requires_grad_(True)
    z = c.z0.clone()
    out = c.call(z, x, P)
    out.backward(c.dz)
    return out, x.grad, {k: p.grad for k, p in P.items()}


class TestFunctionalHalf(unittest.TestCase):
    SIZES = (12, 9, 7, 3)  # T (a multiple of E = 3), n, m, r
    # and sizes past the C code's vector widths and token blocks, none a multiple of them
    LARGE = (3 * 67, 131, 77, 8)

    def test_forward_backward_rounded_once(self):
        for sizes in (self.SIZES, self.LARGE):
            for dtype in DTYPES:
                for name in ("lora", "blob", "flipout", "melora"):
                    self.check_case(Case(name, *sizes, dtype, seed=len(name)))

    def check_case(self, c):
        name, dtype = c.name, c.dtype
        label = "%s %s %s" % (name, dtype, (c.T, c.n, c.m, c.r))
        out, dx, dP = run_case(c)
        self.assertEqual(out.dtype, dtype, label)
        self.assertEqual(dx.dtype, dtype, label)
        inputs = dict(c.params, x=c.x)
        delta, g64 = grads64(c.formula, inputs, c.dz)
        absd, gabs = grads64(c.abs_formula, inputs, c.dz.abs())
        z0 = c.z0.double()
        assert_rounded_once(self, out, z0 + delta, z0.abs() + absd, c.k, label + " z")
        # dx = dz B (s ...) A: m + r (+ r) products, rounded once into zeros
        assert_rounded_once(self, dx, g64["x"], gabs["x"].abs(), c.m + c.r + c.r,
                            label + " dx")
        # float32 sums over the T tokens of sums over the m (or n) side and r
        for k in c.params:
            assert_close32(self, dP[k], g64[k], gabs[k], c.T + c.n + c.m + 2 * c.r,
                           "%s d%s" % (label, k))

    def test_in_place_and_dtype_kept(self):
        """z is the caller's tensor, changed in place in its own dtype (no float32 copy of
        it is returned), and x is left as it was."""
        for dtype in DTYPES:
            c = Case("lora", *self.SIZES, dtype, seed=3)
            z, x0 = c.z0.clone(), c.x.clone()
            ptr = z.data_ptr()
            with torch.no_grad():
                out = c.call(z, c.x, c.params)
            self.assertEqual((out.data_ptr(), out.dtype), (ptr, dtype))
            self.assertTrue(torch.equal(out, z) and not torch.equal(z, c.z0))
            self.assertTrue(torch.equal(c.x, x0))

    def test_mc_forward(self):
        T, n, m, r, K = 6, 10, 5, 3, 4
        for dtype in DTYPES:
            g = torch.Generator().manual_seed(9)
            x, A, B = half((T, n), dtype, g), f32((r, n), g), f32((m, r), g)
            C = f32((K, r, r), g)
            z0 = half((K, T, m), dtype, g, 4.0)
            z = z0.clone()
            with torch.no_grad():
                MF.melora_mc_add_(z, x, A, C, B, 0.75)
            xd = x.double()
            for k in range(K):
                Ck = C[k].double()
                exact = z0[k].double() + 0.75 * (xd @ A.double().t() @ Ck.t()) @ B.double().t()
                bound = z0[k].double().abs() + 0.75 * (xd.abs() @ A.double().abs().t()
                                                       @ Ck.abs().t()) @ B.double().abs().t()
                assert_rounded_once(self, z[k], exact, bound, n + 2 * r,
                                    "mc %s sample %d" % (dtype, k))

    def test_dtype_errors(self):
        g = torch.Generator().manual_seed(0)
        x, A, B = torch.randn(3, 4, generator=g), torch.randn(2, 4), torch.randn(5, 2)
        z = torch.zeros(3, 5)
        for bad in (torch.float64, torch.int32):
            with self.assertRaisesRegex(TypeError, "^x must be float32, bfloat16 or float16 "
                                        "\\(got %s\\)" % bad):
                MF.lora_add_(z.clone(), x.to(bad), A, B, 1.0)
            with self.assertRaisesRegex(TypeError, "^z must be float32, bfloat16 or float16"):
                MF.lora_add_(z.to(bad), x, A, B, 1.0)
        with self.assertRaisesRegex(TypeError, "^z and x must have the same dtype \\(got z "
                                    "torch.float16, x torch.bfloat16\\)"):
            MF.lora_add_(z.half(), x.bfloat16(), A, B, 1.0)
        with self.assertRaisesRegex(TypeError, "^A must be float32 \\(got torch.bfloat16"):
            MF.lora_add_(z.bfloat16(), x.bfloat16(), A.bfloat16(), B, 1.0)
        zz = z.bfloat16()
        z0 = zz.clone()
        with self.assertRaises(TypeError):  # nothing written on an error
            MF.lora_add_(zz, x.bfloat16(), A, B.double(), 1.0)
        self.assertTrue(torch.equal(zz, z0))
        self.assertTrue(issubclass(melora.DtypeError, ValueError))


class Linear16(nn.Linear):
    """An nn.Linear whose forward works in float16 on a CPU torch without a float16
    matrix product (torch 1.13): the product in float32, the output rounded to float16."""

    def forward(self, x):
        return F.linear(x.float(), self.weight.float(), self.bias.float()).to(x.dtype)


def base_layer(n, m, dtype, seed=0):
    torch.manual_seed(seed)
    base = (Linear16 if dtype == torch.float16 else nn.Linear)(n, m)
    return base.to(dtype)


METHODS = [("lora", {}), ("blob", {"flipout": False}), ("blob", {"flipout": True}),
           ("melora", {}), ("melora", {"per_example": True})]


class TestModulesHalf(unittest.TestCase):
    def test_modules_keep_the_dtype(self):
        """A bf16 / fp16 model: output and dx in its dtype, float32 adapter parameters
        (created on a half model) with float32 gradients; the output is the base output
        plus the float64 reference delta, rounded once."""
        for dtype in DTYPES:
            for method, kw in METHODS:
                label = "%s %s %s" % (method, kw, dtype)
                base = base_layer(10, 6, dtype)
                mod = melora.model.METHODS[method](base, r=3, lora_alpha=6, seed=4, **kw)
                with torch.no_grad():
                    mod.lora_B.normal_()
                mod.train()
                x = torch.randn(2, 3, 10).to(dtype).requires_grad_(True)
                y = mod(x)
                y.backward(torch.ones_like(y))
                self.assertEqual((y.dtype, x.grad.dtype), (dtype, dtype), label)
                for n_, p in mod.named_parameters():
                    if p.requires_grad:
                        self.assertEqual(p.dtype, torch.float32, label + " " + n_)
                        self.assertEqual(p.grad.dtype, torch.float32, label + " " + n_)
                        self.assertTrue(bool(torch.isfinite(p.grad).all()), label + " " + n_)
                # eval, mean adapter: y = rne(base(x) + s (x A^T) (M^T) B^T)
                mod.eval()
                with torch.no_grad():
                    y = mod(x)
                    z0 = base(x).double()
                    xd = x.detach().double()
                    A = mod.lora_A.detach().double()
                    B = mod.lora_B.detach().double()
                    M = mod.lora_M.detach().double() if method == "melora" else \
                        torch.eye(3, dtype=torch.float64)
                    exact = z0 + mod.scaling * (xd @ A.t() @ M.t()) @ B.t()
                    bound = z0.abs() + mod.scaling * (xd.abs() @ A.abs().t() @ M.abs().t()) \
                        @ B.abs().t()
                assert_rounded_once(self, y, exact, bound, 10 + 6, label + " eval output")

    def test_empty_batch(self):
        """T = 0 in bf16 / fp16: an empty output of the dtype, zero gradients."""
        for dtype in DTYPES:
            for method, kw in METHODS:
                mod = melora.model.METHODS[method](base_layer(6, 4, dtype), r=2, **kw).train()
                x = torch.zeros(0, 6, dtype=dtype, requires_grad=True)
                y = mod(x)
                self.assertEqual((tuple(y.shape), y.dtype), ((0, 4), dtype))
                y.sum().backward()
                self.assertEqual(x.grad.dtype, dtype)
                self.assertTrue(all(float(p.grad.abs().sum()) == 0 for p in mod.parameters()
                                    if p.requires_grad))

    def test_checkpointing(self):
        """torch.utils.checkpoint over bf16 blocks (reentrant and not) gives the gradients
        of the run without it, bit for bit (the recomputation reuses each draw)."""
        import torch.utils.checkpoint as ckpt

        def run(method, kw, mode):
            torch.manual_seed(0)
            blocks = nn.ModuleList([nn.Sequential(nn.Linear(8, 8), nn.Tanh())
                                    for _ in range(2)]).to(torch.bfloat16)
            model = melora.adapt(blocks, ["0.0", "1.0"], method=method, r=2, seed=3, **kw)
            for _, m in melora.adapters(model):
                with torch.no_grad():
                    m.lora_B.normal_()
            h = torch.randn(5, 8, generator=torch.Generator().manual_seed(1)).bfloat16()
            h.requires_grad_(True)
            out = h
            for b in model:
                out = b(out) if mode is None else ckpt.checkpoint(
                    b, out, use_reentrant=mode == "reentrant")
            out.float().sum().backward()
            return [p.grad for p in model.parameters() if p.requires_grad] + [h.grad]

        for method, kw in METHODS:
            want = run(method, kw, None)
            for mode in ("reentrant", "plain"):
                got = run(method, kw, mode)
                self.assertEqual(len(got), len(want))
                for a, b in zip(got, want):
                    self.assertTrue(torch.equal(a, b), "%s %s %s" % (method, kw, mode))

    def test_bf16_parameters(self):
        """model.to(torch.bfloat16) after adapt(): bf16 parameters (as PEFT's) whose
        gradients are the float32 gradient of the widened values, rounded to bf16."""
        base = base_layer(10, 6, torch.float32)
        mod = melora.LoRALinear(base, r=3, lora_alpha=6)
        with torch.no_grad():
            mod.lora_B.normal_()
        mod = mod.to(torch.bfloat16)
        x = torch.randn(5, 10).to(torch.bfloat16)
        dz = torch.randn(5, 6).to(torch.bfloat16)
        mod(x).backward(dz)
        _, g64 = grads64(lambda x, A, B: ref.lora(x, A, B, mod.scaling),
                         {"x": x, "A": mod.lora_A, "B": mod.lora_B}, dz)
        for k, p in (("A", mod.lora_A), ("B", mod.lora_B)):
            self.assertEqual(p.grad.dtype, torch.bfloat16)
            # the float32 gradient (relative error ~1e-6) rounded once to bf16: within one
            # bf16 ulp of the float64 gradient, 2^-7 relative
            err = (p.grad.double() - g64[k]).abs()
            self.assertTrue(bool((err <= 2.0 ** -7 * g64[k].abs() + 1e-4).all()), k)

    def test_unsupported_dtypes(self):
        base = nn.Linear(4, 3).double()
        mod = melora.LoRALinear(base, r=2)
        with self.assertRaisesRegex(TypeError, "^x is torch.float64: melora's activations are "
                                    "float32, bfloat16 or float16"):
            mod(torch.randn(2, 4, dtype=torch.float64))
        mod = melora.LoRALinear(nn.Linear(4, 3), r=2).double()  # float64 parameters
        mod.base_layer.float()
        with self.assertRaisesRegex(TypeError,
                                    "torch.float64: melora's parameters are float32"):
            mod(torch.randn(2, 4))

    def test_autocast(self):
        """Under CPU autocast the base product comes back bf16 from a float32 input: the
        adapter's input is cast as autocast casts the base layer's, and the output is bf16."""
        if not hasattr(torch, "autocast"):
            self.skipTest("no torch.autocast")
        base = nn.Linear(8, 5)
        mod = melora.LoRALinear(base, r=2)
        with torch.no_grad():
            mod.lora_B.normal_()
        x = torch.randn(4, 8)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = mod(x)
            z0 = base(x)
        self.assertEqual(y.dtype, torch.bfloat16)
        xb = x.bfloat16().double()
        A, B = mod.lora_A.detach().double(), mod.lora_B.detach().double()
        exact = z0.double() + mod.scaling * (xb @ A.t()) @ B.t()
        bound = z0.double().abs() + mod.scaling * (xb.abs() @ A.abs().t()) @ B.abs().t()
        assert_rounded_once(self, y, exact, bound, 10, "autocast")


try:
    import peft
except ImportError:
    peft = None


@unittest.skipIf(peft is None, "peft not installed (make python-test installs it into "
                 "build/venv)")
class TestAgainstPEFT(unittest.TestCase):
    """PEFT's LoRA layer in the same dtype: it rounds x A^T, its product with B and the
    scaled delta to the dtype before the add (each one rounding, 2^-p relative), melora
    once. Bound: |melora - peft| <= 4 2^-p (|base| + |delta|) with p = 8 (bf16), 11 (fp16),
    and melora's output is closer to the float64 value than PEFT's. bf16 only: PEFT's
    adapter is a pair of nn.Linear, and torch 1.13 has no float16 matrix product on the
    CPU (fp16 is checked against float64 above)."""

    def test_lora_layer(self):
        from peft.tuners.lora import Linear as PeftLinear
        for dtype in (torch.bfloat16,):
            p_bits = FORMAT[dtype][0]
            torch.manual_seed(1)
            n, m, r = 24, 16, 4
            pbase = base_layer(n, m, dtype, seed=2).requires_grad_(False)
            pl = PeftLinear(pbase, "default", r=r, lora_alpha=8, lora_dropout=0.0)
            with torch.no_grad():
                pl.lora_B["default"].weight.normal_()
            pl = pl.to(dtype)  # PEFT's adapter in the model's dtype
            mbase = base_layer(n, m, dtype, seed=2)
            ml = melora.LoRALinear(mbase, r=r, lora_alpha=8)
            with torch.no_grad():  # the same (bf16-representable) weights, float32 here
                ml.lora_A.copy_(pl.lora_A["default"].weight.float())
                ml.lora_B.copy_(pl.lora_B["default"].weight.float())
            x = torch.randn(3, 5, n).to(dtype)
            dz = torch.randn(3, 5, m).to(dtype)
            xp, xm = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            yp, ym = pl(xp), ml(xm)
            yp.backward(dz)
            ym.backward(dz)
            self.assertEqual((yp.dtype, ym.dtype), (dtype, dtype))
            A, B = ml.lora_A.detach().double(), ml.lora_B.detach().double()
            s = ml.scaling
            z0 = mbase(x).double()
            xd = x.double()
            exact = z0 + s * (xd @ A.t()) @ B.t()
            bound = z0.abs() + s * (xd.abs() @ A.abs().t()) @ B.abs().t()
            eps = 2.0 ** -p_bits
            label = str(dtype)
            self.assertTrue(bool(((ym.double() - yp.double()).abs() <= 4 * eps * bound).all()),
                            label + " output vs PEFT")
            self.assertLessEqual((ym.double() - exact).norm().item(),
                                 (yp.double() - exact).norm().item(), label)
            # gradients: x in the dtype; A, B float32 here, PEFT's in the dtype
            dzd = dz.double()
            gx = s * (dzd @ B) @ A
            gxb = s * (dzd.abs() @ B.abs()) @ A.abs()
            self.assertTrue(bool(((xm.grad.double() - xp.grad.double()).abs()
                                  <= 4 * eps * gxb + 1e-6).all()), label + " dx vs PEFT")
            u = xd.reshape(-1, n) @ A.t()
            gB = s * dzd.reshape(-1, m).t() @ u
            gA = s * (dzd.reshape(-1, m) @ B).t() @ xd.reshape(-1, n)
            for what, mine, theirs, want in (
                    ("dA", ml.lora_A.grad, pl.lora_A["default"].weight.grad, gA),
                    ("dB", ml.lora_B.grad, pl.lora_B["default"].weight.grad, gB)):
                self.assertEqual(mine.dtype, torch.float32)
                self.assertEqual(theirs.dtype, dtype)
                rel = (mine.double() - want).norm() / want.norm()
                relp = (theirs.double() - want).norm() / want.norm()
                self.assertLess(rel.item(), 1e-5, label + " " + what)
                self.assertLess(relp.item(), 8 * eps, label + " " + what + " (PEFT)")

    def test_llama_bf16_training_step(self):
        """A tiny LlamaForCausalLM in torch.bfloat16 (random init, no download) with LoRA on
        q_proj, v_proj: melora's adapters (float32 master weights on the bf16 model) and
        PEFT's (bf16, as get_peft_model(...).to(torch.bfloat16) makes them) start from the
        same weights; the loss, the logits, the adapters' gradients and the loss after one
        AdamW step agree within bf16's precision (bounds below; PEFT rounds every adapter
        product to bf16, melora only the sum)."""
        try:
            import transformers
        except ImportError:
            self.skipTest("transformers not installed")
        transformers.logging.set_verbosity_error()
        cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                                       num_hidden_layers=2, num_attention_heads=4,
                                       num_key_value_heads=4, max_position_embeddings=64)

        def llama():
            torch.manual_seed(0)
            return transformers.LlamaForCausalLM(cfg)

        pm = peft.get_peft_model(llama(), peft.LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
        g = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for n_, p in pm.named_parameters():
                if "lora_B" in n_:
                    p.copy_(0.3 * torch.randn(p.shape, generator=g))
        pm = pm.to(torch.bfloat16)
        mm = melora.adapt(llama().to(torch.bfloat16), ["q_proj", "v_proj"], r=4, lora_alpha=8)
        peft_mods = {n_: mod for n_, mod in pm.named_modules()
                     if isinstance(mod, peft.tuners.lora.LoraLayer)}
        pairs = []
        with torch.no_grad():
            for n_, mod in melora.adapters(mm):
                pmod = peft_mods["base_model.model." + n_]
                mod.lora_A.copy_(pmod.lora_A["default"].weight.float())
                mod.lora_B.copy_(pmod.lora_B["default"].weight.float())
                pairs.append((mod, pmod))
        self.assertEqual(len(pairs), 4)
        ids = torch.randint(0, 64, (4, 12), generator=g)

        def step(model):
            model.train()
            model.zero_grad()
            out = model(input_ids=ids, labels=ids)
            out.loss.backward()
            return out.loss.item(), out.logits.detach().float()

        mp = [p for p in mm.parameters() if p.requires_grad]
        pp = [p for p in pm.parameters() if p.requires_grad]
        lm, logm = step(mm)
        lp, logp = step(pm)
        self.assertEqual(logm.shape, (4, 12, 64))
        for mod, _ in pairs:
            self.assertEqual(mod.lora_A.grad.dtype, torch.float32)
        # logits: bf16 activations through two layers, |logit| ~ 1: a few bf16 ulps
        rel_logits = ((logm - logp).norm() / logp.norm()).item()
        self.assertLess(rel_logits, 2e-2)  # measured: 7e-3
        self.assertLess(abs(lm - lp), 2e-3 * abs(lp))  # measured: 4e-6
        for mod, pmod in pairs:
            for what in ("A", "B"):
                mine = getattr(mod, "lora_" + what).grad
                theirs = getattr(pmod, "lora_" + what)["default"].weight.grad
                rel = ((mine - theirs.float()).norm() / theirs.float().norm()).item()
                self.assertLess(rel, 5e-2, what)  # measured: <= 1.3e-2
        for params in (mp, pp):
            torch.optim.AdamW(params, lr=1e-2).step()
        lm2, _ = step(mm)
        lp2, _ = step(pm)
        self.assertLess(lm2, lm)
        self.assertLess(lp2, lp)
        self.assertLess(abs(lm2 - lp2), 2e-3 * abs(lp2))
