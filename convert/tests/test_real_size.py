"""The converter at real size: the lazy checkpoint reader, the size estimates behind the shard counts (held
to what quantize writes), the shard plans for the real configs, pieces chained by GraphWriter, the
between-shard names, the int8/int4 embedding table, the manifest's memory, --preset and --random-init.

Run: /usr/bin/python3 -m unittest convert/tests/test_real_size.py  (from the repository root)
The numbers of the sharded, piece-exported and quantized graphs are checked against PyTorch through
kinema's TypeScript runner in test/convert/wan-components.test.ts.
"""
import contextlib
import io
import json
import sys
import tempfile
import types
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper, TensorProto

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))

import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("kinema_convert_cli", HERE.parents[1] / "convert.py")
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)
import kinema_convert  # noqa: E402
from kinema_convert import checkpoints, onnx_export, quantize, testing, umt5  # noqa: E402
from kinema_convert import wan_transformer as wt  # noqa: E402
from kinema_convert.onnx_export import Quant  # noqa: E402

LIMIT = 1_900_000_000


def run_cli(*args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, err.getvalue()


class LazyReader(unittest.TestCase):
    def test_tensors_and_row_ranges_as_the_eager_reader_gives_them(self):
        with tempfile.TemporaryDirectory() as d:
            g = torch.Generator().manual_seed(0)
            tensors = {"a": torch.randn(7, 5, generator=g), "b": torch.randn(3, generator=g),
                       "c": torch.arange(6, dtype=torch.int64).reshape(2, 3)}
            checkpoints.write_sharded(Path(d), tensors, 2, dtype="bf16")
            eager = checkpoints.read_checkpoint(Path(d))
            lazy = checkpoints.open_checkpoint(Path(d))
            self.assertEqual(sorted(lazy.keys()), ["a", "b", "c"])
            self.assertEqual(lazy.shape("a"), [7, 5])
            for k in tensors:
                self.assertTrue(torch.equal(lazy.get(k), eager[k]), k)
            self.assertTrue(torch.equal(lazy.get("a", rows=(2, 5)), eager["a"][2:5]))
            self.assertEqual(lazy.get("a").dtype, torch.float32)  # bf16 widened
            with self.assertRaisesRegex(checkpoints.CheckpointError, "no tensor 'zz'"):
                lazy.get("zz")


class SizeEstimates(unittest.TestCase):
    def test_matmul_bytes_equal_what_quantize_writes(self):
        rng = np.random.default_rng(0)
        for weights, block, zp, (k, n) in (("int8", 128, False, (256, 70)), ("int4", 32, False, (96, 40)),
                                           ("int4", 16, True, (48, 33)), ("int8", 64, True, (128, 17)),
                                           ("int8", 128, False, (300, 70))):  # partial blocks: left float
            w = rng.standard_normal((k, n)).astype(np.float32)
            graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="/lin/MatMul")], "g",
                                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
                                      [numpy_helper.from_array(w, "w")])
            model = helper.make_model(graph)
            q = Quant(block_size=block, zero_points=zp, min_elements=0)
            q.apply(model, weights)
            written = sum(len(t.raw_data) for t in model.graph.initializer)
            self.assertEqual(onnx_export.matmul_bytes(k, n, weights, q), written, (weights, block, zp, k, n))
        for k, n in ((256, 70), (300, 17)):  # the DequantizeLinear form: no blocks
            graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="/lin/MatMul")], "g",
                                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
                                      [numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w")])
            model = helper.make_model(graph)
            q = Quant(min_elements=0, int8_op="DequantizeLinear")
            q.apply(model, "int8")
            self.assertEqual([nd.op_type for nd in model.graph.node], ["DequantizeLinear", "MatMul"])
            written = sum(len(t.raw_data) for t in model.graph.initializer)
            self.assertEqual(onnx_export.matmul_bytes(k, n, "int8", q), written, (k, n))

    def test_real_configs_shard_as_planned(self):
        te, dit = umt5.default_config(), wt.default_config("1.3b")
        q4, q8 = Quant(), Quant()
        # int4 umT5-XXL: ~121 MB a layer -> 2 graphs; fp32 (773 MB a layer) -> 12; fp16 -> 6
        self.assertEqual(umt5.plan_shards(te, "int4", LIMIT, q4), 2)
        self.assertEqual(umt5.plan_shards(te, "fp16", LIMIT), 6)
        self.assertEqual(umt5.plan_shards(te, "fp32", LIMIT), 12)
        # int8 1.3B DiT: 1.4 GB of blocks -> 1 block graph; fp32 -> 4
        self.assertEqual(wt.plan_shards(dit, "int8", LIMIT, q8), 1)
        self.assertEqual(wt.plan_shards(dit, "fp32", LIMIT), 4)
        for config, plan, weights, q in ((te, umt5.plan_shards, "int4", q4), (dit, wt.plan_shards, "int8", q8)):
            self.assertGreater(plan(config, weights, LIMIT // 4, q), plan(config, weights, LIMIT, q))
        with self.assertRaisesRegex(ValueError, "over the file limit"):
            umt5.plan_shards(te, "fp32", 100_000_000)

    def test_activation_estimates_grow_with_the_size(self):
        dit = wt.default_config("1.3b")
        small = wt.activation_bytes(dit, 1, 21, 240, 416)
        self.assertGreater(wt.activation_bytes(dit, 2, 21, 240, 416), small)
        self.assertGreater(wt.activation_bytes(dit, 1, 21, 480, 832), 4 * small)  # attention is N^2
        self.assertGreater(umt5.activation_bytes(umt5.default_config(), 2, 512),
                           umt5.activation_bytes(umt5.default_config(), 1, 512))


class Pieces(unittest.TestCase):
    def test_graph_writer_chains_pieces_by_name_and_prefixes_the_rest(self):
        def piece(inp, out, value):
            w = numpy_helper.from_array(np.full((2, 2), value, np.float32), "w")
            nodes = [helper.make_node("MatMul", [inp, "w"], ["t"], name="/MatMul"),
                     helper.make_node("Add", ["t", "bias"], [out], name="/Add")]
            return helper.make_model(helper.make_graph(
                nodes, "p", [helper.make_tensor_value_info(inp, TensorProto.FLOAT, [1, 2]),
                             helper.make_tensor_value_info("bias", TensorProto.FLOAT, [1, 2])],
                [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 2])], [w]),
                opset_imports=[helper.make_opsetid("", 17)])

        with tempfile.TemporaryDirectory() as d:
            writer = onnx_export.GraphWriter(d, "g", "fp32", limit=10_000)
            writer.add(piece("x", "x__piece1", 1.0))
            writer.add(piece("x__piece1", "y", 2.0))
            entry = writer.finish(["y"])
            self.assertEqual([f["path"] for f in entry["files"]], ["g.onnx", "g.onnx.data"])
            m = onnx.load(str(Path(d) / "g.onnx"), load_external_data=True)
            self.assertEqual([i.name for i in m.graph.input], ["x", "bias"])  # the shared input once
            self.assertEqual([o.name for o in m.graph.output], ["y"])
            self.assertEqual([t.name for t in m.graph.initializer], ["w", "p1/w"])
            self.assertEqual([n.output[0] for n in m.graph.node], ["t", "x__piece1", "p1/t", "y"])
            self.assertEqual(numpy_helper.to_array(m.graph.initializer[1])[0, 0], 2.0)
            onnx.checker.check_model(m)
            with self.assertRaisesRegex(AssertionError, "passes 10 bytes"):
                w2 = onnx_export.GraphWriter(d, "h", "fp32", limit=10)
                w2.add(piece("x", "y", 1.0))

    def test_between_shard_names_never_repeat_an_input_as_an_output(self):
        for shards in (1, 2, 3, 5):
            outs = []
            for i in range(shards):
                ins, out, _, _ = wt.shard_io(i, shards, 0, 1)
                self.assertFalse(set(ins) & set(out), (shards, i))
                if i > 0:
                    self.assertIn(outs[-1][0], ins)  # reads the state the shard before wrote
                outs.append(out)
            self.assertEqual(outs[-1], ["sample"])
        self.assertEqual(wt.shard_io(0, 2, 0, 1)[1], ["tokens", "temb", "timestep_proj"])
        self.assertEqual(wt.shard_io(1, 2, 0, 1)[0][1], "tokens")
        self.assertEqual(wt.shard_io(1, 3, 0, 1)[1], ["tokens_2"])
        self.assertEqual(wt.shard_io(0, 1, 1, 3)[:2], (["tokens__piece1", "timestep_proj", "context", "rope_cos",
                                                         "rope_sin"], ["tokens__piece2"]))

    def test_a_three_block_dit_in_three_graphs_chains_by_name(self):
        config = dict(wt.default_config("tiny"), num_layers=3)
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            testing.write_transformer(d / "tr", config, 0, 1, None)
            ckpt = checkpoints.open_checkpoint(d / "tr")
            entries = wt.export_streaming(ckpt, config, d / "out", "fp32", 3, piece_bytes=1)
            self.assertEqual([e["name"] for e in entries], ["denoiser_context", "denoiser_0", "denoiser_1", "denoiser_2"])
            produced = {"hidden_states", "timestep", "context", "rope_cos", "rope_sin"}
            for e in entries[1:]:
                g = onnx.load(str(d / "out" / e["files"][0]["path"]), load_external_data=False).graph
                self.assertLessEqual({i.name for i in g.input}, produced, e["name"])
                produced |= {o.name for o in g.output}
            self.assertIn("sample", produced)


class KeepRule(unittest.TestCase):
    def test_the_dit_pieces_keep_the_time_mlp_head_and_patch_embedding_float(self):
        config = wt.default_config("tiny")
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            testing.write_transformer(d / "tr", config, 0, 1, None)
            args = types.SimpleNamespace(block_size=16, zero_points=False, quant_min_elements=0, int8_op="MatMulNBits")
            quant = cli._quant(args, "denoiser")
            entries = wt.export_streaming(checkpoints.open_checkpoint(d / "tr"), config, d / "out", "int4", 1,
                                          quant=quant, piece_bytes=1)
            g = onnx.load(str(d / "out" / entries[1]["files"][0]["path"]), load_external_data=False).graph
            nbits = {n.name for n in g.node if n.op_type == "MatMulNBits"}
            self.assertTrue(any("ffn/net.2" in n for n in nbits), nbits)  # K = 32: whole blocks of 16
            by_reason = {}
            for r in quant.records:
                by_reason.setdefault(r["reason"], set()).add(r["name"])
            # the patch embedding (K = 64, whole blocks) is kept by the rule alone; so is the head. (The time MLP
            # runs on [B, C] and exports as Gemm, which is never rewritten.)
            self.assertLessEqual({"MatMul", "proj_out"}, {cli._layer(n) for n in by_reason.get("keep rule", set())},
                                 by_reason)
            self.assertFalse(any("time_" in n or "proj_out" in n or n.strip("/") == "MatMul" for n in nbits), nbits)


class ModuleExport(unittest.TestCase):
    def test_the_module_export_uses_the_same_between_shard_names(self):
        config = dict(wt.default_config("tiny"), num_layers=3)
        module = wt.build(config)
        wt.load_weights(module, wt.random_checkpoint(config, 0))
        with tempfile.TemporaryDirectory() as d:
            entries = wt.export(module, config, Path(d), "fp32", shards=3)
            ios = [onnx_export.graph_io(Path(d) / e["files"][0]["path"]) for e in entries[1:]]
            self.assertEqual([sorted(io["outputs"]) for io in ios], [["temb", "timestep_proj", "tokens"], ["tokens_2"],
                                                                     ["sample"]])
            self.assertIn("tokens", ios[1]["inputs"])
            self.assertIn("tokens_2", ios[2]["inputs"])


class Embedding(unittest.TestCase):
    def test_quantized_table_is_codes_then_fp16_scales_read_a_chunk_at_a_time(self):
        config = dict(umt5.default_config("tiny"), vocab_size=300, d_model=32)
        table = torch.randn(300, 32, generator=torch.Generator().manual_seed(3))
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            checkpoints.write_safetensors(d / "ck" / "model.safetensors", {"shared.weight": table})
            ckpt = checkpoints.open_checkpoint(d / "ck")
            for dtype, bits in (("int8", 8), ("int4", 4)):
                entry = umt5.export_embedding_streaming(ckpt, config, d / "out", dtype, 16)
                raw = (d / "out" / entry["path"]).read_bytes()
                codes, scales = quantize.quantize_rows(table.numpy(), bits, 16)
                self.assertEqual(raw, codes + scales.astype("<f2").tobytes())
                self.assertEqual(entry["role"], "embedding")
            entry = umt5.export_embedding_streaming(ckpt, config, d / "out", "fp16")
            self.assertEqual((d / "out" / entry["path"]).read_bytes(), table.numpy().astype("<f2").tobytes())
            with self.assertRaisesRegex(Exception, "`--block-size` 64 must divide"):
                umt5.export_embedding_streaming(ckpt, config, d / "out", "int8", 64)


class Preset(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls._tmp.name)
        testing.make_random(cls.dir / "raw", seed=0)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def convert(self, out, *extra):
        raw = self.dir / "raw"
        code, err = run_cli("wan", "--transformer", raw / "transformer", "--text-encoder", raw / "text_encoder",
                            "--tokenizer", raw / "tokenizer", "--decoder", raw / "taehv.safetensors",
                            "--out", self.dir / out, "--quant-min-elements", "0", *extra)
        self.assertEqual(code, 0, err)
        return json.loads((self.dir / out / "manifest.json").read_text()), err

    def test_the_preset_manifest(self):
        m, err = self.convert("preset", "--preset", "wan2.1-t2v-1.3b", "--block-size", "16")
        self.assertEqual(m["format"], "kinema-model/2")
        self.assertEqual(m["id"], "wan2.1-t2v-1.3b")
        self.assertEqual(m["scheduler"]["type"], "rcm")
        self.assertFalse(m["guidance"]["cfg"])
        self.assertEqual({k: m["defaults"][k] for k in ("steps", "width", "height", "numFrames")},
                         {"steps": 4, "width": 416, "height": 240, "numFrames": 21})
        self.assertEqual(m["limits"]["numFrames"], {"min": 1, "max": 81})
        self.assertEqual(m["limits"]["sizes"], [{"width": 416, "height": 240}, {"width": 240, "height": 416},
                                                {"width": 832, "height": 480}, {"width": 480, "height": 832}])
        c = m["components"]
        self.assertEqual([v["dtype"] for v in c["textEncoder"]["variants"]], ["int4"])
        self.assertEqual([v["dtype"] for v in c["denoiser"]["variants"]], ["int8"])
        self.assertEqual([v["dtype"] for v in c["vaeDecoder"]["variants"]], ["fp16"])
        self.assertEqual(c["textEncoder"]["embedding"], {"vocabSize": c["textEncoder"]["embedding"]["vocabSize"],
                                                         "dim": 16, "dtype": "int4", "blockSize": 16})
        for comp in c.values():
            for v in comp["variants"]:
                self.assertEqual(v["compute"], "fp32")
                files = [f for g in v["graphs"] for f in g["files"]]  # the sessions' bytes; the table is JS memory
                self.assertEqual(v["memory"]["weightsBytes"], sum(f["bytes"] for f in files))
                self.assertGreater(v["memory"]["activationBytes"], 0)
        # the estimate at the defaults, batch 1 (no CFG)
        self.assertEqual(c["denoiser"]["variants"][0]["memory"]["activationBytes"],
                         wt.activation_bytes(wt.default_config("tiny"), 1, 21, 240, 416, 512))
        # the preset's int8 is the DequantizeLinear -> MatMul form (what kinema's WebGPU build runs); --int8-op overrides it
        self.assertEqual(self.ops(self.dir / "preset" / "denoiser"), {"DequantizeLinear": True, "MatMulNBits": False})
        self.convert("preset-nbits", "--preset", "wan2.1-t2v-1.3b", "--block-size", "16", "--int8-op", "MatMulNBits")
        self.assertEqual(self.ops(self.dir / "preset-nbits" / "denoiser"), {"DequantizeLinear": False, "MatMulNBits": True})

    @staticmethod
    def ops(folder):
        import onnx
        kinds = set()
        for path in Path(folder).glob("*.onnx"):
            kinds |= {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
        return {"DequantizeLinear": "DequantizeLinear" in kinds, "MatMulNBits": "MatMulNBits" in kinds}

    def test_flags_override_the_preset(self):
        m, _ = self.convert("preset-unipc", "--preset", "wan2.1-t2v-1.3b", "--sampler", "unipc",
                            "--transformer-weights", "fp16", "--weights", "fp32", "--embedding-weights", "fp16")
        self.assertEqual(m["scheduler"]["type"], "unipc")
        self.assertEqual((m["defaults"]["steps"], m["defaults"]["guidanceScale"]), (50, 5.0))
        code, err = run_cli("wan", "--transformer", self.dir / "raw" / "transformer", "--out", self.dir / "bad",
                            "--preset", "wan2.1-t2v-1.3b", "--num-frames", "85")
        self.assertEqual(code, 2)
        self.assertIn("`--max-num-frames` must be 4k+1 and at least `--num-frames` (85)", err)
        self.assertTrue(m["guidance"]["cfg"])
        c = m["components"]
        self.assertEqual([v["dtype"] for v in c["textEncoder"]["variants"]], ["fp32"])
        self.assertEqual([v["dtype"] for v in c["denoiser"]["variants"]], ["fp16"])
        self.assertEqual([v["dtype"] for v in c["vaeDecoder"]["variants"]], ["fp32"])
        self.assertEqual(c["textEncoder"]["embedding"]["dtype"], "fp16")
        # CFG: batch 2 in the denoiser's estimate
        self.assertEqual(c["denoiser"]["variants"][0]["memory"]["activationBytes"],
                         wt.activation_bytes(wt.default_config("tiny"), 2, 21, 240, 416, 512))

    def test_int_weights_leave_the_decoder_fp16_with_a_note(self):
        m, err = self.convert("int8-all", "--weights", "int8")
        self.assertEqual([v["dtype"] for v in m["components"]["vaeDecoder"]["variants"]], ["fp16"])
        self.assertIn("the decoder stays fp16", err)
        self.assertEqual(m["components"]["textEncoder"]["embedding"]["dtype"], "int8")
        # int8's default block (128) does not divide the tiny d_model (16): the table takes the largest that does
        self.assertEqual(m["components"]["textEncoder"]["embedding"]["blockSize"], 16)

    def test_zero_points_and_block_size_reach_the_graphs(self):
        raw = self.dir / "raw"
        code, err = run_cli("wan", "--transformer", raw / "transformer", "--out", self.dir / "zp", "--weights", "int4",
                            "--zero-points", "--block-size", "16", "--quant-min-elements", "0")
        self.assertEqual(code, 0, err)
        m = json.loads((self.dir / "zp" / "manifest.json").read_text())
        path = m["components"]["denoiser"]["variants"][0]["graphs"][1]["files"][0]["path"]
        nodes = [n for n in onnx.load(str(self.dir / "zp" / path), load_external_data=False).graph.node
                 if n.op_type == "MatMulNBits"]
        self.assertTrue(nodes)
        for n in nodes:
            attrs = {a.name: a.i for a in n.attribute}
            self.assertEqual((attrs["bits"], attrs["block_size"], len(n.input)), (4, 16, 4), n.name)

    def test_random_init_converts_what_random_init_wrote(self):
        calls = []

        def write_random(preset, out_dir, seed):
            calls.append((preset, Path(out_dir), seed))
            p = testing.make_random(out_dir, seed=seed)
            return {"text_encoder": p["text_encoder"], "tokenizer": p["tokenizer"], "transformer": p["transformer"],
                    "decoder": p["decoder"]}

        fake = types.ModuleType("kinema_convert.random_init")
        fake.write_random = write_random
        out = self.dir / "random"
        with mock.patch.dict(sys.modules, {"kinema_convert.random_init": fake}), \
                mock.patch.object(kinema_convert, "random_init", fake, create=True):
            code, err = run_cli("wan", "--random-init", "wan2.1-t2v-1.3b", "--out", out, "--seed", "5",
                                "--quant-min-elements", "0", "--block-size", "16")
        self.assertEqual(code, 0, err)
        self.assertEqual(calls, [("wan2.1-t2v-1.3b", out / ".random-checkpoints", 5)])
        # a second run reuses the checkpoints a whole earlier run wrote; another seed writes them again
        with mock.patch.dict(sys.modules, {"kinema_convert.random_init": fake}), \
                mock.patch.object(kinema_convert, "random_init", fake, create=True):
            code, err = run_cli("wan", "--random-init", "wan2.1-t2v-1.3b", "--out", out, "--seed", "5",
                                "--quant-min-elements", "0", "--block-size", "16")
            self.assertEqual(code, 0, err)
            self.assertIn("reusing", err)
            self.assertEqual(len(calls), 1)
            code, err = run_cli("wan", "--random-init", "wan2.1-t2v-1.3b", "--out", out, "--seed", "6",
                                "--quant-min-elements", "0", "--block-size", "16")
            self.assertEqual(code, 0, err)
            self.assertEqual(len(calls), 2)
        m = json.loads((out / "manifest.json").read_text())
        self.assertEqual(m["id"], "wan2.1-t2v-1.3b")
        self.assertEqual(list(m["components"]), ["textEncoder", "denoiser", "vaeDecoder"])
        self.assertEqual([v["dtype"] for v in m["components"]["denoiser"]["variants"]], ["int8"])


if __name__ == "__main__":
    unittest.main()
