"""The ctypes binding itself: _api.py (generated from melora.h) declares every function
libmelora.so exports, and the library's own errors reach Python by name."""
import ctypes
import shutil
import subprocess
import unittest

import torch

import melora
from melora import _api, _lib


def exported_functions(path):
    """The melora_* functions the shared library defines, from its dynamic symbol table."""
    out = subprocess.run(["nm", "-D", "--defined-only", path], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "Tt" and parts[2].startswith("melora_"):
            names.add(parts[2])
    return names


class TestSignatures(unittest.TestCase):
    @unittest.skipIf(shutil.which("nm") is None, "nm (binutils) is not installed")
    def test_every_export_is_declared(self):
        exported = exported_functions(_lib.path)
        self.assertGreater(len(exported), 30, "nm found too few functions in %s" % _lib.path)
        self.assertEqual(sorted(exported - set(_api.SIGNATURES)), [],
                         "functions of libmelora.so without a binding in _api.SIGNATURES")
        self.assertEqual(sorted(set(_api.SIGNATURES) - exported), [],
                         "_api.SIGNATURES names functions libmelora.so does not export")

    def test_argument_names_match(self):
        self.assertEqual(list(_api.ARGNAMES), list(_api.SIGNATURES))
        for name, (_, argtypes) in _api.SIGNATURES.items():
            self.assertEqual(len(_api.ARGNAMES[name]), len(argtypes), name)
            self.assertEqual(tuple(getattr(_lib.lib, name).argtypes), tuple(argtypes), name)

    def test_status_names_cover_the_codes(self):
        unknown = _lib._status_string(1)  # no status is positive
        for code, name in _api.STATUS_NAMES.items():
            self.assertEqual(getattr(_api, name[len("MELORA_"):]), code)
            self.assertNotEqual(_lib._status_string(code), unknown, name)


class TestWorkspace(unittest.TestCase):
    def workspace(self, op, d):
        size = ctypes.c_size_t(0)
        _lib.call("melora_workspace_size", ctypes.byref(size), op, d)
        self.assertGreater(size.value, 0)
        buf = torch.zeros(size.value + 64, dtype=torch.uint8)
        return buf, size.value

    def test_short_workspace_named(self):
        T, n, m, r = 5, 7, 6, 4
        g = torch.Generator().manual_seed(3)
        x, A, B = (torch.randn(*s, generator=g) for s in ((T, n), (r, n), (m, r)))
        d = _api.melora_dims(T, n, m, r)
        sv = _api.melora_lora_saved(x=_lib.ptr(x))
        p = _api.melora_lora_params(A=_lib.ptr(A), B=_lib.ptr(B), s=0.5)
        buf, size = self.workspace(_api.OP_LORA_FORWARD, d)
        z, u = torch.zeros(T, m), torch.zeros(T, r)
        sv.u = _lib.ptr(u)
        short = _api.melora_work(buf.data_ptr(), size - 1)
        with self.assertRaises(melora.MeloraError) as cm:
            _lib.call("melora_lora_forward", _lib.ptr(z), ctypes.byref(sv), short,
                      ctypes.byref(p), d)
        self.assertEqual(cm.exception.status, _api.ERR_WORKSPACE)
        self.assertEqual(cm.exception.name, "MELORA_ERR_WORKSPACE")
        self.assertIn("melora_lora_forward", str(cm.exception))
        self.assertIn("workspace", str(cm.exception))
        self.assertFalse(z.any() or u.any() or buf.any(), "a refused call wrote")
        # one byte more is enough: the size is what the check is about
        _lib.call("melora_lora_forward", _lib.ptr(z), ctypes.byref(sv),
                  _api.melora_work(buf.data_ptr(), size), ctypes.byref(p), d)
        self.assertTrue(torch.allclose(z, 0.5 * (x @ A.t()) @ B.t(), rtol=1e-5, atol=1e-6))

    def test_short_workspace_backward(self):
        T, n, m, r = 6, 5, 4, 3
        g = torch.Generator().manual_seed(4)
        x, dz, A, B = (torch.randn(*s, generator=g) for s in ((T, n), (T, m), (r, n), (m, r)))
        u = x @ A.t()
        d = _api.melora_dims(T, n, m, r)
        buf, size = self.workspace(_api.OP_LORA_BACKWARD, d)
        dx, dA, dB = torch.zeros(T, n), torch.zeros(r, n), torch.zeros(m, r)
        args = (ctypes.byref(_api.melora_lora_grads(_lib.ptr(dA), _lib.ptr(dB))),
                ctypes.byref(_api.melora_lora_saved(_lib.ptr(x), _lib.ptr(u))))
        tail = (_lib.ptr(dz), ctypes.byref(_api.melora_lora_params(_lib.ptr(A), _lib.ptr(B),
                                                                   1.0)), d)
        with self.assertRaises(melora.MeloraError) as cm:
            _lib.call("melora_lora_backward", _lib.ptr(dx), *args,
                      _api.melora_work(buf.data_ptr(), size - 1), *tail)
        self.assertEqual(cm.exception.name, "MELORA_ERR_WORKSPACE")
        self.assertFalse(dx.any() or dA.any() or dB.any() or buf.any(), "a refused call wrote")
        _lib.call("melora_lora_backward", _lib.ptr(dx), *args,
                  _api.melora_work(buf.data_ptr(), size), *tail)
        self.assertTrue(torch.allclose(dB, dz.t() @ u, rtol=1e-5, atol=1e-5))

    def test_bridge_workspace_is_large_enough(self):
        for op in range(_api.OP_COUNT_):
            for dims in ((1, 1, 1, 1), (40, 8, 6, 3), (70, 33, 17, 16)):
                d = _api.melora_dims(*dims)
                size = ctypes.c_size_t(0)
                _lib.call("melora_workspace_size", ctypes.byref(size), op, d)
                w = _lib.workspace(op, d)
                self.assertGreaterEqual(w.bytes, size.value, (op, dims))
                self.assertEqual(w.base % 8, 0)


class TestDraws(unittest.TestCase):
    def test_out_of_range_draws_refused(self):
        # ctypes would pass 2^64 + 3 as 3 and -1 as 2^64 - 1: neither may reach C as a draw
        for bad in (-1, 1 << 24, (1 << 64) + 3):
            with self.assertRaises(melora.MeloraError) as cm:
                _lib.draw_offset(bad)
            self.assertEqual(cm.exception.status, _api.ERR_VALUE, bad)
            with self.assertRaises(melora.MeloraError):
                _lib.blob_noise(1, bad, 2, 3)
            with self.assertRaises(melora.MeloraError):
                _lib.melora_noise(1, bad, 1, 2)
            with self.assertRaises(melora.MeloraError):
                _lib.flipout_noise(1, bad, 1, _lib.dims(2, 3, 2, 2))

    def test_draw_noise_shapes_and_repeatability(self):
        # where a draw lies is the library's (test_rng checks it); here: shapes, repeats
        a, b = _lib.blob_noise(9, 0, 3, 5), _lib.blob_noise(9, 1, 3, 5)
        self.assertFalse(torch.equal(a, b))
        self.assertTrue(torch.equal(a, _lib.blob_noise(9, 0, 3, 5)))
        EA, sa, sb = _lib.flipout_noise(9, 0, 2, _lib.dims(5, 5, 4, 3))
        self.assertTrue(torch.equal(EA, a))
        self.assertEqual((tuple(sa.shape), tuple(sb.shape)), ((3, 5), (3, 3)))
        self.assertEqual(set(sa.unique().tolist()) | set(sb.unique().tolist()), {-1.0, 1.0})
        EA0, sa0, sb0 = _lib.flipout_noise(9, 0, 2, _lib.dims(0, 5, 4, 3))
        self.assertTrue(torch.equal(EA0, a))
        self.assertEqual((sa0.numel(), sb0.numel()), (0, 0))


if __name__ == "__main__":
    unittest.main()
