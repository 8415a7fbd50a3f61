"""umT5 encoder: tensor names, strict loading, the math against a plain reference written from
transformers' description (float64, loops over heads), the mask, shards, the export's structure, the
embedding file, the manifest, and the converter's command line.

Run: /usr/bin/python3 -m unittest discover -s convert/tests  (from the repository root)
The exported graphs' numbers are checked through kinema's own TypeScript runner by test/convert/.
"""
import json
import math
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))

from kinema_convert import checkpoints, manifest as mf, onnx_export, testing, umt5  # noqa: E402

CONVERT = HERE.parents[1] / "convert.py"


def tiny(seed=0, **overrides):
    config = dict(umt5.default_config("tiny"), **overrides)
    module = umt5.build(config)
    tensors = umt5.random_checkpoint(config, seed)
    umt5.load_weights(module, tensors)
    return config, module, tensors


def ref_bucket(rel, num_buckets, max_distance):
    """One relative position's bucket, as the T5 papers and transformers define it (log in float32)."""
    half = num_buckets // 2
    base = half if rel > 0 else 0
    n = abs(rel)
    exact = half // 2
    if n < exact:
        return base + n
    ratio = np.float32(np.log(np.float32(n) / np.float32(exact))) / np.float32(math.log(max_distance / exact))
    return base + min(half - 1, exact + int(np.float32(ratio * np.float32(half - exact))))


def reference_encoder(config, t, input_ids, mask):
    """prompt_embeds from the checkpoint tensors, float64, one head and one position pair at a time."""
    d, h, dk = config["d_model"], config["num_heads"], config["d_kv"]
    nb, md, eps = config["relative_attention_num_buckets"], config["relative_attention_max_distance"], 1e-6
    w = {k: v.double().numpy() for k, v in t.items()}

    def rms(x, weight):
        return weight * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)

    def gelu_tanh(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

    out = []
    for b in range(input_ids.shape[0]):
        x = w["shared.weight"][input_ids[b]]
        L = x.shape[0]
        keep = mask[b].astype(bool)
        for i in range(config["num_layers"]):
            p = f"encoder.block.{i}.layer."
            y = rms(x, w[p + "0.layer_norm.weight"])
            q, k, v = (y @ w[p + f"0.SelfAttention.{n}.weight"].T for n in "qkv")
            table = w[p + "0.SelfAttention.relative_attention_bias.weight"]
            heads = []
            for head in range(h):
                sl = slice(head * dk, (head + 1) * dk)
                scores = q[:, sl] @ k[:, sl].T  # no 1/sqrt(d_kv)
                for qi in range(L):
                    for ki in range(L):
                        scores[qi, ki] += table[ref_bucket(ki - qi, nb, md), head]
                scores[:, ~keep] = -np.inf
                e = np.exp(scores - scores.max(-1, keepdims=True))
                heads.append((e / e.sum(-1, keepdims=True)) @ v[:, sl])
            x = x + np.concatenate(heads, -1) @ w[p + "0.SelfAttention.o.weight"].T
            y = rms(x, w[p + "1.layer_norm.weight"])
            y = gelu_tanh(y @ w[p + "1.DenseReluDense.wi_0.weight"].T) * (y @ w[p + "1.DenseReluDense.wi_1.weight"].T)
            x = x + y @ w[p + "1.DenseReluDense.wo.weight"].T
        x = rms(x, w["encoder.final_layer_norm.weight"])
        out.append(x * keep[:, None])
    return np.stack(out)


class Buckets(unittest.TestCase):
    def test_known_values(self):
        # 32 buckets, max distance 128: exact below 8 on each side, keys after the query in 16..31
        cases = {0: 0, -1: 1, 1: 17, -7: 7, 7: 23, -8: 8, 8: 24, -127: 15, -128: 15, 128: 31, 5000: 31, -5000: 15}
        rel = torch.tensor(list(cases))
        self.assertEqual(umt5.relative_position_bucket(rel, 32, 128).tolist(), list(cases.values()))

    def test_module_buckets_equal_the_definition_at_every_distance_up_to_600(self):
        for nb, md in ((32, 128), (8, 20)):
            _, m, _ = tiny(relative_attention_num_buckets=nb, relative_attention_max_distance=md)
            attn = m.encoder.block[0].layer[0].SelfAttention
            pos = torch.arange(600)
            rel = torch.clamp(pos[None] - pos[:, None], -md, md)
            got = attn.bucket_table[rel[0] + md].tolist()  # query 0: every key distance 0..599
            want = [ref_bucket(k, nb, md) for k in range(600)]
            self.assertEqual(got, want)
            got = attn.bucket_table[rel[:, 0] + md].tolist()  # key 0: every negative distance
            self.assertEqual(got, [ref_bucket(-q, nb, md) for q in range(600)])


class Module(unittest.TestCase):
    def test_tensor_names_are_umt5_encoder_model_s(self):
        config, m, t = tiny()
        names = set(m.state_dict())
        self.assertEqual(names, set(t))
        for i in range(config["num_layers"]):  # a bias table in EVERY layer, unlike T5
            self.assertIn(f"encoder.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight", names)
        for n in ("shared.weight", "encoder.final_layer_norm.weight", "encoder.block.1.layer.1.DenseReluDense.wi_0.weight",
                  "encoder.block.1.layer.1.DenseReluDense.wi_1.weight", "encoder.block.1.layer.1.DenseReluDense.wo.weight",
                  "encoder.block.0.layer.0.SelfAttention.o.weight", "encoder.block.0.layer.1.layer_norm.weight"):
            self.assertIn(n, names)

    def test_matches_the_plain_reference(self):
        config, m, t = tiny(seed=3)
        g = torch.Generator().manual_seed(1)
        L = 40  # distances past max_exact reach the log buckets
        ids = torch.randint(0, config["vocab_size"], (2, L), generator=g)
        mask = torch.zeros(2, L, dtype=torch.int64)
        mask[0, :33] = 1
        mask[1, :5] = 1
        with torch.no_grad():
            got = m(ids, mask).double().numpy()
        want = reference_encoder(config, t, ids.numpy(), mask.numpy())
        self.assertLess(np.abs(got - want).max(), 1e-4 * np.abs(want).max())
        self.assertGreater(np.abs(want).max(), 0.1)

    def test_padding_gives_zeros_and_does_not_reach_real_tokens(self):
        config, m, _ = tiny(seed=4)
        ids = torch.randint(3, config["vocab_size"], (1, 16), generator=torch.Generator().manual_seed(2))
        mask = torch.zeros(1, 16, dtype=torch.int64)
        mask[0, :6] = 1
        other = ids.clone()
        other[0, 6:] = 0  # different padding content
        with torch.no_grad():
            a, b = m(ids, mask), m(other, mask)
            shorter = m(ids[:, :6], mask[:, :6])
        self.assertEqual(tuple(a.shape), (1, 16, config["d_model"]))
        self.assertTrue(torch.all(a[0, 6:] == 0))
        self.assertTrue(torch.all(a[0, :6].abs().sum(-1) > 0))
        self.assertTrue(torch.allclose(a, b, atol=1e-6))
        self.assertTrue(torch.allclose(a[:, :6], shorter, atol=1e-5))  # padding to any length changes nothing

    def test_shards_compose_to_the_whole(self):
        config, m, _ = tiny(seed=5, num_layers=3)
        h = torch.randn(2, 9, config["d_model"])
        mask = torch.ones(2, 9, dtype=torch.int64)
        mask[1, 4:] = 0
        with torch.no_grad():
            whole = m.run_layers(h, mask)
            x = h
            for i, (a, b) in enumerate(umt5.shard_ranges(3, 2)):
                x = m.run_layers(x, mask, a, b, final=i == 1)
        self.assertTrue(torch.allclose(whole, x, atol=1e-6))
        self.assertEqual(umt5.shard_ranges(5, 2), [(0, 3), (3, 5)])
        with self.assertRaisesRegex(ValueError, "--text-encoder-shards` must be an integer from 1 to 3"):
            umt5.shard_ranges(3, 4)

    def test_shard_count_for_the_real_encoder_keeps_files_under_the_limit(self):
        xxl = umt5.default_config(None)
        for w in ("fp32", "fp16"):
            n = umt5.shards_needed(xxl, w)
            per = max(b - a for a, b in umt5.shard_ranges(24, n))
            self.assertLessEqual(per * umt5.layer_bytes(xxl, w), onnx_export.FILE_LIMIT)
        self.assertEqual(umt5.shards_needed(umt5.default_config("tiny"), "fp32"), 1)
        self.assertEqual(umt5.embedding_dtype_for(xxl, "fp32"), "fp16")  # 4.2 GB in fp32
        self.assertEqual(umt5.embedding_dtype_for(umt5.default_config("tiny"), "fp32"), "fp32")


class StrictWeights(unittest.TestCase):
    def setUp(self):
        self.config = umt5.default_config("tiny")
        self.t = umt5.random_checkpoint(self.config, 0)

    def load(self, t):
        umt5.load_weights(umt5.build(self.config), t)

    def test_missing_key_is_named(self):
        del self.t["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"]
        with self.assertRaisesRegex(ValueError, r"'encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight'"):
            self.load(self.t)

    def test_unexpected_key_is_named(self):
        self.t["decoder.block.0.layer.0.SelfAttention.q.weight"] = torch.ones(1)
        with self.assertRaisesRegex(ValueError, r"unexpected checkpoint tensor 'decoder.block.0"):
            self.load(self.t)

    def test_wrong_shape_is_named(self):
        self.t["encoder.block.0.layer.1.DenseReluDense.wo.weight"] = torch.ones(32, 47)
        with self.assertRaisesRegex(ValueError, r"'encoder.block.0.layer.1.DenseReluDense.wo.weight' has shape \[32, 47\]"):
            self.load(self.t)

    def test_the_tied_embedding_may_come_under_either_name_or_both(self):
        emb = self.t.pop("shared.weight")
        m = umt5.build(self.config)
        umt5.load_weights(m, dict(self.t, **{"encoder.embed_tokens.weight": emb}))
        self.assertTrue(torch.equal(m.shared.weight, emb))
        umt5.load_weights(m, dict(self.t, **{"encoder.embed_tokens.weight": emb, "shared.weight": emb}))

    def test_bad_config_names_the_key(self):
        with self.assertRaisesRegex(ValueError, "`num_heads` must be an integer"):
            umt5.build(dict(self.config, num_heads=0))
        with self.assertRaisesRegex(ValueError, "`feed_forward_proj`"):
            umt5.build(dict(self.config, feed_forward_proj="gated-swish-x"))


def graph_io(path):
    return onnx_export.graph_io(path)


class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls._tmp.name)
        cls.config, cls.module, _ = tiny(seed=6, num_layers=3)
        cls.one = umt5.export(cls.module, cls.config, cls.dir / "one", "fp32")
        cls.three = umt5.export(cls.module, cls.config, cls.dir / "three", "fp16", shards=3)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_single_graph_contract(self):
        (g,) = self.one
        self.assertEqual(g["name"], "text_encoder")
        self.assertEqual([f["path"] for f in g["files"]], ["text_encoder.onnx", "text_encoder.onnx.data"])
        self.assertEqual(g["files"][1]["role"], "external-data")
        io = graph_io(self.dir / "one" / "text_encoder.onnx")
        self.assertEqual(list(io["inputs"]), ["hidden_states", "attention_mask"])
        self.assertEqual(io["inputs"]["hidden_states"], {"shape": ["batch", "sequence", 32], "dtype": "FLOAT"})
        self.assertEqual(io["inputs"]["attention_mask"], {"shape": ["batch", "sequence"], "dtype": "INT64"})
        self.assertEqual(io["outputs"], {"prompt_embeds": {"shape": ["batch", "sequence", 32], "dtype": "FLOAT"}})

    def test_files_are_as_listed_and_weights_live_in_the_external_data(self):
        for folder, entries in (("one", self.one), ("three", self.three)):
            for g in entries:
                for f in g["files"]:
                    p = self.dir / folder / f["path"]
                    self.assertEqual(p.stat().st_size, f["bytes"])
                    self.assertEqual(onnx_export.sha256(p), f["sha256"])
                    self.assertLessEqual(f["bytes"], onnx_export.FILE_LIMIT)
                m = onnx.load(str(self.dir / folder / g["files"][0]["path"]), load_external_data=False)
                for init in m.graph.initializer:
                    self.assertEqual(init.data_location, TensorProto.EXTERNAL, init.name)
                    loc = {e.key: e.value for e in init.external_data}["location"]
                    self.assertEqual(loc, g["files"][1]["path"])

    def test_shards_chain_by_name_and_only_the_last_normalizes(self):
        self.assertEqual([g["name"] for g in self.three], ["text_encoder_0", "text_encoder_1", "text_encoder_2"])
        ios = [graph_io(self.dir / "three" / g["files"][0]["path"]) for g in self.three]
        self.assertEqual([list(io["inputs"]) for io in ios],
                         [["hidden_states", "attention_mask"], ["hidden_states_1", "attention_mask"],
                          ["hidden_states_2", "attention_mask"]])
        self.assertEqual([list(io["outputs"]) for io in ios], [["hidden_states_1"], ["hidden_states_2"], ["prompt_embeds"]])
        self.assertEqual(self.three[0]["files"][0]["path"], "text_encoder_0.fp16.onnx")
        names = lambda i: {x.name for x in onnx.load(str(self.dir / "three" / self.three[i]["files"][0]["path"]),
                                                      load_external_data=False).graph.initializer}
        self.assertIn("encoder.final_layer_norm.weight__fp16", names(2))
        self.assertFalse(any("final_layer_norm" in n for n in names(0) | names(1)))

    def test_fp16_storage_keeps_fp32_compute(self):
        m = onnx.load(str(self.dir / "three" / "text_encoder_1.fp16.onnx"))
        big = [i for i in m.graph.initializer if np.prod(i.dims) >= onnx_export.FP16_MIN_ELEMENTS]
        self.assertTrue(big)
        self.assertTrue(all(i.data_type in (TensorProto.FLOAT16, TensorProto.INT64) for i in big))
        casts = {n.output[0] for n in m.graph.node if n.op_type == "Cast" and n.input[0].endswith("__fp16")}
        self.assertEqual(casts, {i.name[:-len("__fp16")] for i in big if i.data_type == TensorProto.FLOAT16})
        io = graph_io(self.dir / "three" / "text_encoder_1.fp16.onnx")
        self.assertEqual(io["outputs"]["hidden_states_2"]["dtype"], "FLOAT")
        # the relative-position buckets are an int64 constant table, not float math in the graph
        self.assertNotIn("Log", {n.op_type for n in m.graph.node})

    def test_embedding_file_is_the_raw_table(self):
        for dtype, np_dtype in (("fp32", "<f4"), ("fp16", "<f2")):
            e = umt5.export_embedding(self.module, self.dir / "emb", dtype)
            self.assertEqual(e["path"], f"embed_tokens.{dtype}.bin")
            self.assertEqual(e["role"], "embedding")
            raw = np.fromfile(self.dir / "emb" / e["path"], dtype=np_dtype).reshape(64, 32)
            want = self.module.shared.weight.detach().numpy().astype(np_dtype)
            self.assertTrue(np.array_equal(raw, want))


def run_convert(*args):
    return subprocess.run([sys.executable, str(CONVERT), *map(str, args)], capture_output=True, text=True)


class Manifest(unittest.TestCase):
    def test_scheduler_blocks(self):
        self.assertEqual(mf.scheduler_block()["type"], "unipc")
        unipc = mf.scheduler_block(sampler="unipc")["config"]
        self.assertEqual((unipc["prediction_type"], unipc["use_flow_sigmas"], unipc["flow_shift"]),
                         ("flow_prediction", True, 3.0))
        self.assertEqual(mf.scheduler_block(sampler="euler")["type"], "flow-match-euler")
        self.assertEqual(mf.scheduler_block(sampler="rcm"),
                         {"type": "rcm", "config": {"sigmas": [0.98765, 0.78271, 0.60898, 0.40622]}})
        with tempfile.TemporaryDirectory() as d:
            testing.write_scheduler(d, dict(mf.EULER_WAN21, shift=5.0))
            self.assertEqual(mf.scheduler_block(d)["config"]["shift"], 5.0)
            with self.assertRaisesRegex(mf.UsageError, "`--sampler unipc` disagrees with `--scheduler`"):
                mf.scheduler_block(d, "unipc")
            with self.assertRaisesRegex(mf.UsageError, "`--sampler rcm`.*drop `--scheduler`"):
                mf.scheduler_block(d, "rcm")

    def test_guidance_and_limits_follow_the_sampler(self):
        rcm = mf.build_manifest(components={}, scheduler=mf.scheduler_block(sampler="rcm"))
        self.assertEqual(rcm["guidance"], {"cfg": False, "negativePrompt": ""})
        self.assertEqual((rcm["defaults"]["steps"], rcm["limits"]["steps"]["max"]), (4, 4))
        base = mf.build_manifest(components={}, scheduler=mf.scheduler_block())
        self.assertEqual((base["format"], base["pipeline"]), ("kinema-model/2", "wan2.1"))
        self.assertTrue(base["guidance"]["cfg"])
        self.assertEqual((base["defaults"]["steps"], base["defaults"]["guidanceScale"]), (50, 5.0))
        self.assertEqual(base["releaseOrder"], [])
        with self.assertRaisesRegex(mf.UsageError, "`--num-frames` must be 4k\\+1"):
            mf.build_manifest(components={}, scheduler=mf.scheduler_block(), num_frames=80)


class CommandLine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls._tmp.name)
        cfg = dict(umt5.default_config("tiny"), num_layers=3)
        testing.write_umt5(cls.dir / "te", cfg, seed=7, shards=2, dtype="bf16")
        testing.write_tokenizer(cls.dir / "tok")
        cls.result = run_convert("wan", "--text-encoder", cls.dir / "te", "--tokenizer", cls.dir / "tok",
                                 "--out", cls.dir / "out", "--weights", "fp32,fp16", "--text-encoder-shards", "2",
                                 "--sampler", "rcm")
        cls.manifest = json.loads((cls.dir / "out" / "manifest.json").read_text()) if cls.result.returncode == 0 else None

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_text_encoder_only_conversion(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        m = self.manifest
        self.assertEqual(list(m["components"]), ["textEncoder"])  # what was not given is left out
        te = m["components"]["textEncoder"]
        self.assertEqual(te["hiddenSize"], 32)
        self.assertEqual(te["embedding"], {"vocabSize": 64, "dim": 32, "dtype": "fp32"})
        self.assertEqual([v["dtype"] for v in te["variants"]], ["fp32", "fp16"])
        for v in te["variants"]:
            self.assertEqual(v["compute"], "fp32")
            self.assertEqual([g["name"] for g in v["graphs"]], ["text_encoder_0", "text_encoder_1"])
            self.assertEqual(v["data"], te["variants"][0]["data"])
            self.assertEqual(v["data"][0]["path"], "text_encoder/embed_tokens.fp32.bin")
            for g in v["graphs"]:
                self.assertEqual([f.get("role") for f in g["files"]], [None, "external-data"])
        self.assertEqual(m["tokenizer"]["maxLength"], 512)
        self.assertEqual([f["path"] for f in m["tokenizer"]["files"]],
                         ["tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json", "tokenizer/special_tokens_map.json"])
        self.assertEqual(m["scheduler"]["type"], "rcm")
        mf.check_files(self.dir / "out", m)  # bytes and sha256 of every listed file

    def test_the_bf16_sharded_checkpoint_was_read_in_full(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        emb = np.fromfile(self.dir / "out" / "text_encoder" / "embed_tokens.fp32.bin", dtype="<f4").reshape(64, 32)
        want = checkpoints.read_checkpoint(self.dir / "te")["shared.weight"].numpy()
        self.assertTrue(np.array_equal(emb, want))

    def test_usage_errors_exit_2_naming_the_flag(self):
        for args, text in (
                (["wan", "--text-encoder", self.dir / "te", "--out", self.dir / "x"], "`--text-encoder` and `--tokenizer`"),
                (["wan", "--out", self.dir / "x"], "at least one of `--transformer`"),
                (["wan", "--decoder", self.dir / "nope.safetensors", "--out", self.dir / "x"], "`--decoder`"),
                (["wan", "--text-encoder", self.dir / "te", "--tokenizer", self.dir / "te", "--out", self.dir / "x"],
                 "`--tokenizer`: .* has no tokenizer.json"),
                (["wan", "--text-encoder", self.dir / "te", "--tokenizer", self.dir / "tok", "--out", self.dir / "x",
                  "--text-encoder-shards", "9"], "`--text-encoder-shards` must be an integer from 1 to 3"),
                (["wan", "--decoder", "x", "--out", self.dir / "x", "--weights", "int9"], "--weights"),
                (["wan", "--decoder", "x", "--out", self.dir / "x", "--decoder-weights", "int8"],
                 "`--decoder-weights int8`: the TAEHV decoder is convolutions"),
                (["wan", "--decoder", "x", "--out", self.dir / "x", "--block-size", "24"], "`--block-size` must be a power of two"),
                (["wan", "--decoder", "x", "--out", self.dir / "x", "--max-file-bytes", "3000000000"],
                 "`--max-file-bytes` must be at most 2147483647"),
                (["wan", "--random-init", "wan2.1-t2v-1.3b", "--decoder", "x", "--out", self.dir / "x"],
                 "`--random-init` writes its own checkpoints"),
                (["make-random", "--out", self.dir / "x"], "`--tiny`")):
            r = run_convert(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertRegex(r.stderr, text)

    def test_a_bad_checkpoint_exits_1_naming_the_key(self):
        t = checkpoints.read_checkpoint(self.dir / "te")
        del t["encoder.block.2.layer.1.layer_norm.weight"]
        bad = self.dir / "bad"
        checkpoints.write_safetensors(bad / "model.safetensors", t)
        (bad / "config.json").write_text((self.dir / "te" / "config.json").read_text())
        r = run_convert("wan", "--text-encoder", bad, "--tokenizer", self.dir / "tok", "--out", self.dir / "y")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("'encoder.block.2.layer.1.layer_norm.weight'", r.stderr)


def _family_modules_present():
    try:
        import kinema_convert.taehv  # noqa: F401
        import kinema_convert.wan_transformer  # noqa: F401
        return True
    except ImportError:
        return False


@unittest.skipUnless(_family_modules_present(), "wan_transformer.py or taehv.py is not there yet")
class WholeModel(unittest.TestCase):
    def test_make_random_then_convert_everything(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            r = run_convert("make-random", "--tiny", "--out", d / "ck", "--shards", "2", "--dtype", "bf16")
            self.assertEqual(r.returncode, 0, r.stderr)
            for p in ("transformer/config.json", "transformer/diffusion_pytorch_model.safetensors.index.json",
                      "text_encoder/config.json", "text_encoder/model.safetensors.index.json",
                      "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json", "taehv.safetensors",
                      "scheduler/scheduler_config.json"):
                self.assertTrue((d / "ck" / p).is_file(), p)
            r = run_convert("wan", "--transformer", d / "ck/transformer", "--text-encoder", d / "ck/text_encoder",
                            "--tokenizer", d / "ck/tokenizer", "--decoder", d / "ck/taehv.safetensors",
                            "--scheduler", d / "ck/scheduler", "--out", d / "model")
            self.assertEqual(r.returncode, 0, r.stderr)
            m = json.loads((d / "model" / "manifest.json").read_text())
            self.assertEqual(m["releaseOrder"], ["textEncoder", "denoiser", "vaeDecoder"])
            self.assertEqual(m["components"]["denoiser"]["config"]["textDim"], m["components"]["textEncoder"]["hiddenSize"])
            graphs = [g["name"] for g in m["components"]["denoiser"]["variants"][0]["graphs"]]
            self.assertEqual(graphs[0], "denoiser_context")
            self.assertTrue(m["components"]["denoiser"]["variants"][0]["graphs"][0]["perPrompt"])
            self.assertIn("streaming", m["components"]["vaeDecoder"])
            self.assertEqual(m["scheduler"]["type"], "unipc")
            mf.check_files(d / "model", m)


if __name__ == "__main__":
    unittest.main()
