"""random_init: tiny stand-in configs are written and read back through the converter's strict loaders;
the real size is checked from the headers the dry run plans (names, shapes, parameter counts)."""
import json
import math
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kinema_convert import checkpoints, random_init, taehv, testing, umt5  # noqa: E402
from kinema_convert import wan_transformer as wt  # noqa: E402


def tiny_configs():
    return {"text_encoder": umt5.default_config("tiny"), "transformer": wt.default_config("tiny"),
            "decoder": taehv.default_config("tiny")}


class TinyWrite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        # a small shard cap so every component is really split over several files with an index
        cls.paths = random_init.write_random("wan2.1-t2v-1.3b", cls.tmp.name, seed=3, configs=tiny_configs(),
                                             max_shard_bytes=20_000)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_sharded_with_index(self):
        for comp, prefix in (("text_encoder", "model"), ("transformer", "diffusion_pytorch_model")):
            folder = self.paths[comp]
            shards = sorted(folder.glob(f"{prefix}-*-of-*.safetensors"))
            self.assertGreater(len(shards), 1, comp)
            index = json.loads((folder / f"{prefix}.safetensors.index.json").read_text())
            self.assertEqual(set(index["weight_map"].values()), {p.name for p in shards})
            total = sum(e["end"] - e["begin"] for p in shards for e in checkpoints.SafetensorsFile(p).entries.values())
            self.assertEqual(index["metadata"]["total_size"], total)
            for p in shards:
                self.assertTrue(all(e["dtype"] == "BF16" for e in checkpoints.SafetensorsFile(p).entries.values()))

    def test_strict_loaders_accept_the_text_encoder(self):
        config = checkpoints.read_config(self.paths["text_encoder"])
        tensors = checkpoints.read_checkpoint(self.paths["text_encoder"])
        module = umt5.build(config)
        umt5.load_weights(module, tensors)  # raises on a missing, extra or misshapen tensor
        ref = umt5.random_checkpoint(config, 0)
        self.assertEqual({k: tuple(v.shape) for k, v in tensors.items()}, {k: tuple(v.shape) for k, v in ref.items()})

    def test_strict_loaders_accept_the_transformer(self):
        module = wt.load_module(self.paths["transformer"])
        self.assertEqual(sum(p.numel() for p in module.parameters()), wt.parameter_count(wt.default_config("tiny")))

    def test_strict_loaders_accept_the_decoder(self):
        module = taehv.load_module(self.paths["decoder"])
        self.assertIsInstance(module, taehv.TAEHVDecoder)

    def test_values_follow_the_init_scales_and_are_reproducible(self):
        tensors = checkpoints.read_checkpoint(self.paths["text_encoder"])
        norm = tensors["encoder.final_layer_norm.weight"]
        self.assertAlmostEqual(float(norm.mean()), 1.0, delta=0.1)
        q = tensors["encoder.block.0.layer.0.SelfAttention.q.weight"]
        config = checkpoints.read_config(self.paths["text_encoder"])
        d, kv = config["d_model"], config["d_kv"]
        self.assertAlmostEqual(float(q.std()), (d * kv) ** -0.5, delta=0.3 * (d * kv) ** -0.5)
        with tempfile.TemporaryDirectory() as again:
            random_init.write_random("wan2.1-t2v-1.3b", again, seed=3, configs=tiny_configs(), max_shard_bytes=20_000)
            same = checkpoints.read_checkpoint(Path(again) / "text_encoder")
            self.assertTrue(all(torch.equal(tensors[k], same[k]) for k in tensors))

    def test_tokenizer_ids_fit_the_vocabulary(self):
        tok = json.loads((self.paths["tokenizer"] / "tokenizer.json").read_text())
        self.assertLess(len(tok["model"]["vocab"]), umt5.default_config("tiny")["vocab_size"] + 1)

    def test_module_forward_is_finite(self):
        module = wt.load_module(self.paths["transformer"])
        i = wt.example_inputs(wt.default_config("tiny"))
        with torch.no_grad():
            out = module(i["hidden_states"], i["timestep"], i["encoder_hidden_states"])
        out = out[0] if isinstance(out, (tuple, list)) else out
        self.assertTrue(bool(torch.isfinite(out).all()))


class RealSizeHeaders(unittest.TestCase):
    def test_dry_run_plans_the_real_checkpoints(self):
        with tempfile.TemporaryDirectory() as tmp:
            paths = random_init.write_random("wan2.1-t2v-1.3b", tmp, dry_run=True)
            stats = paths["stats"]
            self.assertEqual(list(Path(tmp, "text_encoder").glob("*.safetensors")), [])  # no weights written
            te = json.loads((paths["text_encoder"] / "config.json").read_text())
            self.assertEqual((te["vocab_size"], te["d_model"], te["d_ff"], te["num_layers"], te["num_heads"]),
                             (256384, 4096, 10240, 24, 64))
            tr = json.loads((paths["transformer"] / "config.json").read_text())
            self.assertEqual((tr["num_layers"], tr["num_attention_heads"] * tr["attention_head_dim"], tr["ffn_dim"]),
                             (30, 1536, 8960))
            # 5.68 B with the 1.05 B embedding; 1.42 B for the DiT; taew2_1 11.3 M
            self.assertEqual(round(stats["text_encoder"]["parameters"] / 1e9, 2), 5.68)
            self.assertEqual(round(stats["transformer"]["parameters"] / 1e9, 2), 1.42)
            self.assertEqual(round(stats["decoder"]["parameters"] / 1e6, 1), 11.3)
            self.assertEqual(stats["transformer"]["parameters"], wt.parameter_count(tr))
            index = json.loads((paths["text_encoder"] / "model.safetensors.index.json").read_text())
            self.assertEqual(len(index["weight_map"]), 1 + 24 * 10 + 1)  # embedding, 10 per layer, final norm
            self.assertEqual(index["metadata"]["total_size"], 2 * stats["text_encoder"]["parameters"])
            # no shard over the cap except a single tensor larger than it (the embedding, alone)
            specs = dict((n, s) for n, s, _, _ in random_init.umt5_specs(te))
            by_file = {}
            for name, f in index["weight_map"].items():
                by_file.setdefault(f, []).append(name)
            for f, names in by_file.items():
                size = sum(2 * math.prod(specs[n]) for n in names)
                self.assertTrue(size <= random_init.DEFAULT_SHARD_BYTES or len(names) == 1, f)
            self.assertEqual(by_file[index["weight_map"]["shared.weight"]], ["shared.weight"])

    def test_header_layout_matches_the_reader(self):
        shard = [("a", (3, 5), 0.0, 1.0), ("b", (7,), 1.0, 0.1)]
        with tempfile.TemporaryDirectory() as tmp:
            random_init.write_component(tmp, shard, "m", seed=1, stream=0)
            f = checkpoints.SafetensorsFile(Path(tmp) / "m-00001-of-00001.safetensors")
            self.assertEqual({k: e["shape"] for k, e in f.entries.items()}, {"a": [3, 5], "b": [7]})
            self.assertTrue(bool(torch.isfinite(f.tensor("a")).all()))

    def test_bf16_rounding_matches_torch(self):
        x = np.random.default_rng(0).standard_normal(10_000, dtype=np.float32) * 3
        self.assertTrue(np.array_equal(random_init._bf16_bits(x.copy()), checkpoints.fp32_to_bf16_bits(x)))

    def test_unknown_preset_is_refused(self):
        with self.assertRaisesRegex(ValueError, "wan2.1-t2v-1.3b"):
            random_init.preset_configs("wan2.2")


if __name__ == "__main__":
    unittest.main()
