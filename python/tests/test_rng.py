"""The modules' noise is melora's counter RNG: checked against a pure-Python Philox4x32-10
(itself checked on Random123's known-answer vectors), so a C program with the same seed
and draw index uses the same samples."""
import math
import unittest

import torch
import torch.nn as nn

import melora
from melora import _lib
import reference as ref


class TestPhilox(unittest.TestCase):
    def test_known_answers(self):
        self.assertEqual(ref.philox4x32_10([0, 0, 0, 0], [0, 0]),
                         [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8])
        self.assertEqual(ref.philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                                           [0xa4093822, 0x299f31d0]),
                         [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1])

    def test_library_streams(self):
        seed, off = 0x123456789ABCDEF0, (5 << 40) - 3  # crosses blocks, 64-bit seed
        nrm = _lib.noise("normal", seed, off, (11,))
        uni = _lib.noise("uniform", seed, off, (11,))
        sgn = _lib.noise("sign", seed, off, (300,))
        for i in range(11):
            self.assertAlmostEqual(nrm[i].item(), ref.rng_normal(seed, off + i), places=5)
            self.assertEqual(uni[i].item(), ref.rng_uniform(seed, off + i))
        self.assertEqual(sgn.tolist(), [ref.rng_sign(seed, off + i) for i in range(300)])


class TestModuleNoise(unittest.TestCase):
    def test_blob_draws(self):
        mod = melora.BLoBLinear(nn.Linear(6, 4), r=2, seed=2024, flipout=True, flipout_group=2)
        T, n, r = 5, 6, 2
        for d in (0, 3):
            nz = mod.noise(T, draw=d)
            base = d << 40
            EA = [ref.rng_normal(2024, base + i) for i in range(r * n)]
            self.assertTrue(torch.allclose(nz["EA"].flatten(), torch.tensor(EA), atol=1e-5))
            ng = 3  # ceil(5 / 2)
            sa = [ref.rng_sign(2024, base + i) for i in range(ng * n)]
            sb = [ref.rng_sign(2024, base + ng * n + i) for i in range(ng * r)]
            self.assertEqual(nz["sa"].flatten().tolist(), sa)
            self.assertEqual(nz["sb"].flatten().tolist(), sb)

    def test_melora_draws(self):
        mod = melora.MeLoRALinear(nn.Linear(6, 4), r=3, seed=7)
        EC = mod.noise(E=2, draw=4)["EC"]
        want = [ref.rng_normal(7, (4 << 40) + i) for i in range(2 * 9)]
        self.assertTrue(torch.allclose(EC.flatten(), torch.tensor(want), atol=1e-5))

    def test_counter_and_reproducibility(self):
        x = torch.randn(4, 6)
        for cls in (melora.BLoBLinear, melora.MeLoRALinear):
            torch.manual_seed(0)
            a = cls(nn.Linear(6, 4), r=2, seed=99)
            torch.manual_seed(0)
            b = cls(nn.Linear(6, 4), r=2, seed=99)
            with torch.no_grad():
                a.lora_B.normal_()
                b.lora_B.copy_(a.lora_B)
            ya0, ya1 = a(x), a(x)  # draws 0 and 1
            self.assertFalse(torch.equal(ya0, ya1))
            self.assertTrue(torch.equal(b(x), ya0))
            b.reseed(99, 1)
            self.assertTrue(torch.equal(b(x), ya1))
            b.reseed(100)
            self.assertFalse(torch.equal(b(x), ya0))
            # no auto-advance: the same noise until resample()
            a.reseed(99)
            a.auto_resample = False
            self.assertTrue(torch.equal(a(x), ya0))
            self.assertTrue(torch.equal(a(x), ya0))
            a.resample()
            self.assertTrue(torch.equal(a(x), ya1))
            # the counter travels with the state_dict
            a.reseed(99, 1)
            sd = a.state_dict()
            b.reseed(5, 17)
            b.load_state_dict(sd)
            self.assertEqual((b.seed, b.draw), (99, 1))
            self.assertTrue(torch.equal(b(x), ya1))

    def test_sample_statistics(self):
        """Drawn C has mean M and std Omega = H*H (4 sigma bounds over 4000 draws)."""
        mod = melora.MeLoRALinear(nn.Linear(3, 3), r=2, seed=1, eps0=0.5)
        Kd = 4000
        EC = torch.stack([mod.noise(draw=d)["EC"][0] for d in range(Kd)])
        C = mod.lora_M.detach() + (mod.lora_H.detach() ** 2) * EC
        om = mod.lora_H.detach() ** 2
        mean_err = (C.mean(0) - mod.lora_M.detach()).abs() / (om / math.sqrt(Kd))
        self.assertLess(mean_err.max().item(), 4.0)
        self.assertLess(((C.std(0) / om) - 1).abs().max().item(), 4 * math.sqrt(0.5 / Kd))


if __name__ == "__main__":
    unittest.main()
