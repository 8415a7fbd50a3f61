"""Weight-only block quantization: MatMul weights as onnxruntime's `com.microsoft` `MatMulNBits`, and the
umT5 embedding table as int8/int4 rows that kinema dequantizes per looked-up token (src/families/wan/embedding.ts).

MatMulNBits (onnxruntime's contrib op, read in its docs/ContribOperators.md; the layout is held to
onnxruntime-web's wasm kernel by test/convert/quantize-ort.test.ts):
  inputs  A [..., K] float32, B uint8 [N, n_blocks, block_size * bits / 8], scales float32 [N * n_blocks],
          zero_points uint8 (optional; [N * ceil(n_blocks * bits / 8)], packed like B), g_idx (unused,
          empty name), bias float32 [N] (optional)
  attrs   K, N, bits (4 | 8), block_size (a power of two >= 16), accuracy_level
  value   W[k, n] = (code - zero_point) * scale over the block of K that holds k, per column n; a missing
          zero point means 2^(bits-1). 4-bit codes: two per byte, the low nibble first (even k).
A K that is not a multiple of the block size is padded with zeros inside the last block.

Symmetric blocks (no zero points) put the block's extreme value at code 0 (scale = extreme / -2^(bits-1)),
so all 2^bits codes are used; asymmetric blocks span [min(x, 0), max(x, 0)] with a uint8 zero point.

Everything is numpy on float32 and works through the columns in chunks, so a 4096 x 10240 matrix never
makes more than a few tens of MB of temporaries.
"""
import re
from typing import Callable, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MS_DOMAIN = "com.microsoft"
DEFAULT_BLOCK_SIZE = {4: 32, 8: 128}
# Below this many weight values a MatMul stays float: the scales, the extra node and the kernel's
# dispatch cost more than the bytes saved (e.g. the patch embedding's 64 x dim at tiny configs).
MIN_ELEMENTS = 4096
_CHUNK_VALUES = 1 << 22  # ~16 MB of float32 per working chunk


def check_format(bits: int, block_size: int) -> None:
    if isinstance(bits, bool) or bits not in (4, 8):
        raise ValueError(f"`bits` must be 4 or 8; got {bits!r}")
    if (isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 16
            or block_size & (block_size - 1)):
        raise ValueError(f"`block_size` must be a power of two >= 16 (e.g. 32, 64, 128); got {block_size!r}")


def _pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """uint8 codes [..., L] (L even for 4 bits) -> bytes [..., L * bits / 8], low nibble = even index."""
    if bits == 8:
        return codes
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)


def _unpack(packed: np.ndarray, bits: int, length: int) -> np.ndarray:
    if bits == 8:
        return packed[..., :length]
    out = np.empty(packed.shape[:-1] + (packed.shape[-1] * 2,), dtype=np.uint8)
    out[..., 0::2] = packed & 0x0F
    out[..., 1::2] = packed >> 4
    return out[..., :length]


def _quantize_blocks(blocks: np.ndarray, bits: int, zero_points: bool):
    """float32 [..., block] -> (codes uint8 [..., block], scales float32 [...], zero points uint8 [...] | None)."""
    top = (1 << bits) - 1
    if zero_points:
        lo = np.minimum(blocks.min(axis=-1), 0.0)
        hi = np.maximum(blocks.max(axis=-1), 0.0)
        scale = ((hi - lo) / top).astype(np.float32)
        inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
        zp = np.clip(np.rint(-lo * inv), 0, top).astype(np.float32)
        codes = np.clip(np.rint(blocks * inv[..., None]) + zp[..., None], 0, top).astype(np.uint8)
        return codes, scale, zp.astype(np.uint8)
    mid = 1 << (bits - 1)
    idx = np.abs(blocks).argmax(axis=-1)
    extreme = np.take_along_axis(blocks, idx[..., None], axis=-1)[..., 0]
    scale = (extreme / -mid).astype(np.float32)  # the extreme value lands exactly on code 0
    inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)
    codes = np.clip(np.rint(blocks * inv[..., None]) + mid, 0, top).astype(np.uint8)
    return codes, scale, None


def quantize_weight(b: np.ndarray, bits: int, block_size: int, zero_points: bool = False):
    """A MatMul weight B [K, N] -> (B_q uint8 [N, n_blocks, block_size*bits/8], scales float32 [N*n_blocks],
    zero_points uint8 [N*ceil(n_blocks*bits/8)] | None) in MatMulNBits' layout."""
    check_format(bits, block_size)
    if b.ndim != 2:
        raise ValueError(f"a MatMulNBits weight must be 2-D [K, N]; got shape {b.shape}")
    k, n = b.shape
    nb = -(-k // block_size)
    blob = block_size * bits // 8
    zp_bytes = -(-nb * bits // 8)
    out_b = np.empty((n, nb, blob), dtype=np.uint8)
    out_s = np.empty((n, nb), dtype=np.float32)
    out_z = np.empty((n, zp_bytes), dtype=np.uint8) if zero_points else None
    step = max(1, _CHUNK_VALUES // (nb * block_size))
    for c0 in range(0, n, step):
        c1 = min(n, c0 + step)
        cols = np.zeros((c1 - c0, nb * block_size), dtype=np.float32)
        cols[:, :k] = b[:, c0:c1].T
        codes, scale, zp = _quantize_blocks(cols.reshape(c1 - c0, nb, block_size), bits, zero_points)
        out_b[c0:c1] = _pack(codes, bits)
        out_s[c0:c1] = scale
        if zero_points:
            if bits == 4 and nb % 2:
                zp = np.concatenate([zp, np.zeros((c1 - c0, 1), dtype=np.uint8)], axis=1)
            out_z[c0:c1] = _pack(zp, bits)
    return out_b, out_s.reshape(-1), (out_z.reshape(-1) if zero_points else None)


def dequantize_weight(b_q: np.ndarray, scales: np.ndarray, zero_points: Optional[np.ndarray], k: int,
                      bits: int, block_size: int) -> np.ndarray:
    """The numpy reference of MatMulNBits' weight: float32 [K, N] from quantize_weight's arrays."""
    check_format(bits, block_size)
    n, nb, _ = b_q.shape
    codes = _unpack(b_q, bits, block_size).astype(np.float32)  # [N, nb, block]
    if zero_points is None:
        zp = np.full((n, nb), float(1 << (bits - 1)), dtype=np.float32)
    else:
        zp = _unpack(zero_points.reshape(n, -1), bits, nb).astype(np.float32)
    w = (codes - zp[..., None]) * scales.reshape(n, nb)[..., None]
    return np.ascontiguousarray(w.reshape(n, nb * block_size)[:, :k].T)


def quantize_columns_int8(b: np.ndarray):
    """B [K, N] -> (int8 [K, N], float32 scales [N]): symmetric per column, scale = max|B[:, n]| / 127 (the
    DequantizeLinear form of quantize_matmuls). Rows are processed in chunks."""
    if b.ndim != 2:
        raise ValueError(f"a MatMul weight must be 2-D [K, N]; got shape {b.shape}")
    k, n = b.shape
    scale = (np.abs(b).max(axis=0) / 127).astype(np.float32)
    inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0)
    q = np.empty((k, n), dtype=np.int8)
    step = max(1, _CHUNK_VALUES // max(1, n))
    for r0 in range(0, k, step):
        q[r0:r0 + step] = np.clip(np.rint(b[r0:r0 + step] * inv), -127, 127)
    return q, scale


# ----------------------------------------------------------------------------------------------------------
# The graph rewrite


def layer_name(node: onnx.NodeProto, fallback: str) -> str:
    """The module path torch's exporter put in a node's name ('/blocks.0/attn1/to_q/MatMul' ->
    'blocks.0.attn1.to_q'); a node at the graph's top level gives its own name ('/MatMul' -> 'MatMul'),
    a node without a name its weight's initializer name."""
    parts = [p for p in node.name.split("/") if p]
    if len(parts) >= 2:
        return ".".join(parts[:-1])
    return parts[0] if parts else fallback  # a top-level node: '/MatMul' -> 'MatMul'


def _keep_nothing(_name: str) -> bool:
    return False


def quantize_matmuls(model: onnx.ModelProto, bits: int, block_size: Optional[int] = None, zero_points: bool = False,
                     keep: Callable[[str], bool] = _keep_nothing, min_elements: int = MIN_ELEMENTS,
                     fold_bias: bool = False, whole_blocks: bool = True, op: str = "MatMulNBits") -> list:
    """Rewrite, in place, every MatMul whose B is a 2-D float initializer (float32, or float16 behind the
    Cast that onnx_export.fp16_weights_in_place writes) as MatMulNBits.

    op="DequantizeLinear" (bits 8 only) writes instead an int8 weight [K, N] with one float32 scale per
    column (symmetric, per-axis, opset 13) and DequantizeLinear -> MatMul: onnxruntime-web 1.30's JSEP
    WebGPU build (the one src/runtime/ort.ts loads) refuses 8-bit MatMulNBits but places both of these
    nodes on the GPU (measured in Chromium, bench/quant-report.md), and onnxruntime's CPU optimizer fuses
    the pair back into MatMulNBits. block_size, zero_points, fold_bias and whole_blocks do not apply. `keep(layer)` gets the layer's
    module path (see layer_name) and True leaves that MatMul in float; so do weights with fewer than
    `min_elements` values. With `fold_bias`, an Add of a 1-D initializer [N] that alone consumes the
    MatMul's output becomes MatMulNBits' bias input: onnxruntime's CPU kernel (wasm, node) takes it, but
    onnxruntime-web 1.30's WebGPU (JSEP) kernel refuses more than 4 inputs ("MatMulNBits requires 3 or 4
    inputs", its matmulnbits.ts), so the default keeps the Add and the graph runs on both. With
    `whole_blocks`, a MatMul whose K is not a multiple of block_size stays float: that JSEP kernel fails on
    a zero-padded last block ("cannot convert shape"); the CPU kernels and the native WebGPU EP
    (onnxruntime-web/webgpu) run it. None of Wan2.1's real layers has such a K at blocks 16 to 128. The model's initializers must hold their data
    (onnx.load(..., load_external_data=True)). Returns one record per MatMul with an initializer weight:
    {name, initializer, K, N, bits (int, or 'kept'), block_size, reason}."""
    if op not in ("MatMulNBits", "DequantizeLinear"):
        raise ValueError(f"`op` must be 'MatMulNBits' or 'DequantizeLinear'; got {op!r}")
    per_column = op == "DequantizeLinear"
    if per_column and bits != 8:
        raise ValueError(f"op='DequantizeLinear' stores int8 weights: `bits` must be 8; got {bits!r}")
    if block_size is None:
        block_size = DEFAULT_BLOCK_SIZE.get(bits, 32)
    check_format(bits, block_size)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {o: node for node in g.node for o in node.output}
    consumers: dict = {}
    for node in g.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    graph_outputs = {o.name for o in g.output}

    def weight_of(name):
        """(initializer, cast node or None) behind a MatMul/Add input, or (None, None)."""
        if name in inits:
            return inits[name], None
        p = producer.get(name)
        if (p is not None and p.op_type == "Cast" and len(p.input) == 1 and p.input[0] in inits
                and inits[p.input[0]].data_type in (TensorProto.FLOAT16, TensorProto.FLOAT)
                and any(a.name == "to" and a.i == TensorProto.FLOAT for a in p.attribute)):
            return inits[p.input[0]], p
        return None, None

    def to_array(t):
        if t.data_location == TensorProto.EXTERNAL and not t.raw_data:
            raise ValueError(f"initializer {t.name!r} has its data outside the model: load it with "
                             "onnx.load(path, load_external_data=True) before quantize_matmuls")
        return numpy_helper.to_array(t).astype(np.float32)

    records, replaced, dropped_nodes = [], {}, set()
    used_names = set(inits) | {o for node in g.node for o in node.output}

    def fresh(base):
        name, i = base, 1
        while name in used_names:
            name, i = f"{base}_{i}", i + 1
        used_names.add(name)
        return name

    new_inits = []
    for node in g.node:
        if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx"):
            continue
        init, cast = weight_of(node.input[1])
        if init is None or len(init.dims) != 2 or init.data_type not in (TensorProto.FLOAT, TensorProto.FLOAT16):
            continue
        k, n = int(init.dims[0]), int(init.dims[1])
        name = layer_name(node, init.name)
        record = {"name": name, "initializer": init.name, "K": k, "N": n, "bits": "kept", "block_size": None}
        records.append(record)
        if k * n < min_elements:
            record["reason"] = f"small ({k * n} < {min_elements} values)"
            continue
        if keep(name):
            record["reason"] = "keep rule"
            continue
        if whole_blocks and k % block_size and not per_column:
            record["reason"] = f"K {k} is not a multiple of the block size {block_size}"
            continue
        base = re.sub(r"[^A-Za-z0-9_.]", "_", name).strip("_") or "w"
        w = to_array(init)
        if per_column:
            q, scale = quantize_columns_int8(w)
            del w
            q_name, s_name, w_name = fresh(f"{base}.int8"), fresh(f"{base}.scales"), fresh(f"{base}.dequantized")
            new_inits += [numpy_helper.from_array(q, q_name), numpy_helper.from_array(scale, s_name)]
            replaced[id(node)] = [
                helper.make_node("DequantizeLinear", [q_name, s_name], [w_name], axis=1, name=f"{node.name}_dequantize"),
                helper.make_node("MatMul", [node.input[0], w_name], list(node.output), name=node.name)]
            record.update(bits=8, reason="quantized", op=op)
        else:
            b_q, scales, zps = quantize_weight(w, bits, block_size, zero_points)
            del w
            q_name, s_name = fresh(f"{base}.q{bits}"), fresh(f"{base}.scales")
            new_inits += [numpy_helper.from_array(b_q, q_name), numpy_helper.from_array(scales, s_name)]
            inputs = [node.input[0], q_name, s_name]
            if zps is not None:
                z_name = fresh(f"{base}.zero_points")
                new_inits.append(numpy_helper.from_array(zps, z_name))
                inputs.append(z_name)
            output, at = node.output[0], node
            users = consumers.get(output, [])
            if fold_bias and len(users) == 1 and users[0].op_type == "Add" and output not in graph_outputs:
                add = users[0]
                other = add.input[1] if add.input[0] == output else add.input[0]
                b_init, _ = weight_of(other)
                if b_init is not None and list(b_init.dims) == [n] and add.input[0] != add.input[1]:
                    inputs += [""] * (4 - len(inputs)) + ["", other]  # zero_points (maybe empty), g_idx empty, bias
                    output = add.output[0]
                    record["bias"] = b_init.name
                    at = add  # the node takes the Add's place: the bias is surely computed by then
            replaced[id(at)] = [helper.make_node("MatMulNBits", inputs, [output], name=node.name or fresh("MatMulNBits"),
                                                 domain=MS_DOMAIN, K=k, N=n, bits=bits, block_size=block_size,
                                                 accuracy_level=0)]
            if at is not node:
                dropped_nodes.add(id(node))
            record.update(bits=bits, block_size=block_size, reason="quantized", zero_points=bool(zero_points))
        # Free the float bytes now: a real shard holds GBs of them. Unused tensors are removed below.
        consumers[node.input[1]] = [c for c in consumers.get(node.input[1], []) if c is not node]
        if not consumers[node.input[1]] and cast is not None:
            dropped_nodes.add(id(cast))
            consumers[cast.input[0]] = [c for c in consumers.get(cast.input[0], []) if c is not cast]
        if not consumers.get(init.name):
            init.ClearField("raw_data")
            del init.float_data[:]
            del init.int32_data[:]

    if not replaced:
        return records
    nodes = [new for node in g.node if id(node) not in dropped_nodes for new in replaced.get(id(node), [node])]
    # A bias whose Add went away is now consumed by the MatMulNBits; an Add input Cast stays as it is.
    del g.node[:]
    g.node.extend(nodes)
    still_used = {i for node in g.node for i in node.input} | graph_outputs
    kept_inits = [t for t in g.initializer if t.name in still_used] + new_inits
    del g.initializer[:]
    g.initializer.extend(kept_inits)
    produced = {o for node in g.node for o in node.output}
    infos = [vi for vi in g.value_info if vi.name in produced]
    del g.value_info[:]
    g.value_info.extend(infos)
    if not per_column and not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return records


# ----------------------------------------------------------------------------------------------------------
# The embedding table (role "embedding"): codes then float16 scales, docs in src/families/wan/embedding.ts


def quantize_rows(table: np.ndarray, bits: int, block_size: int):
    """[V, D] -> (codes bytes, scales float16 [V * D / block_size]). Symmetric per block of `block_size`
    values within a row: scale = max|x| / (2^(bits-1) - 1), code = round(x / scale) + 2^(bits-1), stored
    unsigned; int4 two per byte, low nibble = even index. Rows are processed in chunks."""
    check_format(bits, block_size)
    if table.ndim != 2:
        raise ValueError(f"the embedding table must be 2-D [vocab, dim]; got shape {table.shape}")
    v, d = table.shape
    if d % block_size:
        raise ValueError(f"the embedding dim {d} must be a multiple of the block size {block_size}")
    qmax = (1 << (bits - 1)) - 1
    mid = 1 << (bits - 1)
    codes = np.empty((v, d * bits // 8), dtype=np.uint8)
    scales = np.empty((v, d // block_size), dtype=np.float16)
    step = max(1, _CHUNK_VALUES // d)
    for r0 in range(0, v, step):
        r1 = min(v, r0 + step)
        blocks = np.asarray(table[r0:r1], dtype=np.float32).reshape(r1 - r0, d // block_size, block_size)
        # The stored (fp16) scale is the one the reader multiplies by: quantize with it.
        s = (np.abs(blocks).max(axis=-1) / qmax).astype(np.float16)
        s32 = s.astype(np.float32)
        inv = np.divide(1.0, s32, out=np.zeros_like(s32), where=s32 > 0)
        q = np.clip(np.rint(blocks * inv[..., None]), -qmax, qmax) + mid
        codes[r0:r1] = _pack(q.astype(np.uint8).reshape(r1 - r0, d), bits)
        scales[r0:r1] = s
    return codes.tobytes(), scales.reshape(-1)


def dequantize_rows(codes: bytes, scales: np.ndarray, vocab: int, dim: int, bits: int, block_size: int,
                    rows=None) -> np.ndarray:
    """The numpy reference of the reader: float32 [len(rows) or vocab, dim]."""
    check_format(bits, block_size)
    packed = np.frombuffer(codes, dtype=np.uint8).reshape(vocab, dim * bits // 8)
    s = np.asarray(scales, dtype=np.float16).reshape(vocab, dim // block_size)
    if rows is not None:
        packed, s = packed[np.asarray(rows)], s[np.asarray(rows)]
    q = _unpack(packed, bits, dim).astype(np.float32) - (1 << (bits - 1))
    return (q.reshape(len(q), dim // block_size, block_size) * s.astype(np.float32)[..., None]).reshape(len(q), dim)


def write_embedding(path, table: np.ndarray, bits: int, block_size: int) -> None:
    """The embedding file: codes, then the float16 scales little-endian."""
    codes, scales = quantize_rows(table, bits, block_size)
    with open(path, "wb") as f:
        f.write(codes)
        f.write(scales.astype("<f2").tobytes())


# ----------------------------------------------------------------------------------------------------------
# Which layers stay float (measured by `npm run quant-report`, bench/quant-report.md)

_KEEP = {
    # The timestep MLP and its 6-way modulation projection (every block's shift/scale/gate comes from
    # them), the output head, and the patch embedding: the input and output projections. The patch
    # embedding is a MatMul at the graph's top level (wan_transformer.forward_graph), so its layer name
    # is the bare node name, "MatMul".
    "denoiser": re.compile(r"(^|\.)(time_embedder|time_proj|condition_embedder\.time)"
                           r"|(^|\.)(proj_out|patch_embedding)$|^MatMul(_\d+)?$"),
    "textEncoder": None,
}


def default_keep(component: str, name: str) -> bool:
    """True for the layers kinema leaves in float when quantizing `component` ('textEncoder' or 'denoiser'):
    `name` is the layer name quantize_matmuls passes to `keep`. Use it as
    `quantize_matmuls(model, 8, keep=lambda n: default_keep('denoiser', n))`."""
    if component not in _KEEP:
        raise ValueError(f"`component` must be one of {', '.join(sorted(_KEEP))}; got {component!r} "
                         "(the VAE decoder is convolutions: it stays fp16, MatMulNBits does not apply)")
    rule = _KEEP[component]
    return bool(rule and rule.search(name))
