"""ONNX post-processing with the plain `onnx` package: explicit Conv attributes, fp16 and int8
weight variants (weights stored low-precision, cast/dequantized in-graph; I/O and compute fp32).

onnxruntime constant-folds Cast/Mul chains whose inputs are all initializers when the session is
created, so the WebGPU and wasm kernels only ever see fp32 weights.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def fix_conv_attributes(model):
    """JSEP's WebGPU Conv fails without explicit dilations; write all four attributes."""
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: a for a in node.attribute}
        w = inits[node.input[1]]
        k = list(w.dims[2:])
        n = len(k)
        if "kernel_shape" not in attrs:
            node.attribute.append(helper.make_attribute("kernel_shape", k))
        if "strides" not in attrs:
            node.attribute.append(helper.make_attribute("strides", [1] * n))
        if "dilations" not in attrs:
            node.attribute.append(helper.make_attribute("dilations", [1] * n))
        if "pads" not in attrs:
            node.attribute.append(helper.make_attribute("pads", [0] * (2 * n)))
    return model


def _consumers(model):
    out = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            out.setdefault(name, []).append((node, i))
    return out


def to_fp16_weights(model, min_elems=16):
    """Store float initializers as fp16 and insert Cast(to=float) in front of them."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    new_inits, casts = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size >= min_elems:
            h = numpy_helper.from_array(arr.astype(np.float16), init.name + "__fp16")
            new_inits.append(h)
            casts.append(helper.make_node("Cast", [h.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + "__cast"))
        else:
            new_inits.append(init)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    return model


def to_int8_weights(model, min_elems=4096):
    """Symmetric per-output-channel int8 for MatMul/Gemm weight matrices: W = Cast(q) * scale."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    cons = _consumers(model)
    new_inits, extra = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        users = cons.get(init.name, [])
        if arr.dtype != np.float32 or arr.ndim != 2 or arr.size < min_elems or not users:
            new_inits.append(init)
            continue
        node, idx = users[0]
        ok = all(n.op_type in ("MatMul", "Gemm") and i == 1 for n, i in users)
        if not ok:
            new_inits.append(init)
            continue
        trans_b = any(a.name == "transB" and a.i == 1 for a in node.attribute) if node.op_type == "Gemm" else False
        axis = 1 if trans_b else 0  # reduce over the input dimension
        amax = np.abs(arr).max(axis=axis, keepdims=True)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.round(arr / scale), -127, 127).astype(np.int8)
        qi = numpy_helper.from_array(q, init.name + "__int8")
        si = numpy_helper.from_array(scale, init.name + "__scale")
        new_inits += [qi, si]
        extra.append(helper.make_node("Cast", [qi.name], [init.name + "__f"], to=TensorProto.FLOAT,
                                      name=init.name + "__cast"))
        extra.append(helper.make_node("Mul", [init.name + "__f", si.name], [init.name], name=init.name + "__deq"))
    del g.initializer[:]
    g.initializer.extend(new_inits)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(extra + nodes)
    return model


def op_types(model):
    return sorted({n.op_type for n in model.graph.node})
