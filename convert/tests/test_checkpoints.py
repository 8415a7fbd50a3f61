"""Checkpoint reading: safetensors by hand (fp32/fp16/bf16/int, sharded with an index), .pt wrappers,
and the errors a wrong file or key gives.

Run: /usr/bin/python3 -m unittest discover -s convert/tests  (from the repository root)
"""
import json
import struct
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kinema_convert import checkpoints as ck  # noqa: E402
from kinema_convert.checkpoints import CheckpointError  # noqa: E402


def sample_tensors(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "a.weight": torch.randn(3, 5, generator=g),
        "b.bias": torch.randn(7, generator=g) * 100,
        "c.scalar": torch.tensor(2.5),
        "d.ids": torch.arange(-3, 9, dtype=torch.int64).reshape(3, 4),
        "e.flag": torch.tensor([True, False, True]),
        "f.empty": torch.zeros(0, 4),
    }


class Tmp(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self._tmp.name)

    def tearDown(self):
        self._tmp.cleanup()


class SafetensorsFormat(Tmp):
    def test_reads_a_file_built_byte_by_byte_from_the_format(self):
        # independent of our writer: header length, JSON header, raw little-endian data
        f16 = np.array([1.5, -2.0, 65504.0], dtype="<f2").tobytes()
        bf16 = struct.pack("<2H", 0x3F80, 0xC0A0)  # bf16 1.0 and -5.0
        i64 = struct.pack("<2q", -7, 1 << 40)
        header = {"__metadata__": {"format": "pt"},
                  "h": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]},
                  "b": {"dtype": "BF16", "shape": [2, 1], "data_offsets": [6, 10]},
                  "i": {"dtype": "I64", "shape": [2], "data_offsets": [10, 26]}}
        raw = json.dumps(header).encode()
        path = self.dir / "hand.safetensors"
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + f16 + bf16 + i64)
        t = ck.read_safetensors(path)
        self.assertEqual(t["h"].dtype, torch.float16)
        self.assertEqual(t["h"].tolist(), [1.5, -2.0, 65504.0])
        self.assertEqual(t["b"].dtype, torch.float32)
        self.assertEqual(t["b"].tolist(), [[1.0], [-5.0]])
        self.assertEqual(t["i"].tolist(), [-7, 1 << 40])
        self.assertEqual(ck.SafetensorsFile(path).metadata, {"format": "pt"})

    def test_round_trip_keeps_values_and_dtypes(self):
        src = sample_tensors()
        ck.write_safetensors(self.dir / "m.safetensors", src)
        back = ck.read_safetensors(self.dir / "m.safetensors")
        self.assertEqual(sorted(back), sorted(src))
        for k, v in src.items():
            self.assertEqual(back[k].dtype, v.dtype, k)
            self.assertTrue(torch.equal(back[k], v), k)
        # the data section starts 8-byte aligned, as the reference writer does
        (n,) = struct.unpack("<Q", (self.dir / "m.safetensors").read_bytes()[:8])
        self.assertEqual(n % 8, 0)

    def test_fp16_round_trip_is_the_fp16_cast(self):
        src = sample_tensors()
        ck.write_safetensors(self.dir / "h.safetensors", src, dtype="fp16")
        back = ck.read_safetensors(self.dir / "h.safetensors")
        self.assertEqual(back["a.weight"].dtype, torch.float16)
        self.assertTrue(torch.equal(back["a.weight"], src["a.weight"].half()))
        self.assertEqual(back["d.ids"].dtype, torch.int64)  # integers are not recast

    def test_bf16_is_widened_to_fp32_exactly(self):
        src = sample_tensors()
        ck.write_safetensors(self.dir / "b.safetensors", src, dtype="bf16")
        back = ck.read_safetensors(self.dir / "b.safetensors")
        self.assertEqual(back["b.bias"].dtype, torch.float32)
        for k in ("a.weight", "b.bias", "c.scalar"):
            self.assertTrue(torch.equal(back[k], src[k].to(torch.bfloat16).float()), k)
        self.assertFalse(torch.equal(back["a.weight"], src["a.weight"]))  # it really went through bf16

    def test_torch_bfloat16_tensors_are_stored_as_bf16(self):
        t = torch.randn(4, 4).to(torch.bfloat16)
        ck.write_safetensors(self.dir / "t.safetensors", {"x": t})
        f = ck.SafetensorsFile(self.dir / "t.safetensors")
        self.assertEqual(f.entries["x"]["dtype"], "BF16")
        self.assertTrue(torch.equal(f.tensor("x"), t.float()))


class Sharded(Tmp):
    def test_index_folder_round_trip(self):
        src = sample_tensors(1)
        paths = ck.write_sharded(self.dir, src, 3, dtype="bf16")
        self.assertEqual([p.name for p in paths], [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)])
        index = json.loads((self.dir / "model.safetensors.index.json").read_text())
        self.assertEqual(sorted(index["weight_map"]), sorted(src))
        back = ck.read_checkpoint(self.dir)
        self.assertEqual(sorted(back), sorted(src))
        self.assertTrue(torch.equal(back["a.weight"], src["a.weight"].to(torch.bfloat16).float()))
        self.assertTrue(torch.equal(back["d.ids"], src["d.ids"]))
        # the index file itself may be given too
        self.assertEqual(sorted(ck.read_checkpoint(self.dir / "model.safetensors.index.json")), sorted(src))

    def test_shards_without_index_are_merged(self):
        src = sample_tensors(2)
        ck.write_safetensors(self.dir / "part1.safetensors", {k: src[k] for k in list(src)[:3]})
        ck.write_safetensors(self.dir / "part2.safetensors", {k: src[k] for k in list(src)[3:]})
        self.assertEqual(sorted(ck.read_checkpoint(self.dir)), sorted(src))

    def test_a_key_in_two_shards_is_an_error(self):
        ck.write_safetensors(self.dir / "p1.safetensors", {"x": torch.ones(2)})
        ck.write_safetensors(self.dir / "p2.safetensors", {"x": torch.ones(2)})
        with self.assertRaisesRegex(CheckpointError, r"'x' is in both p1.safetensors and p2.safetensors"):
            ck.read_checkpoint(self.dir)

    def test_index_naming_a_tensor_its_shard_lacks(self):
        ck.write_sharded(self.dir, sample_tensors(), 2)
        index_path = self.dir / "model.safetensors.index.json"
        index = json.loads(index_path.read_text())
        index["weight_map"]["ghost.weight"] = "model-00001-of-00002.safetensors"
        index_path.write_text(json.dumps(index))
        with self.assertRaisesRegex(CheckpointError, r"'ghost.weight' is mapped to model-00001-of-00002"):
            ck.read_checkpoint(self.dir)

    def test_shard_holding_a_tensor_the_index_omits(self):
        ck.write_sharded(self.dir, sample_tensors(), 2)
        index_path = self.dir / "model.safetensors.index.json"
        index = json.loads(index_path.read_text())
        dropped = sorted(index["weight_map"])[0]
        del index["weight_map"][dropped]
        index_path.write_text(json.dumps(index))
        with self.assertRaisesRegex(CheckpointError, f"'{dropped}' is not in the index"):
            ck.read_checkpoint(self.dir)


class BadFiles(Tmp):
    def test_truncated_file_names_file_and_tensor(self):
        ck.write_safetensors(self.dir / "m.safetensors", {"big": torch.ones(100), "small": torch.ones(1)})
        raw = (self.dir / "m.safetensors").read_bytes()
        (self.dir / "cut.safetensors").write_bytes(raw[:-20])
        with self.assertRaisesRegex(CheckpointError, r"cut.safetensors: tensor '(big|small)'.*truncated"):
            ck.read_safetensors(self.dir / "cut.safetensors")

    def test_not_safetensors(self):
        (self.dir / "x.safetensors").write_bytes(b"\xff" * 64)
        with self.assertRaisesRegex(CheckpointError, r"x.safetensors: header length"):
            ck.read_safetensors(self.dir / "x.safetensors")
        (self.dir / "y.safetensors").write_bytes(b"abc")
        with self.assertRaisesRegex(CheckpointError, r"too short"):
            ck.read_safetensors(self.dir / "y.safetensors")

    def test_unsupported_dtype_names_the_tensor(self):
        raw = json.dumps({"q": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}).encode()
        (self.dir / "f8.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0\0")
        with self.assertRaisesRegex(CheckpointError, r"tensor 'q': dtype F8_E4M3 is not supported"):
            ck.read_safetensors(self.dir / "f8.safetensors")

    def test_missing_paths(self):
        with self.assertRaisesRegex(CheckpointError, "no such file or folder"):
            ck.read_checkpoint(self.dir / "nope")
        with self.assertRaisesRegex(CheckpointError, "no \\*.safetensors"):
            ck.read_checkpoint(self.dir)
        with self.assertRaisesRegex(CheckpointError, "no config.json"):
            ck.read_config(self.dir)


class TorchFiles(Tmp):
    def test_wrappers_and_module_prefix_are_removed(self):
        src = {"module.layer.weight": torch.ones(2, 2), "module.layer.bias": torch.zeros(2)}
        torch.save({"state_dict": src}, self.dir / "a.pt")
        torch.save({"model": {"net.x": torch.ones(1)}}, self.dir / "b.pth")
        self.assertEqual(sorted(ck.read_checkpoint(self.dir / "a.pt")), ["layer.bias", "layer.weight"])
        self.assertEqual(list(ck.read_checkpoint(self.dir / "b.pth")), ["net.x"])

    def test_pickled_objects_need_trust(self):
        torch.save({"state_dict": {"w": torch.ones(1)}, "config": {1, 2}}, self.dir / "c.pt")  # a set: not weights-only
        with self.assertRaisesRegex(CheckpointError, r"c.pt: torch.load failed.*--trust-pickle"):
            ck.read_checkpoint(self.dir / "c.pt")
        self.assertEqual(list(ck.read_checkpoint(self.dir / "c.pt", trust_pickle=True)), ["w"])

    def test_not_a_state_dict(self):
        torch.save({"epoch": 3, "things": [1, 2]}, self.dir / "d.pt")
        with self.assertRaisesRegex(CheckpointError, r"d.pt: not a state dict"):
            ck.read_checkpoint(self.dir / "d.pt", trust_pickle=True)


class StrictLoad(unittest.TestCase):
    def module(self):
        return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))

    def good(self):
        return {k: torch.randn(v.shape) for k, v in self.module().state_dict().items()}

    def test_loads_and_casts_to_fp32(self):
        m, t = self.module(), self.good()
        t["0.weight"] = t["0.weight"].half()
        ck.strict_load(m, t)
        self.assertTrue(torch.equal(m[0].weight, t["0.weight"].float()))

    def test_missing_key(self):
        t = self.good()
        del t["1.bias"]
        with self.assertRaisesRegex(ValueError, r"lacks tensor '1.bias'"):
            ck.strict_load(self.module(), t)

    def test_unexpected_key(self):
        t = self.good()
        t["2.weight"] = torch.ones(1)
        with self.assertRaisesRegex(ValueError, r"unexpected checkpoint tensor '2.weight'"):
            ck.strict_load(self.module(), t)

    def test_wrong_shape(self):
        t = self.good()
        t["0.weight"] = torch.ones(4, 5)
        with self.assertRaisesRegex(ValueError, r"'0.weight' has shape \[4, 5\]; the config needs \[4, 3\]"):
            ck.strict_load(self.module(), t)


if __name__ == "__main__":
    unittest.main()
