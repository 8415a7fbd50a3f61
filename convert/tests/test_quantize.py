"""Block quantization (convert/kinema_convert/quantize.py): MatMulNBits' byte layout on hand-made blocks,
the round trip's error bound, the graph rewrite (fp32 and fp16-behind-Cast weights, the keep rule, small
weights, bias folding, the checker with the com.microsoft domain), and the embedding table's file format.

Run: /usr/bin/python3 -m unittest convert/tests/test_quantize.py  (from the repository root)
The layout against onnxruntime's own kernel: test/convert/quantize-ort.test.ts.
"""
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))

from kinema_convert import onnx_export  # noqa: E402
from kinema_convert import quantize as qz  # noqa: E402


def linear_model(k, n, bias=False, fp16=False, rank=3, name="/blocks.0/attn1/to_q", extra_consumer=False):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    out = "Y0" if bias else "Y"
    nodes = [helper.make_node("MatMul", ["A", "W"], [out], name=f"{name}/MatMul")]
    inits = [numpy_helper.from_array(w, "W")]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 3, n][-rank:])]
    if bias:
        nodes.append(helper.make_node("Add", ["Y0", "B"], ["Y"], name=f"{name}/Add"))
        inits.append(numpy_helper.from_array(b, "B"))
    if extra_consumer:
        nodes.append(helper.make_node("Identity", ["W"], ["Wout"]))
        outputs.append(helper.make_tensor_value_info("Wout", TensorProto.FLOAT, [k, n]))
    shape = [2, 3, k][-rank:]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("A", TensorProto.FLOAT, shape)], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if fp16:
        onnx_export.fp16_weights_in_place(model)
    return model, w, b


def inits_of(model):
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


class WeightLayout(unittest.TestCase):
    def test_4bit_symmetric_by_hand(self):
        # one column, one block of 16: the extreme (-8.0) lands on code 0, scale = -8 / -8 = 1
        col = np.array([-8, -1, 0, 1, 2, 3, 4, 5, 6, 7, 7, 0, 0, 0, 0, 1], dtype=np.float32)
        b_q, scales, zp = qz.quantize_weight(col[:, None], 4, 16)
        self.assertIsNone(zp)
        self.assertEqual(b_q.shape, (1, 1, 8))
        np.testing.assert_array_equal(scales, [1.0])
        codes = (col + 8).astype(np.uint8)
        expected = codes[0::2] | (codes[1::2] << 4)  # low nibble = even k
        np.testing.assert_array_equal(b_q[0, 0], expected)

    def test_8bit_symmetric_and_padding(self):
        # K = 20 over blocks of 16: two blocks, the second padded with zeros (code 128)
        col = np.arange(20, dtype=np.float32) - 10.0
        b_q, scales, _ = qz.quantize_weight(col[:, None], 8, 16)
        self.assertEqual(b_q.shape, (1, 2, 16))
        np.testing.assert_allclose(scales, [-10 / -128, 9 / -128], rtol=1e-7)
        self.assertEqual(b_q[0, 0, 0], 0)  # -10 is the first block's extreme
        np.testing.assert_array_equal(b_q[0, 1, 4:], 128)  # padding is exactly zero

    def test_zero_points_4bit_odd_block_count(self):
        rng = np.random.default_rng(0)
        w = (rng.random((48, 3)) * 2 + 1).astype(np.float32)  # all positive: zp = 0 (min is clamped to 0)
        w[:, 1] -= 4  # all negative: zp = 15
        b_q, scales, zp = qz.quantize_weight(w, 4, 16, zero_points=True)
        self.assertEqual(zp.shape, (3 * 2,))  # 3 blocks per column -> 2 bytes, the last high nibble unused
        self.assertEqual(zp[0], 0)
        self.assertEqual(zp[2], 0xFF)
        self.assertEqual(zp[3] & 0xF0, 0)
        np.testing.assert_allclose(qz.dequantize_weight(b_q, scales, zp, 48, 4, 16), w, atol=float(scales.max()) / 2 + 1e-6)

    def test_round_trip_error_bounds(self):
        rng = np.random.default_rng(2)
        w = rng.standard_normal((300, 70)).astype(np.float32)  # K not a multiple of any block size
        for bits in (4, 8):
            for block in (16, 32, 128):
                for zero_points in (False, True):
                    b_q, scales, zp = qz.quantize_weight(w, bits, block, zero_points)
                    back = qz.dequantize_weight(b_q, scales, zp, 300, bits, block)
                    self.assertEqual(back.shape, w.shape)
                    # half a step per value (a clipped symmetric code: one step)
                    step = np.repeat(np.abs(scales.reshape(70, -1)), block, axis=1)[:, :300].T
                    bound = step * (0.5 if zero_points else 1.0) + 1e-6
                    self.assertTrue(np.all(np.abs(back - w) <= bound), (bits, block, zero_points))
                    rel = np.sqrt(np.mean((back - w) ** 2) / np.mean(w ** 2))
                    self.assertLess(rel, 0.2 if bits == 4 else 0.012, (bits, block, zero_points, rel))

    def test_chunks_give_the_same_bytes(self):
        rng = np.random.default_rng(3)
        w = rng.standard_normal((64, 50)).astype(np.float32)
        whole = qz.quantize_weight(w, 4, 32)
        saved = qz._CHUNK_VALUES
        qz._CHUNK_VALUES = 64 * 3  # three columns a chunk
        try:
            chunked = qz.quantize_weight(w, 4, 32)
        finally:
            qz._CHUNK_VALUES = saved
        for a, b in zip(whole[:2], chunked[:2]):
            np.testing.assert_array_equal(a, b)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "bits"):
            qz.quantize_weight(np.zeros((32, 2), np.float32), 3, 32)
        with self.assertRaisesRegex(ValueError, "power of two"):
            qz.quantize_weight(np.zeros((32, 2), np.float32), 4, 24)
        with self.assertRaisesRegex(ValueError, "2-D"):
            qz.quantize_weight(np.zeros((32,), np.float32), 4, 32)


class GraphRewrite(unittest.TestCase):
    def rewrite(self, model, **kw):
        records = qz.quantize_matmuls(model, kw.pop("bits", 4), kw.pop("block_size", 32), min_elements=16, **kw)
        onnx.checker.check_model(model)
        return records

    def test_fp32_weight(self):
        model, w, _ = linear_model(64, 40)
        records = self.rewrite(model)
        self.assertEqual([n.op_type for n in model.graph.node], ["MatMulNBits"])
        node = model.graph.node[0]
        self.assertEqual(node.domain, "com.microsoft")
        attrs = {a.name: a.i for a in node.attribute}
        self.assertEqual(attrs, {"K": 64, "N": 40, "bits": 4, "block_size": 32, "accuracy_level": 0})
        self.assertIn("com.microsoft", [o.domain for o in model.opset_import])
        self.assertEqual(records, [{"name": "blocks.0.attn1.to_q", "initializer": "W", "K": 64, "N": 40, "bits": 4,
                                    "block_size": 32, "reason": "quantized", "zero_points": False}])
        t = inits_of(model)
        self.assertNotIn("W", t)  # the float weight is gone
        back = qz.dequantize_weight(t[node.input[1]], t[node.input[2]], None, 64, 4, 32)
        self.assertLess(np.abs(back - w).max(), np.abs(w).max() / 7)

    def test_fp16_weight_behind_cast_and_bias(self):
        model, w, b = linear_model(64, 40, bias=True, fp16=True)
        kept_add = linear_model(64, 40, bias=True, fp16=True)[0]
        self.rewrite(kept_add, bits=8)  # the default keeps the Add: the WebGPU kernel takes no bias
        self.assertEqual([n.op_type for n in kept_add.graph.node], ["Cast", "MatMulNBits", "Add"])
        records = self.rewrite(model, bits=8, zero_points=True, fold_bias=True)
        ops = [n.op_type for n in model.graph.node]
        self.assertEqual(ops.count("MatMulNBits"), 1)
        self.assertNotIn("MatMul", ops)
        self.assertNotIn("Add", ops)
        self.assertEqual(ops.count("Cast"), 1)  # the bias's Cast stays, the weight's went with its initializer
        node = next(n for n in model.graph.node if n.op_type == "MatMulNBits")
        self.assertEqual(len(node.input), 6)
        self.assertEqual(node.input[4], "")
        self.assertEqual(node.input[5], "B")
        self.assertEqual(node.output[0], "Y")
        self.assertNotIn("W__fp16", inits_of(model))
        self.assertEqual(records[0]["bias"], "B__fp16")

    def test_folded_node_takes_the_add_place(self):
        # the bias's Cast comes after the MatMul: the MatMulNBits must come after it too (the checker
        # refuses a graph that is not topologically sorted)
        model, _, b = linear_model(64, 40, bias=True)
        g = model.graph
        b16 = numpy_helper.from_array(b.astype(np.float16), "B16")
        g.initializer.remove(next(t for t in g.initializer if t.name == "B"))
        g.initializer.append(b16)
        cast = helper.make_node("Cast", ["B16"], ["B"], to=TensorProto.FLOAT)
        nodes = list(g.node)
        del g.node[:]
        g.node.extend([nodes[0], cast, nodes[1]])
        self.rewrite(model, fold_bias=True)
        self.assertEqual([n.op_type for n in g.node], ["Cast", "MatMulNBits"])

    def test_dequantize_linear_form(self):
        model, w, b = linear_model(100, 40, bias=True, fp16=True)  # K needs no whole blocks here
        records = qz.quantize_matmuls(model, 8, op="DequantizeLinear", min_elements=16)
        onnx.checker.check_model(model)
        self.assertEqual([n.op_type for n in model.graph.node], ["Cast", "DequantizeLinear", "MatMul", "Add"])
        self.assertNotIn("com.microsoft", [o.domain for o in model.opset_import])
        self.assertEqual((records[0]["bits"], records[0]["op"], records[0]["reason"]), (8, "DequantizeLinear", "quantized"))
        dq = model.graph.node[1]
        self.assertEqual({a.name: a.i for a in dq.attribute}, {"axis": 1})
        t = inits_of(model)
        q, scale = t[dq.input[0]], t[dq.input[1]]
        self.assertEqual((q.dtype, q.shape, scale.shape), (np.dtype(np.int8), (100, 40), (40,)))
        self.assertNotIn("W__fp16", t)
        w16 = w.astype(np.float16).astype(np.float32)
        np.testing.assert_allclose(scale, np.abs(w16).max(axis=0) / 127, rtol=1e-6)
        self.assertTrue(np.all(np.abs(q * scale - w16) <= scale / 2 + 1e-6))
        self.assertEqual(int(np.abs(q).max()), 127)
        with self.assertRaisesRegex(ValueError, "bits` must be 8"):
            qz.quantize_matmuls(linear_model(64, 40)[0], 4, op="DequantizeLinear")
        with self.assertRaisesRegex(ValueError, "`op`"):
            qz.quantize_matmuls(linear_model(64, 40)[0], 8, op="QLinearMatMul")

    def test_keep_rule_and_small_weights(self):
        model, _, _ = linear_model(64, 40, name="/proj_out")
        records = self.rewrite(model, keep=lambda n: qz.default_keep("denoiser", n))
        self.assertEqual([n.op_type for n in model.graph.node], ["MatMul"])
        self.assertEqual(records[0]["bits"], "kept")
        self.assertEqual(records[0]["reason"], "keep rule")
        self.assertNotIn("com.microsoft", [o.domain for o in model.opset_import])
        model, _, _ = linear_model(64, 40, name="")  # node "/MatMul": the DiT's top-level patch embedding
        records = self.rewrite(model, keep=lambda n: qz.default_keep("denoiser", n))
        self.assertEqual((records[0]["name"], records[0]["bits"]), ("MatMul", "kept"))
        model, _, _ = linear_model(4, 3)
        records = self.rewrite(model)
        self.assertEqual([n.op_type for n in model.graph.node], ["MatMul"])
        self.assertTrue(records[0]["reason"].startswith("small"))

    def test_partial_last_block(self):
        model, w, _ = linear_model(80, 24)
        records = self.rewrite(model)  # K 80 over blocks of 32: stays float by default
        self.assertEqual(records[0]["reason"], "K 80 is not a multiple of the block size 32")
        self.assertEqual([n.op_type for n in model.graph.node], ["MatMul"])
        records = self.rewrite(model, whole_blocks=False)
        self.assertEqual(records[0]["reason"], "quantized")
        node = model.graph.node[0]
        self.assertEqual(inits_of(model)[node.input[1]].shape, (24, 3, 16))

    def test_shared_weight_stays(self):
        model, _, _ = linear_model(64, 40, extra_consumer=True)
        self.rewrite(model)
        self.assertIn("W", inits_of(model))
        np.testing.assert_array_equal(inits_of(model)["W"].shape, (64, 40))

    def test_activation_matmul_untouched(self):
        a = helper.make_tensor_value_info("A", TensorProto.FLOAT, [2, 8])
        b = helper.make_tensor_value_info("B", TensorProto.FLOAT, [8, 4])
        y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 4])
        model = helper.make_model(helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["Y"])], "g", [a, b], [y]))
        self.assertEqual(qz.quantize_matmuls(model, 4), [])
        self.assertEqual(model.graph.node[0].op_type, "MatMul")

    def test_external_data_must_be_loaded(self):
        model, _, _ = linear_model(64, 40)
        with tempfile.TemporaryDirectory() as d:
            onnx.save_model(model, f"{d}/m.onnx", save_as_external_data=True, location="m.data", size_threshold=0)
            lazy = onnx.load(f"{d}/m.onnx", load_external_data=False)
            with self.assertRaisesRegex(ValueError, "load_external_data=True"):
                qz.quantize_matmuls(lazy, 4, min_elements=16)
            full = onnx.load(f"{d}/m.onnx")
            self.assertEqual(qz.quantize_matmuls(full, 4, min_elements=16)[0]["reason"], "quantized")

    def test_default_keep(self):
        keep = qz.default_keep
        self.assertTrue(keep("denoiser", "proj_out"))
        self.assertTrue(keep("denoiser", "condition_embedder.time_proj"))
        self.assertTrue(keep("denoiser", "time_embedder.linear_1"))
        self.assertTrue(keep("denoiser", "MatMul"))  # the patch embedding, at the graph's top level
        self.assertTrue(keep("denoiser", "patch_embedding"))
        self.assertFalse(keep("denoiser", "blocks.0.attn1.MatMul"))
        self.assertFalse(keep("denoiser", "blocks.3.ffn.net.0.proj"))
        self.assertFalse(keep("denoiser", "blocks.3.attn2.to_k"))
        self.assertFalse(keep("textEncoder", "block.0.layer.1.DenseReluDense.wo"))
        with self.assertRaisesRegex(ValueError, "vaeDecoder|component"):
            keep("vaeDecoder", "x")


class EmbeddingRows(unittest.TestCase):
    def test_format_by_hand(self):
        row = np.zeros(32, np.float32)
        row[:3] = [7, -7, 1]  # block 0: max 7 -> scale 1
        row[16], row[31] = 3.5, -1  # block 1: max 3.5 -> scale 0.5
        table = np.stack([row, np.zeros(32, np.float32)])
        codes, scales = qz.quantize_rows(table, 4, 16)
        self.assertEqual(scales.dtype, np.float16)
        np.testing.assert_array_equal(scales, [1.0, 0.5, 0.0, 0.0])
        raw = np.frombuffer(codes, np.uint8)
        self.assertEqual(len(raw), 2 * 32 // 2)
        self.assertEqual(raw[0], (7 + 8) | ((-7 + 8) << 4))  # low nibble = even index
        self.assertEqual(raw[1], (1 + 8) | (8 << 4))
        self.assertEqual(raw[8], (7 + 8) | (8 << 4))  # 3.5 / 0.5 = 7
        self.assertEqual(raw[15], 8 | ((-2 + 8) << 4))  # -1 / 0.5 = -2
        np.testing.assert_array_equal(raw[16:], 0x88)  # a zero row: scale 0, codes at the midpoint
        codes8, scales8 = qz.quantize_rows(table, 8, 16)
        self.assertEqual(np.frombuffer(codes8, np.uint8)[0], 127 + 128)
        np.testing.assert_array_equal(scales8, np.array([7 / 127, 3.5 / 127, 0, 0], np.float16))

    def test_round_trip_and_rows(self):
        rng = np.random.default_rng(4)
        table = rng.standard_normal((50, 64)).astype(np.float32)
        for bits, block in ((8, 64), (8, 16), (4, 32), (4, 16)):
            codes, scales = qz.quantize_rows(table, bits, block)
            self.assertEqual(len(codes), 50 * 64 * bits // 8)
            back = qz.dequantize_rows(codes, scales, 50, 64, bits, block)
            step = np.repeat(scales.astype(np.float32).reshape(50, -1), block, axis=1)
            self.assertTrue(np.all(np.abs(back - table) <= step / 2 + 1e-6), (bits, block))
            np.testing.assert_array_equal(qz.dequantize_rows(codes, scales, 50, 64, bits, block, rows=[3, 0, 3]),
                                          back[[3, 0, 3]])

    def test_file_and_errors(self):
        table = np.random.default_rng(5).standard_normal((4, 32)).astype(np.float32)
        with tempfile.TemporaryDirectory() as d:
            qz.write_embedding(f"{d}/e.bin", table, 4, 16)
            data = Path(f"{d}/e.bin").read_bytes()
        self.assertEqual(len(data), 4 * 32 // 2 + 4 * 2 * 2)
        codes, scales = qz.quantize_rows(table, 4, 16)
        self.assertEqual(data, codes + scales.astype("<f2").tobytes())
        with self.assertRaisesRegex(ValueError, "multiple of the block size"):
            qz.quantize_rows(np.zeros((2, 40), np.float32), 8, 16)


if __name__ == "__main__":
    unittest.main()
