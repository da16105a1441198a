"""DistributedDataParallel with two CPU processes (gloo on 127.0.0.1): each rank draws its
own noise (seed + rank * RANK_MIX), the averaged gradient equals the average of the two
ranks' gradients computed here in one process with those seeds, the ranks' parameters
stay identical, and the draw counters stay in step (DDP broadcasts them as buffers) even
after one rank alone ran an extra mc_predict."""
import multiprocessing as mp
import os
import socket
import tempfile
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

import melora
from melora.layers import RANK_MIX

CASES = [("lora", {}), ("blob", {"flipout": False}), ("blob", {"flipout": True}),
         ("melora", {"per_example": True})]
MASK = (1 << 64) - 1


def build(method, kw):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 3))
    melora.adapt(net, ["0", "2"], method=method, r=3, lora_alpha=6, seed=11, **kw)
    with torch.no_grad():
        for _, m in melora.adapters(net):
            m.lora_B.normal_(0, 0.5)
            if hasattr(m, "lora_A_rho"):
                m.lora_A_rho.fill_(0.5)
            if hasattr(m, "lora_H"):
                m.lora_H.fill_(0.5)
    return net


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 12, generator=g), torch.randint(0, 3, (8,), generator=g)


def loss_of(net, x, y):
    return F.cross_entropy(net(x), y) + 0.01 * melora.kl(net)


def trainable(net):
    return {n: p for n, p in net.named_parameters() if p.requires_grad}


def worker(rank, port, out):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=2)
    x, y = data()
    xr, yr = x[4 * rank:4 * rank + 4], y[4 * rank:4 * rank + 4]
    results = {}
    for method, kw in CASES:
        net = build(method, kw)
        ddp = DDP(net)
        opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
        res = {"noise_seeds": [m.noise_seed() for _, m in melora.adapters(net)]}
        for step in range(3):
            opt.zero_grad()
            loss_of(ddp, xr, yr).backward()
            if step == 0:
                res["grads"] = {n: p.grad.clone() for n, p in trainable(net).items()}
            opt.step()
        if rank == 0:  # one rank alone draws 5 more times
            melora.mc_predict(net, xr, samples=5)
        opt.zero_grad()
        loss_of(ddp, xr, yr).backward()
        opt.step()
        res["draws"] = [m.draw for _, m in melora.adapters(net)]
        res["params"] = {n: p.detach().clone() for n, p in trainable(net).items()}
        results[method + str(kw)] = res
    same = build("blob", {"flipout": False, "rank_noise": False})
    results["rank_noise=False"] = {"noise_seeds": [m.noise_seed()
                                                   for _, m in melora.adapters(same)]}
    torch.save(results, os.path.join(out, "rank%d.pt" % rank))
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(torch.distributed.is_available(), "torch.distributed is not available")
class TestDDP(unittest.TestCase):
    def test_two_ranks(self):
        ctx = mp.get_context("spawn")
        with tempfile.TemporaryDirectory() as out:
            port = free_port()
            procs = [ctx.Process(target=worker, args=(r, port, out)) for r in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(240)
            hung = [p for p in procs if p.is_alive()]
            for p in hung:
                p.kill()
            self.assertFalse(hung, "a DDP rank did not finish")
            self.assertEqual([p.exitcode for p in procs], [0, 0])
            r0, r1 = (torch.load(os.path.join(out, "rank%d.pt" % r)) for r in range(2))
        x, y = data()
        # rank_noise=False: every rank draws with the module's own seed
        same = r0["rank_noise=False"]["noise_seeds"]
        self.assertEqual(same, r1["rank_noise=False"]["noise_seeds"])
        self.assertEqual(same,
                         [m.seed for _, m in melora.adapters(build("blob", {"flipout": False}))])
        for method, kw in CASES:
            key = method + str(kw)
            a, b = r0[key], r1[key]
            label = key
            # rank k draws with seed + k * RANK_MIX
            self.assertEqual(b["noise_seeds"], [(s + RANK_MIX) & MASK for s in a["noise_seeds"]])
            # the DDP gradient of step 0: the mean of each rank's gradient, computed here
            # in one process with that rank's seeds and half of the batch
            want = None
            for rank in range(2):
                net = build(method, kw)
                for (_, m), s in zip(melora.adapters(net), (a, b)[rank]["noise_seeds"]):
                    m.reseed(s)
                net.zero_grad()
                loss_of(net, x[4 * rank:4 * rank + 4], y[4 * rank:4 * rank + 4]).backward()
                g = {n: p.grad / 2 for n, p in trainable(net).items()}
                want = g if want is None else {n: want[n] + g[n] for n in g}
            for n in want:
                self.assertTrue(torch.allclose(a["grads"][n], want[n], rtol=1e-5, atol=1e-6),
                                "%s d%s" % (label, n))
                self.assertTrue(torch.equal(a["grads"][n], b["grads"][n]), label)
            for n in a["params"]:
                self.assertTrue(torch.equal(a["params"][n], b["params"][n]), "%s %s" % (label, n))
            sampled = 0 if method == "lora" else 1
            self.assertEqual(a["draws"], b["draws"], label)
            self.assertEqual(a["draws"], [sampled * (3 + 5 + 1)] * 2, label)


if __name__ == "__main__":
    unittest.main()
