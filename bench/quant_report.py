"""Graphs for checking and measuring convert/kinema_convert/quantize.py in onnxruntime (run from Node).

    /usr/bin/python3 bench/quant_report.py layout --out DIR   # small MatMulNBits cases for test/convert/quantize-ort.test.ts
    /usr/bin/python3 bench/quant_report.py exported --out DIR # the tiny umT5 export, quantized (same test; needs torch)
    /usr/bin/python3 bench/quant_report.py report --out DIR   # real-shape layers for bench/quant-report.mjs

Each writes DIR/cases.json and, per case, ONNX graphs and raw little-endian float32 arrays (`.f32`, shapes in
the JSON), so Node reads them without a .npy parser.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "convert"))

from kinema_convert import onnx_export  # noqa: E402
from kinema_convert import quantize as qz  # noqa: E402


def write_f32(path: Path, array) -> dict:
    a = np.ascontiguousarray(array, dtype="<f4")
    path.write_bytes(a.tobytes())
    return {"file": path.name, "shape": list(a.shape)}


def linear_model(w: np.ndarray, a_shape, bias=None) -> onnx.ModelProto:
    """Y = A @ W (+ bias) as torch's exporter writes a Linear: MatMul with an initializer, then Add."""
    k, n = w.shape
    nodes = [helper.make_node("MatMul", ["A", "W"], ["Y0" if bias is not None else "Y"], name="/layer/MatMul")]
    inits = [numpy_helper.from_array(np.ascontiguousarray(w, dtype=np.float32), "W")]
    if bias is not None:
        nodes.append(helper.make_node("Add", ["Y0", "bias"], ["Y"], name="/layer/Add"))
        inits.append(numpy_helper.from_array(bias.astype(np.float32), "bias"))
    graph = helper.make_graph(nodes, "linear", [helper.make_tensor_value_info("A", TensorProto.FLOAT, list(a_shape))],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(a_shape[:-1]) + [n])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", onnx_export.OPSET)])


def quantized_arrays(model):
    node = next(n for n in model.graph.node if n.op_type == "MatMulNBits")
    t = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    zp = t[node.input[3]] if len(node.input) > 3 and node.input[3] else None
    return t[node.input[1]], t[node.input[2]], zp


# ------------------------------------------------------------------------------------------------ layout

LAYOUT = [  # bits, block, zero points, K, N, A shape (K appended), bias, fp16 weight behind a Cast
    (4, 32, False, 64, 24, (5,), False, False),
    (4, 32, True, 64, 24, (5,), False, False),
    (8, 32, False, 64, 24, (5,), False, False),
    (8, 32, True, 64, 24, (5,), False, False),
    (4, 16, False, 80, 20, (2, 3), False, False),  # K = 5 blocks of 16: odd count of packed zero points below
    (4, 16, True, 80, 20, (2, 3), False, False),
    (4, 32, True, 100, 17, (2, 3), False, False),  # K not a multiple of the block: padded last block
    (8, 128, False, 200, 33, (2, 3), False, False),
    (8, 64, True, 200, 33, (2, 3), True, False),
    (4, 32, False, 96, 40, (1, 7), True, True),   # the converter's fp16 storage, bias folded
    (8, 16, True, 48, 16, (3,), True, True),
]


def dq_layout_case(out: Path, i: int, rng, k, n, lead, bias, fp16) -> dict:
    """A DequantizeLinear + MatMul case (int8 per column) for the same test."""
    w = rng.standard_normal((k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    a = rng.standard_normal(lead + (k,)).astype(np.float32)
    model = linear_model(w, a.shape, b)
    if fp16:
        onnx_export.fp16_weights_in_place(model)
    records = qz.quantize_matmuls(model, 8, min_elements=1, op="DequantizeLinear")
    onnx.checker.check_model(model)
    assert [r["reason"] for r in records] == ["quantized"], records
    dq = next(nd for nd in model.graph.node if nd.op_type == "DequantizeLinear")
    t = {x.name: numpy_helper.to_array(x) for x in model.graph.initializer}
    deq = t[dq.input[0]].astype(np.float64) * t[dq.input[1]].astype(np.float64)
    bias64 = 0.0 if b is None else (b.astype(np.float16) if fp16 else b).astype(np.float64)
    name = f"case{i}"
    onnx.save(model, str(out / f"{name}.onnx"))
    return {"name": name, "op": "DequantizeLinear", "bits": 8, "blockSize": k, "zeroPoints": False, "K": k, "N": n,
            "bias": bias, "fp16": fp16, "model": f"{name}.onnx", "input": write_f32(out / f"{name}.A.f32", a),
            "expected": write_f32(out / f"{name}.Y.f32", a.astype(np.float64) @ deq + bias64)}


def layout(out: Path) -> None:
    rng = np.random.default_rng(13)
    cases = []
    for i, (bits, block, zp, k, n, lead, bias, fp16) in enumerate(LAYOUT):
        w = rng.standard_normal((k, n)).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32) if bias else None
        a = rng.standard_normal(lead + (k,)).astype(np.float32)
        model = linear_model(w, a.shape, b)
        if fp16:
            onnx_export.fp16_weights_in_place(model)
        records = qz.quantize_matmuls(model, bits, block, zp, min_elements=1, fold_bias=bias, whole_blocks=False)
        onnx.checker.check_model(model)
        assert [r["reason"] for r in records] == ["quantized"], records
        assert [nd.op_type for nd in model.graph.node if nd.op_type != "Cast"] == ["MatMulNBits"]  # bias folded
        b_q, scales, zps = quantized_arrays(model)
        deq = qz.dequantize_weight(b_q, scales, zps, k, bits, block).astype(np.float64)
        bias64 = 0.0 if b is None else (b.astype(np.float16) if fp16 else b).astype(np.float64)
        expected = a.astype(np.float64) @ deq + bias64
        name = f"case{i}"
        onnx.save(model, str(out / f"{name}.onnx"))
        case = {"name": name, "op": "MatMulNBits", "bits": bits, "blockSize": block, "zeroPoints": zp, "K": k, "N": n, "bias": bias,
                "fp16": fp16, "model": f"{name}.onnx", "input": write_f32(out / f"{name}.A.f32", a),
                "expected": write_f32(out / f"{name}.Y.f32", expected)}
        if bits == 4:
            # the same codes read high nibble first: a layout the kernel must NOT agree with
            swapped = ((b_q >> 4) | (b_q << 4)).astype(np.uint8)
            wrong = qz.dequantize_weight(swapped, scales, zps, k, bits, block).astype(np.float64)
            case["wrongNibbleOrder"] = write_f32(out / f"{name}.wrong.f32", a.astype(np.float64) @ wrong + bias64)
        cases.append(case)
    cases.append(dq_layout_case(out, len(cases), rng, 96, 40, (2, 5), True, False))
    cases.append(dq_layout_case(out, len(cases), rng, 70, 24, (3,), False, True))
    (out / "cases.json").write_text(json.dumps({"cases": cases}, indent=1))


# ------------------------------------------------------------------------------------------------ exported

def exported(out: Path) -> None:
    """The converter's tiny umT5 encoder exported (fp32 and fp16 weights) and rewritten by quantize_matmuls as
    int8 and int4, with inputs: the rewrite on real exporter graphs, for test/convert/quantize-ort.test.ts."""
    import torch  # only this case needs torch
    from kinema_convert import umt5

    config = umt5.default_config("tiny")
    module = umt5.build(config)
    umt5.load_weights(module, umt5.random_checkpoint(config, 3))
    rng = np.random.default_rng(5)
    hidden = rng.standard_normal((2, 7, config["d_model"])).astype(np.float32)
    mask = np.ones((2, 7), dtype=np.int64)
    mask[1, 4:] = 0
    graphs = []
    for weights in ("fp32", "fp16"):
        folder = out / weights
        umt5.export(module, config, folder, weights)
        src = folder / onnx_export.graph_file_name("text_encoder", weights)
        base = onnx.load(str(src))
        onnx.save(base, str(out / f"te.{weights}.onnx"))
        graphs.append({"weights": weights, "bits": None, "model": f"te.{weights}.onnx"})
        for bits in (8, 4):
            model = onnx.load(str(src))
            records = qz.quantize_matmuls(model, bits, 16, zero_points=bits == 4, min_elements=1)
            onnx.checker.check_model(model)
            name = f"te.{weights}.int{bits}.onnx"
            onnx.save(model, str(out / name))
            graphs.append({"weights": weights, "bits": bits, "model": name,
                           "quantized": sum(r["reason"] == "quantized" for r in records),
                           "matMulNBits": sum(n.op_type == "MatMulNBits" for n in model.graph.node),
                           "floatMatMulWeights": sum(1 for r in records if r["bits"] == "kept")})
    (out / "mask.i64").write_bytes(mask.astype("<i8").tobytes())
    del torch
    (out / "cases.json").write_text(json.dumps({
        "hidden": write_f32(out / "hidden.f32", hidden), "mask": {"file": "mask.i64", "shape": list(mask.shape)},
        "layers": config["num_layers"], "graphs": graphs}, indent=1))


# ------------------------------------------------------------------------------------------------ report

# (component, layer, K, N): every linear layer type of umT5-XXL and of the Wan2.1 1.3B DiT at its real shape.
LAYERS = [
    ("textEncoder", "SelfAttention.q/k/v/o", 4096, 4096),
    ("textEncoder", "DenseReluDense.wi_0/wi_1", 4096, 10240),
    ("textEncoder", "DenseReluDense.wo", 10240, 4096),
    ("denoiser", "patch_embedding", 64, 1536),
    ("denoiser", "attn1.to_q/k/v/out", 1536, 1536),
    ("denoiser", "attn2.to_k/v (cross)", 1536, 1536),
    ("denoiser", "ffn.net.0.proj", 1536, 8960),
    ("denoiser", "ffn.net.2", 8960, 1536),
    ("denoiser", "text_embedder.linear_1", 4096, 1536),
    ("denoiser", "text_embedder.linear_2", 1536, 1536),
    ("denoiser", "time_embedder.linear_1", 256, 1536),
    ("denoiser", "time_embedder.linear_2", 1536, 1536),
    ("denoiser", "time_proj", 1536, 9216),
    ("denoiser", "proj_out", 1536, 64),
]
VARIANTS = [(8, 32, False), (8, 64, False), (8, 128, False), (8, 128, True),
            (4, 32, False), (4, 64, False), (4, 128, False), (4, 32, True)]
EMBEDDING = (4096, 4096)  # rows sampled from the 256,384 x 4,096 table (each row is quantized on its own)


def weight_error(w, deq) -> dict:
    d = deq - w
    return {"relRms": float(np.sqrt(np.vdot(d, d) / np.vdot(w, w))), "maxAbs": float(np.abs(d).max()),
            "maxAbsWeight": float(np.abs(w).max())}


def matmul_weight_error(w, b_q, scales, zps, bits, block) -> dict:
    """weight_error of quantize.dequantize_weight's result, a few hundred columns at a time (a 4096 x 10240
    weight would otherwise make several 170 MB temporaries)."""
    k, n = w.shape
    nb = b_q.shape[1]
    s = scales.reshape(n, nb)
    z = zps.reshape(n, -1) if zps is not None else None
    ss_err = ss_w = max_err = 0.0
    step = max(1, (1 << 21) // k)
    for c0 in range(0, n, step):
        c1 = min(n, c0 + step)
        deq = qz.dequantize_weight(b_q[c0:c1], s[c0:c1].reshape(-1), None if z is None else z[c0:c1].reshape(-1),
                                   k, bits, block)
        d = deq - w[:, c0:c1]
        ss_err += float(np.vdot(d, d))
        ss_w += float(np.vdot(w[:, c0:c1], w[:, c0:c1]))
        max_err = max(max_err, float(np.abs(d).max()))
    return {"relRms": float(np.sqrt(ss_err / ss_w)), "maxAbs": max_err, "maxAbsWeight": float(np.abs(w).max())}


def report(out: Path, tokens: int, only=None) -> None:
    rng = np.random.default_rng(2026)
    layers, started = [], time.time()
    for li, (component, layer, k, n) in enumerate(LAYERS):
        if only and only not in layer:
            continue
        # torch's Linear init (kaiming uniform, bound 1/sqrt(K)) has std 1/sqrt(3K); umT5 checkpoints are
        # normal. Normal with that std: the relative errors below do not depend on the scale, only the shape.
        w = (rng.standard_normal((k, n)) / np.sqrt(3 * k)).astype(np.float32)
        a = rng.standard_normal((1, tokens, k)).astype(np.float32)
        name = f"layer{li}"
        onnx.save(linear_model(w, a.shape), str(out / f"{name}.fp32.onnx"))
        entry = {"component": component, "layer": layer, "K": k, "N": n, "fp32": f"{name}.fp32.onnx",
                 "keptByDefault": qz.default_keep(component, layer),
                 "input": write_f32(out / f"{name}.A.f32", a), "variants": []}
        for bits, block, zp in VARIANTS:
            model = linear_model(w, a.shape)
            qz.quantize_matmuls(model, bits, block, zp, min_elements=1, whole_blocks=False)
            b_q, scales, zps = quantized_arrays(model)
            file = f"{name}.int{bits}.b{block}{'.zp' if zp else ''}.onnx"
            onnx.save(model, str(out / file))
            weight_bytes = b_q.nbytes + scales.nbytes + (zps.nbytes if zps is not None else 0)
            entry["variants"].append({"bits": bits, "blockSize": block, "zeroPoints": zp, "model": file,
                                      "weightBytes": weight_bytes,
                                      "weight": matmul_weight_error(w, b_q, scales, zps, bits, block)})
            del model
        # the int8 DequantizeLinear form (one scale per column), which the JSEP WebGPU build runs
        model = linear_model(w, a.shape)
        qz.quantize_matmuls(model, 8, min_elements=1, op="DequantizeLinear")
        dq = next(nd for nd in model.graph.node if nd.op_type == "DequantizeLinear")
        t = {x.name: numpy_helper.to_array(x) for x in model.graph.initializer}
        q, scale = t[dq.input[0]], t[dq.input[1]]
        file = f"{name}.int8.dq.onnx"
        onnx.save(model, str(out / file))
        entry["variants"].append({"bits": 8, "blockSize": None, "zeroPoints": False, "op": "DequantizeLinear",
                                  "model": file, "weightBytes": q.nbytes + scale.nbytes,
                                  "weight": weight_error(w, q.astype(np.float32) * scale)})
        del model, t, q
        layers.append(entry)
    rows = []
    v, d = EMBEDDING
    table = (rng.standard_normal((v, d))).astype(np.float32)  # transformers' T5 init: normal, std 1 (factor 1.0)
    for bits in (8, 4):
        for block in (32, 64, 128):
            codes, scales = qz.quantize_rows(table, bits, block)
            back = qz.dequantize_rows(codes, scales, v, d, bits, block)
            rows.append({"bits": bits, "blockSize": block, "bytesPerRow": (len(codes) + scales.nbytes) // v,
                         "weight": weight_error(table, back)})
    (out / "cases.json").write_text(json.dumps({"tokens": tokens, "layers": layers, "embedding": {
        "rows": v, "dim": d, "variants": rows}, "pythonSeconds": round(time.time() - started, 1)}, indent=1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["layout", "exported", "report"])
    p.add_argument("--out", required=True, help="an empty folder to write into")
    p.add_argument("--tokens", type=int, default=64, help="rows of the random input A (report)")
    p.add_argument("--only", help="report only layers whose name contains this (report)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.what == "layout":
        layout(out)
    elif args.what == "exported":
        exported(out)
    else:
        report(out, args.tokens, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
