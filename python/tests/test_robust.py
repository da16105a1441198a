"""Regression tests for what a training pipeline does around the modules: gradient
checkpointing, double backward, bad arguments, retain_graph, threads, fork, checkpoints
with tensors only and their configuration, bf16 models, mc_predict on model outputs,
empty batches, merging and disabling. Expected values come from runs without the feature
under test (no checkpointing, one thread, the parent process) or from pure PyTorch."""
import ctypes
import io
import multiprocessing as mp
import os
import tempfile
import threading
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as ckpt

import melora
from melora import functional as MF
import reference as ref

torch.set_num_threads(1)

METHODS = [("lora", {}), ("blob", {"flipout": False}), ("blob", {"flipout": True}),
           ("blob", {"flipout": True, "flipout_group": 3}),
           ("melora", {}), ("melora", {"per_example": True, "kl_mode": "eq8"})]


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q_proj, self.v_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        return x + self.v_proj(torch.tanh(self.q_proj(x)))


class Net(nn.Module):
    """Two blocks and a head; checkpoint=None | "reentrant" | "plain" checkpoints each
    block with torch.utils.checkpoint."""

    def __init__(self, d=12, classes=3):
        super().__init__()
        self.blocks = nn.ModuleList([Block(d), Block(d)])
        self.head = nn.Linear(d, classes)
        self.checkpoint = None

    def forward(self, x):
        for b in self.blocks:
            if self.checkpoint is None:
                x = b(x)
            else:
                x = ckpt.checkpoint(b, x, use_reentrant=self.checkpoint == "reentrant")
        return self.head(x.mean(1))


def make_net(method, kw, seed=5, dropout=0.0):
    torch.manual_seed(0)
    net = Net()
    melora.adapt(net, ["q_proj", "v_proj"], method=method, r=3, lora_alpha=5, seed=seed,
                 lora_dropout=dropout, **kw)
    with torch.no_grad():
        for _, m in melora.adapters(net):
            m.lora_B.normal_(0, 0.5)
            if hasattr(m, "lora_H"):
                m.lora_H.fill_(0.6)
            if hasattr(m, "lora_A_rho"):
                m.lora_A_rho.fill_(0.6)
    return net


def step_grads(net, x, y):
    """One training step's loss (NLL + KL) and the gradients of every trainable parameter."""
    net.zero_grad()
    loss = F.cross_entropy(net(x), y) + 0.01 * melora.kl(net)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in net.named_parameters()
                         if p.requires_grad}


def rel(a, b):
    return ((a - b).norm() / max(b.norm().item(), 1e-30)).item()


class TestCheckpointing(unittest.TestCase):
    """torch.utils.checkpoint recomputes a forward in backward: it must use the original
    draw, so the gradients equal those of the same step without checkpointing."""

    def test_same_gradients_as_without(self):
        x = torch.randn(4, 5, 12)
        y = torch.tensor([0, 1, 2, 1])
        for method, kw in METHODS:
            for mode in ("reentrant", "plain"):
                ref_net = make_net(method, kw, dropout=0.1)
                net = make_net(method, kw, dropout=0.1)
                net.checkpoint = mode
                for step in range(2):  # draws 0 and 1
                    torch.manual_seed(100 + step)  # the same dropout masks in both
                    l0, g0 = step_grads(ref_net, x, y)
                    torch.manual_seed(100 + step)
                    l1, g1 = step_grads(net, x.clone().requires_grad_(mode == "reentrant"), y)
                    label = "%s %s %s step %d" % (method, kw, mode, step)
                    self.assertAlmostEqual(l0, l1, places=5, msg=label)
                    self.assertEqual(set(g0), set(g1))
                    for k in g0:
                        self.assertLess(rel(g1[k], g0[k]), 1e-5, "%s d%s" % (label, k))
                    draws = {m.draw for _, m in melora.adapters(net)}
                    self.assertEqual(draws, {step + 1} if method != "lora" else {0}, label)

    def test_eval_sampling_under_checkpoint(self):
        """eval_mode="sample" under checkpointing (e.g. input gradients of one MC sample):
        the same gradients as without."""
        x = torch.randn(4, 5, 12)
        y = torch.tensor([0, 1, 2, 1])
        for method, kw in METHODS[1:]:
            got = []
            for mode in (None, "reentrant", "plain"):
                net = make_net(method, kw)
                net.eval()
                for _, m in melora.adapters(net):
                    m.eval_mode = "sample"
                net.checkpoint = mode
                xi = x.clone().requires_grad_(True)
                F.cross_entropy(net(xi), y).backward()
                got.append(xi.grad)
            for g in got[1:]:
                self.assertLess(rel(g, got[0]), 1e-6, "%s %s" % (method, kw))

    def test_unrestored_generator_raises(self):
        """preserve_rng_state=False: the recomputation cannot find its draw; it must raise
        rather than sample new noise."""
        net = make_net("melora", {})
        x = torch.randn(4, 5, 12, requires_grad=True)
        for reentrant in (True, False):
            out = ckpt.checkpoint(net.blocks[0], x, use_reentrant=reentrant,
                                  preserve_rng_state=False)
            with self.assertRaisesRegex(RuntimeError, "preserve_rng_state"):
                out.sum().backward()

    def test_reseeding_torch_is_not_a_replay(self):
        """Two steps after the same torch.manual_seed still draw new noise."""
        net = make_net("blob", {"flipout": False})
        x, y = torch.randn(4, 5, 12), torch.tensor([0, 1, 2, 1])
        _, g0 = step_grads(net, x, y)
        torch.manual_seed(0)
        _, g1 = step_grads(net, x, y)
        torch.manual_seed(0)
        _, g2 = step_grads(net, x, y)
        self.assertEqual({m.draw for _, m in melora.adapters(net)}, {3})
        k = "blocks.0.q_proj.lora_A_rho"
        self.assertGreater(rel(g1[k], g2[k]), 1e-3)


class TestDoubleBackward(unittest.TestCase):
    def test_gradient_penalty_raises(self):
        """The C backward is not differentiable: a gradient penalty must raise, not
        silently drop the second-order term."""
        for method, kw in METHODS:
            net = make_net(method, kw)
            x = torch.randn(4, 5, 12, requires_grad=True)
            loss = F.cross_entropy(net(x), torch.tensor([0, 1, 2, 1])) + 0.1 * melora.kl(net)
            params = [p for p in net.parameters() if p.requires_grad]
            grads = torch.autograd.grad(loss, [x] + params, create_graph=True)
            penalty = sum((g * g).sum() for g in grads)
            with self.assertRaisesRegex(RuntimeError, "differentiate twice"):
                penalty.backward()

    def test_kl_penalty_raises(self):
        mod = melora.MeLoRALinear(nn.Linear(5, 4), r=2)
        g, = torch.autograd.grad(mod.kl(), mod.lora_A, create_graph=True)
        with self.assertRaisesRegex(RuntimeError, "differentiate twice"):
            (g * g).sum().backward()


class TestRetainGraph(unittest.TestCase):
    def test_backward_twice(self):
        for method, kw in METHODS:
            net = make_net(method, kw)
            x, y = torch.randn(4, 5, 12), torch.tensor([0, 1, 2, 1])
            loss = F.cross_entropy(net(x), y) + 0.3 * melora.kl(net)
            loss.backward(retain_graph=True)
            once = {n: p.grad.clone() for n, p in net.named_parameters() if p.requires_grad}
            loss.backward()
            for n, p in net.named_parameters():
                if p.requires_grad:
                    self.assertTrue(torch.allclose(p.grad, 2 * once[n], rtol=1e-6, atol=1e-7),
                                    "%s %s d%s" % (method, kw, n))


class TestBadArguments(unittest.TestCase):
    def setUp(self):
        T, n, m, r = 5, 7, 6, 4
        g = torch.Generator().manual_seed(0)
        rn = lambda *s: torch.randn(*s, generator=g)
        self.T, self.n, self.m, self.r = T, n, m, r
        self.x, self.z = rn(T, n), rn(T, m)
        self.A, self.B, self.GA, self.EA = rn(r, n), rn(m, r), rn(r, n), rn(r, n)
        self.M, self.H, self.EC = rn(r, r), rn(r, r), rn(1, r, r)

    def expect(self, fn, name, *args):
        with self.assertRaisesRegex(ValueError, "^%s " % name, msg=name):
            fn(*args)

    def test_shapes_named(self):
        x, z, A, B, GA, EA = self.x, self.z, self.A, self.B, self.GA, self.EA
        M, H, EC, r = self.M, self.H, self.EC, self.r
        self.expect(MF.lora_add_, "A", z.clone(), x, torch.randn(r, 1), B, 1.0)
        self.expect(MF.lora_add_, "B", z.clone(), x, A, torch.randn(self.m, r + 3), 1.0)
        self.expect(MF.lora_add_, "x", z.clone(), x.reshape(1, *x.shape), A, B, 1.0)
        self.expect(MF.lora_add_, "z", torch.zeros(self.T + 1, self.m), x, A, B, 1.0)
        self.expect(MF.blob_add_, "GA", z.clone(), x, A, GA[:, :3], B, EA, 1.0)
        self.expect(MF.blob_add_, "EA", z.clone(), x, A, GA, B, EA.t().contiguous(), 1.0)
        self.expect(MF.blob_flipout_add_, "G", z.clone(), x, A, GA, B, 1.0, 0, 1, 0)
        self.expect(MF.melora_add_, "H", z.clone(), x, A, M, torch.ones(2, 2), B, EC, 1.0)
        self.expect(MF.melora_add_, "M", z.clone(), x, A, M[:, :2], H, B, EC, 1.0)
        self.expect(MF.melora_add_, "EC", z.clone(), x, A, M, H, B, torch.randn(2, r, r), 1.0)
        self.expect(MF.melora_add_, "E", z.clone(), x, A, M, H, B, EC, 1.0, 0)
        K = 3
        zk = torch.zeros(K, self.T, self.m)
        with torch.no_grad():
            self.expect(MF.melora_mc_add_, "C", zk, x, A, torch.randn(K - 1, r, r), B, 1.0)
            self.expect(MF.melora_mc_add_, "z", torch.zeros(K, self.T + 2, self.m), x, A,
                        torch.randn(K, r, r), B, 1.0)
        self.expect(MF.melora_sample, "EC", M, H, torch.randn(2, r, r + 1))
        self.expect(MF.blob_kl, "GA", A, GA[:2], 0.2)
        self.expect(MF.melora_kl, "H", A, M, H[:1], 0.2)
        self.expect(MF.melora_kl_exact, "M", torch.randn(r, r + 1), H, 0.2)

    def test_dtype_device_layout_alias(self):
        x, z, A, B = self.x, self.z, self.A, self.B
        self.expect(MF.lora_add_, "A", z.clone(), x, A.double(), B, 1.0)
        self.expect(MF.lora_add_, "B", z.clone(), x, A, torch.randn(self.r, self.m).t(), 1.0)
        self.expect(MF.lora_add_, "x", z.clone(), x.tolist(), A, B, 1.0)
        # another device (the meta device stands in for CUDA on a machine without one)
        self.expect(MF.lora_add_, "x", z.clone(), x.to("meta"), A, B, 1.0)
        mod = melora.LoRALinear(nn.Linear(self.n, self.m), r=2).to("meta")
        with self.assertRaisesRegex(ValueError, "^x is on meta"):
            mod(torch.randn(3, self.n, device="meta"))
        self.expect(MF.lora_add_, "s", z.clone(), x, A, B, float("nan"))
        sq = torch.randn(self.T, self.n)  # z aliasing x
        self.expect(MF.lora_add_, "z", sq, sq, A, torch.randn(self.n, self.r), 1.0)
        with self.assertRaisesRegex(ValueError, "no gradient"):
            MF.melora_mc_add_(torch.zeros(2, self.T, self.m), x, A.requires_grad_(),
                              torch.randn(2, self.r, self.r), B, 1.0)

    def test_library_rejects_overlaps(self):
        # the C library's own check, below the bridge's ValueError: u over x (r == n)
        from melora import _api, _lib
        T, n, m = 3, 4, 5
        x, A, B, z = torch.randn(T, n), torch.randn(n, n), torch.randn(m, n), torch.zeros(T, m)
        x0, z0 = x.clone(), z.clone()
        d = _api.melora_dims(T, n, m, n)
        work = _lib.workspace(_api.OP_LORA_FORWARD, d)
        sv = _api.melora_lora_saved(x=_lib.ptr(x), u=_lib.ptr(x))
        p = _api.melora_lora_params(A=_lib.ptr(A), B=_lib.ptr(B), s=1.0)
        with self.assertRaises(melora.MeloraError) as cm:
            _lib.call("melora_lora_forward", _lib.ptr(z), ctypes.byref(sv), work,
                      ctypes.byref(p), d)
        self.assertEqual(cm.exception.status, _api.ERR_ALIAS)
        self.assertEqual(cm.exception.name, "MELORA_ERR_ALIAS")
        self.assertIn("overlaps", str(cm.exception))
        self.assertTrue(torch.equal(x, x0) and torch.equal(z, z0))

    def test_module_arguments(self):
        base = nn.Linear(6, 4)
        for bad in (2.5, 0, -1, True, "8"):
            with self.assertRaisesRegex(ValueError, "^r must be a positive integer"):
                melora.LoRALinear(base, r=bad)
        for bad in (0, -2, 1.5):
            with self.assertRaisesRegex(ValueError, "^flipout_group"):
                melora.BLoBLinear(base, r=2, flipout_group=bad)
        with self.assertRaisesRegex(ValueError, "^lora_alpha"):
            melora.LoRALinear(base, r=2, lora_alpha=float("inf"))
        with self.assertRaisesRegex(ValueError, "^lora_dropout"):
            melora.LoRALinear(base, r=2, lora_dropout=1.0)
        with self.assertRaisesRegex(ValueError, "^x must be a tensor"):
            melora.LoRALinear(base, r=2)(torch.randn(3, 5))
        with self.assertRaisesRegex(ValueError, "^method"):
            melora.adapt(nn.Sequential(nn.Linear(2, 2)), ["0"], method="lorra")
        for bad in (1.5, "3", None):
            with self.assertRaisesRegex(ValueError, "^seed must be an integer"):
                melora.BLoBLinear(base, r=2, seed=bad)
        for bad in (-1, 1 << 24, 2.0):
            with self.assertRaisesRegex(ValueError, "^draw must be an integer"):
                melora.BLoBLinear(base, r=2).reseed(1, bad)
        mod = melora.MeLoRALinear(base, r=2).reseed(1, (1 << 24) - 1)
        mod(torch.randn(2, 6))  # the last draw of the seed
        with self.assertRaisesRegex(RuntimeError, "would repeat"):
            mod(torch.randn(2, 6))
        with self.assertRaisesRegex(ValueError, "^samples"):
            melora.mc_predict(nn.Sequential(melora.LoRALinear(base, r=2)),
                              torch.randn(2, 6), samples=0)


class TestEmptyBatch(unittest.TestCase):
    def test_T_zero_like_nn_linear(self):
        for method, kw in METHODS:
            torch.manual_seed(0)
            base = nn.Linear(6, 4)
            mod = melora.model.METHODS[method](base, r=2, **kw)
            for shape in ((0, 6), (0, 3, 6), (2, 0, 6)):
                x = torch.randn(*shape, requires_grad=True)
                y = mod(x)
                self.assertEqual(tuple(y.shape), shape[:-1] + (4,))
                (y.sum() + 0.0).backward()
                self.assertEqual(tuple(x.grad.shape), shape)
                for n, p in mod.named_parameters():
                    if p.requires_grad and n in ("lora_A", "lora_B"):
                        self.assertIsNotNone(p.grad, n)
                        self.assertEqual(p.grad.abs().max().item(), 0.0, n)
            mod.eval()
            mod.eval_mode = "mc"
            self.assertEqual(tuple(mod(torch.randn(0, 6)).shape), (mod.mc_samples, 0, 4))
        z = MF.lora_add_(torch.zeros(0, 4), torch.zeros(0, 6), torch.randn(2, 6),
                         torch.randn(4, 2), 1.0)
        self.assertEqual(tuple(z.shape), (0, 4))


class TestThreads(unittest.TestCase):
    def test_per_example_from_two_threads(self):
        """One per-example Me-LoRA module called from two threads with different batch
        sizes: every output equals the single-threaded output for the same input."""
        torch.manual_seed(0)
        mod = melora.MeLoRALinear(nn.Linear(96, 64), r=3, per_example=True, seed=4)
        with torch.no_grad():
            mod.lora_B.normal_()
            mod.lora_H.fill_(0.8)
        mod.auto_resample = False  # every call uses draw 0
        xs = {2: torch.randn(2, 30, 96), 5: torch.randn(5, 30, 96)}
        with torch.no_grad():
            want = {b: mod(x) for b, x in xs.items()}
        wrong = []

        def worker(b):
            for _ in range(150):
                with torch.no_grad():
                    if not torch.equal(mod(xs[b]), want[b]):
                        wrong.append(b)

        threads = [threading.Thread(target=worker, args=(b,)) for b in xs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(wrong, [])

    def test_counter_from_two_threads(self):
        mod = melora.BLoBLinear(nn.Linear(8, 5), r=2)
        x = torch.randn(3, 8)

        def worker():
            for _ in range(200):
                with torch.no_grad():
                    mod(x)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(mod.draw, 400)


def _fork_child(q):
    torch.manual_seed(3)
    x, A, B = torch.randn(300, 64), torch.randn(4, 64), torch.randn(32, 4)
    q.put(MF.lora_add_(torch.zeros(300, 32), x, A, B, 1.0).sum().item())


class TestFork(unittest.TestCase):
    @unittest.skipUnless("fork" in mp.get_all_start_methods(), "no fork on this platform")
    def test_child_after_parallel_parent(self):
        """The parent runs an OpenMP region on two threads, then forks: the child's first
        call must finish (GNU OpenMP's pool does not survive fork) and agree."""
        try:
            gomp = ctypes.CDLL("libgomp.so.1")
        except OSError:
            self.skipTest("no libgomp.so.1")
        gomp.omp_set_num_threads(2)
        try:
            ctx = mp.get_context("fork")
            q = ctx.Queue()
            _fork_child(q)  # in the parent, on two threads
            want = q.get(timeout=10)
            p = ctx.Process(target=_fork_child, args=(q,))
            p.start()
            p.join(60)
            alive = p.is_alive()
            if alive:
                p.kill()
                p.join()
            self.assertFalse(alive, "the forked child hung in its first melora call")
            self.assertEqual(p.exitcode, 0)
            self.assertEqual(q.get(timeout=10), want)
        finally:
            gomp.omp_set_num_threads(1)


class TestCheckpoints(unittest.TestCase):
    def test_state_dict_tensors_only_and_config(self):
        for method, kw in METHODS:
            net = make_net(method, kw, seed=9)
            net(torch.randn(2, 3, 12))  # draw 0 taken
            sd = net.state_dict()
            for k, v in sd.items():
                self.assertIsInstance(v, torch.Tensor, k)
            self.assertIn("blocks.0.q_proj.melora_config", sd)
            self.assertEqual(int(sd["blocks.0.q_proj.melora_draw"]), 1 if method != "lora" else 0)
            # round trip through torch.save into a freshly built net
            buf = io.BytesIO()
            torch.save(sd, buf)
            buf.seek(0)
            other = make_net(method, kw, seed=1)
            other.load_state_dict(torch.load(buf))
            for (_, a), (_, b) in zip(melora.adapters(net), melora.adapters(other)):
                self.assertEqual((a.seed, a.draw), (b.seed, b.draw))
            x = torch.randn(2, 3, 12)
            self.assertTrue(torch.equal(net(x), other(x)))  # the same next draw

    def test_deepcopy_and_pickle(self):
        import copy
        import pickle
        for method, kw in METHODS:
            net = make_net(method, kw)
            x = torch.randn(2, 3, 12)
            net(x)
            for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
                self.assertTrue(torch.equal(net(x), other(x)), method)  # the same draw
                melora.reseed(net, 5, 1)
                melora.reseed(other, 5, 1)

    def test_safetensors_file(self):
        try:
            from safetensors.torch import load_file, save_file
        except ImportError:
            self.skipTest("safetensors is not installed (make python-test installs it)")
        net = make_net("melora", {"per_example": True})
        melora.reseed(net, 2 ** 64 - 5, 7)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            save_file(net.state_dict(), path)
            other = make_net("melora", {"per_example": True})
            other.load_state_dict(load_file(path))
        self.assertEqual([m.seed for _, m in melora.adapters(other)],
                         [m.seed for _, m in melora.adapters(net)])
        self.assertEqual(melora.adapters(other)[0][1].seed, 2 ** 64 - 5)
        x = torch.randn(2, 3, 12)
        self.assertTrue(torch.equal(net(x), other(x)))

    def test_mismatched_configuration_refused(self):
        torch.manual_seed(0)
        a = melora.adapt(Net(), ["q_proj"], method="lora", r=4, lora_alpha=16)
        for kw, field in (({"method": "lora", "r": 4, "lora_alpha": 32}, "lora_alpha"),
                          ({"method": "blob", "r": 4, "lora_alpha": 16}, "method")):
            torch.manual_seed(0)
            b = melora.adapt(Net(), ["q_proj"], **kw)
            with self.assertRaisesRegex(RuntimeError, field):
                b.load_state_dict(a.state_dict(), strict=False)
        x = melora.adapt(Net(), ["q_proj"], method="blob", r=2, flipout_group=1)
        y = melora.adapt(Net(), ["q_proj"], method="blob", r=2, flipout_group=4)
        with self.assertRaisesRegex(RuntimeError, "flipout_group: checkpoint 1, module 4"):
            y.load_state_dict(x.state_dict())
        sd = x.state_dict()
        del sd["blocks.0.q_proj.melora_config"]
        with self.assertRaisesRegex(RuntimeError, "melora_config"):
            x.load_state_dict(sd)


class TestPEFTFiles(unittest.TestCase):
    """The PEFT adapter files without PEFT itself (test_hf.py checks them against PEFT)."""

    def test_round_trip_and_refusals(self):
        import json
        for method, kw in METHODS:
            net = make_net(method, kw)
            net.eval()
            x = torch.randn(2, 5, 12)
            with torch.no_grad():
                want = net(x)
            with tempfile.TemporaryDirectory() as d:
                cfg = melora.save_peft_adapter(net, d)
                self.assertEqual(cfg["target_modules"], [n for n, _ in melora.adapters(net)])
                self.assertEqual((cfg["r"], cfg["lora_alpha"]), (3, 5))
                torch.manual_seed(0)
                back = melora.load_peft_adapter(Net(), d, method="lora").eval()
                with torch.no_grad():
                    self.assertTrue(torch.allclose(back(x), want, atol=1e-5), method)
                path = os.path.join(d, "adapter_config.json")
                for key, value in (("use_dora", True), ("peft_type", "IA3"),
                                   ("use_rslora", True), ("rank_pattern", {"q_proj": 2})):
                    bad = dict(cfg, **{key: value})
                    with open(path, "w") as f:
                        json.dump(bad, f)
                    with self.assertRaisesRegex(ValueError, key if key != "peft_type" else "LoRA"):
                        melora.load_peft_adapter(Net(), d)
                with open(path, "w") as f:
                    json.dump(dict(cfg, r=4), f)
                fresh = Net()
                with self.assertRaisesRegex(ValueError, "lora_A has shape"):
                    melora.load_peft_adapter(fresh, d)
                self.assertEqual(melora.adapters(fresh), [])  # left as it was
        mixed = melora.adapt(Net(), ["q_proj"], r=2)
        melora.adapt(mixed, ["v_proj"], r=3)
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(ValueError, "share r and lora_alpha"):
                melora.save_peft_adapter(mixed, d)


class TestDtypes(unittest.TestCase):
    def test_bf16_model_trains(self):
        """model.to(torch.bfloat16): no cast by the user; parameters become bf16 and the
        loss falls."""
        for method, kw in METHODS:
            net = make_net(method, kw).to(torch.bfloat16)
            x = torch.randn(16, 5, 12).to(torch.bfloat16)
            y = torch.arange(16) % 3
            opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=3e-2)

            def mean_loss():  # eval mode: the mean adapters, no noise
                net.eval()
                with torch.no_grad():
                    out = F.cross_entropy(net(x).float(), y).item()
                net.train()
                return out

            start = mean_loss()
            for _ in range(40):
                opt.zero_grad()
                loss = F.cross_entropy(net(x).float(), y) + 1e-3 * melora.kl(net)
                loss.backward()
                opt.step()
            for _, m in melora.adapters(net):
                self.assertEqual(m.lora_A.dtype, torch.bfloat16)
                self.assertEqual(m.lora_A.grad.dtype, torch.bfloat16)
            end = mean_loss()
            self.assertLess(end, 0.8 * start, "%s %s: %.3f -> %.3f" % (method, kw, start, end))

    def test_bf16_forward_matches_float32(self):
        """The adapter of a bf16 layer: the float32 math on the bf16 values."""
        torch.manual_seed(0)
        base = nn.Linear(8, 6)
        mod = melora.LoRALinear(base, r=2, lora_alpha=4)
        nn.init.normal_(mod.lora_B)
        mod = mod.to(torch.bfloat16)
        x = torch.randn(5, 8).to(torch.bfloat16)
        y = mod(x)
        self.assertEqual(y.dtype, torch.bfloat16)
        want = (F.linear(x, base.weight, base.bias).float()
                + ref.lora(x.float(), mod.lora_A.float(), mod.lora_B.float(), 2.0))
        self.assertTrue(torch.allclose(y.float(), want.to(torch.bfloat16).float(),
                                       rtol=1e-2, atol=1e-2))


class Output:
    def __init__(self, logits):
        self.logits = logits


class Wrapped(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return Output(self.inner(x))


class TestMCPredict(unittest.TestCase):
    def test_outputs_with_logits(self):
        net = make_net("melora", {})
        model = Wrapped(net)
        x = torch.randn(3, 5, 12)
        p = melora.mc_predict(model, x, samples=4)
        melora.reseed(net, 5)
        want = melora.mc_predict(net, x, samples=4)
        self.assertTrue(torch.allclose(p, want))
        self.assertTrue(torch.allclose(p.sum(-1), torch.ones(3)))
        with self.assertRaisesRegex(TypeError, "fn="):
            melora.mc_predict(_TupleModel(net), x)
        p = melora.mc_predict(_TupleModel(net), x, samples=2,
                              fn=lambda out: torch.softmax(out[0], -1))
        self.assertEqual(tuple(p.shape), (3, 3))


class _TupleModel(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return (self.inner(x),)


class TestMergeAndDisable(unittest.TestCase):
    def test_merge_equals_mean_forward(self):
        for method, kw in METHODS:
            net = make_net(method, kw)
            net.eval()
            x = torch.randn(3, 5, 12)
            with torch.no_grad():
                mean = net(x)
                with melora.disable_adapters(net):
                    base = net(x)
                melora.merge(net)
                merged = net(x)
                melora.unmerge(net)
                back = net(x)
            self.assertGreater((mean - base).abs().max().item(), 1e-3)
            self.assertTrue(torch.allclose(merged, mean, atol=1e-5), method)
            self.assertTrue(torch.allclose(back, mean, atol=1e-5), method)
            net.train()
            melora.merge(net)
            with self.assertRaisesRegex(RuntimeError, "unmerge"):
                net(x)
            with torch.no_grad():
                net(x)  # inference is fine
            melora.unmerge(net)
            net.eval()
            plain = melora.merge_and_unload(net)
            self.assertEqual(melora.adapters(plain), [])
            with torch.no_grad():
                self.assertTrue(torch.allclose(plain(x), mean, atol=1e-5), method)


if __name__ == "__main__":
    unittest.main()
