"""ONNX export shared by every component: opset 17, external data in one `<graph>.onnx.data` file
per graph, fp16 weight storage (initializers stored fp16, a Cast to fp32 in front, so inputs,
outputs and arithmetic stay fp32), explicit Conv attributes, and the size limit checked.

torch 1.13's exporter writes one external file per tensor once a model passes 2 GB, so every export
goes to a scratch folder first and is then loaded, rewritten and saved in the final layout. The
rewrite never serializes the whole model to one protobuf (that fails past 2 GB).
"""
import contextlib
import hashlib

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
from kinema_micro.onnx_tools import fix_conv_attributes  # noqa: E402  (same rule the micro export follows)

OPSET = 17
# protobuf's hard limit for one message, and the bound we keep every written file under, so a
# graph and each external-data file can be read by any onnx/onnxruntime and by 32-bit offsets.
FILE_LIMIT = 2 ** 31 - 1
FP16_MIN_ELEMENTS = 16  # smaller float initializers (scalars, eps) stay fp32: no gain, only Casts


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def file_entry(path, base, role=None) -> dict:
    """{path (POSIX, relative to base), bytes, sha256[, role]} for a written file."""
    path = Path(path)
    entry = {"path": path.relative_to(base).as_posix(), "bytes": path.stat().st_size, "sha256": sha256(path)}
    if role:
        entry["role"] = role
    return entry


def check_size(path, limit=FILE_LIMIT) -> None:
    size = Path(path).stat().st_size
    if size > limit:
        raise AssertionError(f"{path} is {size} bytes, over the {limit}-byte limit for one file; "
                             "split the component over more graphs (e.g. --text-encoder-shards) or raise "
                             "--max-file-bytes")


def fp16_weights_in_place(model: onnx.ModelProto, min_elements=FP16_MIN_ELEMENTS) -> None:
    """Store float32 initializers with at least `min_elements` values as fp16 under `<name>__fp16`
    and put Cast(to=FLOAT) nodes producing the original name in front of the graph."""
    g = model.graph
    kept, casts = [], []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims, dtype=np.int64)) >= min_elements:
            arr = numpy_helper.to_array(init)
            half = numpy_helper.from_array(arr.astype(np.float16), init.name + "__fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + "__cast"))
        else:
            kept.append(init)
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)


def even_ranges(count: int, parts: int, what: str, limit: str) -> list:
    """`count` layers as `parts` contiguous [start, stop) ranges, as even as possible (earlier parts take the
    remainder): the one sharding rule every component's export uses. `what` and `limit` name the option and
    its upper bound in the error."""
    if isinstance(parts, bool) or not isinstance(parts, int) or not 1 <= parts <= count:
        raise ValueError(f"`{what}` must be an integer from 1 to {limit}; got {parts!r}")
    base, extra = divmod(count, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


WEIGHTS = ("fp32", "fp16", "int8", "int4")
QUANT_BITS = {"int8": 8, "int4": 4}


class Quant:
    """How a quantized variant is made: quantize.quantize_matmuls(model, bits, block_size, zero_points,
    keep, min_elements) on the fp32 export. `keep(layer)` True leaves that layer's MatMul in float;
    block_size None takes quantize's default for the bit width."""

    def __init__(self, block_size=None, zero_points=False, keep=None, min_elements=None, int8_op="MatMulNBits"):
        self.block_size, self.zero_points, self.keep, self.min_elements = block_size, zero_points, keep, min_elements
        self.int8_op = int8_op  # "MatMulNBits" or "DequantizeLinear" (int8 weights, one scale per column)
        self.records = []  # one per MatMul seen, from every graph quantized with these options

    def apply(self, model: onnx.ModelProto, weights: str) -> list:
        from . import quantize
        kwargs = {}
        if self.keep is not None:
            kwargs["keep"] = self.keep
        if self.min_elements is not None:
            kwargs["min_elements"] = self.min_elements
        if weights == "int8" and self.int8_op != "MatMulNBits":
            kwargs["op"] = self.int8_op
        records = quantize.quantize_matmuls(model, QUANT_BITS[weights], self.block_size, self.zero_points, **kwargs)
        self.records += records
        return records


def matmul_bytes(k: int, n: int, weights: str, quant=None, kept=False, bias=False) -> int:
    """Bytes a [K, N] MatMul weight (+ an fp32 bias [N]) takes in a graph: 4/value fp32, 2 fp16, and for
    int8/int4 MatMulNBits' B (N x blocks x block_size x bits/8), float32 scales and, with zero points,
    packed uint8 zero points. A kept layer, one under quantize's min_elements, or one whose K is not a whole
    number of blocks stays float32."""
    extra = 4 * n if bias else 0
    if weights == "fp32":
        return k * n * 4 + extra
    if weights == "fp16":
        return k * n * 2 + (extra // 2 if extra else 0)
    from . import quantize
    bits = QUANT_BITS[weights]
    block = (quant.block_size if quant and quant.block_size else None) or quantize.DEFAULT_BLOCK_SIZE[bits]
    min_elements = quant.min_elements if quant and quant.min_elements is not None else quantize.MIN_ELEMENTS
    if kept or k * n < min_elements:
        return k * n * 4 + extra
    if bits == 8 and quant and quant.int8_op == "DequantizeLinear":
        return k * n + n * 4 + extra  # int8 [K, N] and a float32 scale per column
    if k % block:  # quantize leaves a K of partial blocks float (whole_blocks)
        return k * n * 4 + extra
    blocks = -(-k // block)
    total = n * blocks * block * bits // 8 + n * blocks * 4
    if quant and quant.zero_points:
        total += n * -(-(blocks * bits) // 8)
    return total + extra


def graph_file_name(name: str, weights: str) -> str:
    return f"{name}.onnx" if weights == "fp32" else f"{name}.{weights}.onnx"


def _check_weights(weights):
    if weights not in WEIGHTS:
        raise ValueError(f"`weights` must be one of {', '.join(WEIGHTS)}; got {weights!r}")


def export_model(module: torch.nn.Module, args: tuple, scratch_dir, *, input_names, output_names,
                 dynamic_axes=None, weights="fp32", quant=None) -> onnx.ModelProto:
    """`module(*args)` exported by torch (opset 17) and loaded back into memory with its weights, Conv
    attributes made explicit and the weight storage applied: fp16 (initializers fp16 + Casts), int8/int4
    (quant.apply: MatMulNBits; `quant` defaults to Quant()), fp32 as exported. The scratch folder is removed."""
    _check_weights(weights)
    scratch = Path(scratch_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        module.eval()
        with torch.no_grad(), warnings.catch_warnings():
            # torch 1.13 warns for every prim::Constant it cannot type; the checker still runs after saving
            warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
            torch.onnx.export(module, args, str(scratch / "graph.onnx"), opset_version=OPSET,
                              do_constant_folding=True, input_names=list(input_names),
                              output_names=list(output_names), dynamic_axes=dynamic_axes or {})
        model = onnx.load(str(scratch / "graph.onnx"), load_external_data=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    fix_conv_attributes(model)
    if weights == "fp16":
        fp16_weights_in_place(model)
    elif weights in QUANT_BITS:
        (quant or Quant()).apply(model, weights)
    return model


@contextlib.contextmanager
def no_init():
    """Build modules without their random initialisation (torch.empty storage), for parts whose every tensor is
    then loaded from a checkpoint: at real size the init alone costs seconds per layer."""
    classes = (torch.nn.Linear, torch.nn.Embedding, torch.nn.modules.conv._ConvNd)
    saved = [c.reset_parameters for c in classes]
    try:
        for c in classes:
            c.reset_parameters = lambda self: None
        yield
    finally:
        for c, f in zip(classes, saved):
            c.reset_parameters = f


def _copy(message):
    out = type(message)()
    out.CopyFrom(message)
    return out


class GraphWriter:
    """Writes one graph `<name>[.<weights>].onnx` and its external data `<file>.data` from one or more
    pieces (ModelProtos exported separately, e.g. a few layers each so that an export never holds more
    than those layers' float weights): each piece's tensors go to the data file as the piece is added and
    leave memory; the pieces are chained by tensor name (a piece's graph output feeds the later pieces'
    inputs of that name), and every other name of piece j > 0 is prefixed `p<j>/`, so names never clash.
    `finish(outputs)` writes the graph, checks it and every file against `limit`, and returns the
    manifest graph entry."""

    def __init__(self, out_dir, name: str, weights: str, limit: int = FILE_LIMIT):
        _check_weights(weights)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.name, self.weights, self.limit = name, weights, limit
        self.fname = graph_file_name(name, weights)
        self.data_name = self.fname + ".data"
        for p in (self.out_dir / self.fname, self.out_dir / self.data_name):
            if p.exists():
                p.unlink()
        self._data = open(self.out_dir / self.data_name, "wb")
        self._offset = 0
        self.graph = None   # the merged ModelProto (tensors external), from the first piece
        self._inputs, self._outputs, self._produced = [], {}, set()
        self.pieces = 0

    def _externalize(self, t):
        if t.data_location == TensorProto.EXTERNAL:
            raise AssertionError(f"tensor {t.name!r} is already external; load pieces with their data")
        if not t.HasField("raw_data"):
            arr = numpy_helper.to_array(t)
            t.CopyFrom(numpy_helper.from_array(arr, t.name))
        raw = t.raw_data
        pad = (-self._offset) % 64  # 64-byte aligned tensors
        if pad:
            self._data.write(b"\0" * pad)
            self._offset += pad
        self._data.write(raw)
        offset, length = self._offset, len(raw)
        self._offset += length
        if self._offset > self.limit:
            self._data.close()
            raise AssertionError(f"{self.out_dir / self.data_name} passes {self.limit} bytes (the file limit); "
                                 "split the component over more graphs (a larger shard count, or a larger "
                                 "--max-file-bytes)")
        t.ClearField("raw_data")
        del t.external_data[:]
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", self.data_name), ("offset", str(offset)), ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v

    def add(self, model: onnx.ModelProto) -> None:
        g = model.graph
        for node in g.node:
            for a in node.attribute:
                if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                    raise AssertionError(f"node {node.name!r} has a subgraph; GraphWriter cannot chain it")
        j = self.pieces
        io = {v.name for v in g.input} | {v.name for v in g.output}
        prefix = f"p{j}/"

        def rn(n):
            return n if (j == 0 or not n or n in io) else prefix + n

        for t in g.initializer:
            t.name = rn(t.name)
            self._externalize(t)
        for node in g.node:
            if node.name:
                node.name = rn(node.name)
            node.input[:] = [rn(n) for n in node.input]
            node.output[:] = [rn(n) for n in node.output]
        for vi in g.value_info:
            vi.name = rn(vi.name)
        inits = {t.name for t in g.initializer}
        for vi in g.input:
            if vi.name not in self._produced and vi.name not in inits \
                    and vi.name not in {x.name for x in self._inputs}:
                self._inputs.append(_copy(vi))
        for vi in g.output:
            self._produced.add(vi.name)
            self._outputs[vi.name] = _copy(vi)
        if self.graph is None:
            self.graph = model
            del model.graph.input[:]
            del model.graph.output[:]
        else:
            mg = self.graph.graph
            mg.initializer.extend(g.initializer)
            mg.node.extend(g.node)
            mg.value_info.extend(g.value_info)
            have = {(o.domain, o.version) for o in self.graph.opset_import}
            for o in model.opset_import:
                if (o.domain, o.version) not in have:
                    if any(x.domain == o.domain for x in self.graph.opset_import):
                        raise AssertionError(f"pieces import domain {o.domain!r} at different versions")
                    self.graph.opset_import.append(o)
        self.pieces += 1

    def finish(self, outputs) -> dict:
        self._data.close()
        if self.graph is None:
            raise AssertionError(f"graph {self.name}: no pieces were added")
        g = self.graph.graph
        missing = [o for o in outputs if o not in self._outputs]
        if missing:
            raise AssertionError(f"graph {self.name}: no piece outputs {missing[0]!r}")
        g.input.extend(self._inputs)
        g.output.extend([self._outputs[o] for o in outputs])
        path = self.out_dir / self.fname
        onnx.save_model(self.graph, str(path))
        self.graph = None
        onnx.checker.check_model(str(path))
        files = [path]
        data = self.out_dir / self.data_name
        if data.stat().st_size:
            files.append(data)
        else:
            data.unlink()
        for f in files:
            check_size(f, self.limit)
        entry = {"name": self.name, "files": [file_entry(files[0], self.out_dir)]}
        if len(files) > 1:
            entry["files"].append(file_entry(files[1], self.out_dir, role="external-data"))
        return entry


def export_graph(module: torch.nn.Module, args: tuple, out_dir, name: str, *, input_names, output_names,
                 dynamic_axes=None, weights="fp32", quant=None, limit=FILE_LIMIT) -> dict:
    """Export `module(*args)` as graph `name` into out_dir: `<name>.onnx` (fp32 weights) or
    `<name>.<fp16|int8|int4>.onnx`, with its external data beside it in `<file>.data`. Returns the manifest
    graph entry {"name", "files": [graph file, external data (role "external-data")]} with paths relative to
    out_dir (the converter prefixes the component's folder)."""
    _check_weights(weights)
    out_dir = Path(out_dir)
    writer = GraphWriter(out_dir, name, weights, limit)
    model = export_model(module, args, out_dir / f".{writer.fname}.export", input_names=input_names,
                         output_names=output_names, dynamic_axes=dynamic_axes, weights=weights, quant=quant)
    writer.add(model)
    del model
    return writer.finish(output_names)


def graph_io(path) -> dict:
    """{'inputs': {name: [dims]}, 'outputs': {...}} of a saved graph (dims: int or the symbolic name)."""
    m = onnx.load(str(path), load_external_data=False)

    def dims(vi):
        return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]

    def elem(vi):
        return TensorProto.DataType.Name(vi.type.tensor_type.elem_type)

    return {"inputs": {i.name: {"shape": dims(i), "dtype": elem(i)} for i in m.graph.input},
            "outputs": {o.name: {"shape": dims(o), "dtype": elem(o)} for o in m.graph.output}}


def rebase(entries, prefix: str):
    """Prefix every file path of graph entries (or file entries) with a folder, POSIX style."""
    out = []
    for e in entries:
        e = dict(e)
        if "files" in e:
            e["files"] = [dict(f, path=f"{prefix}/{f['path']}") for f in e["files"]]
        else:
            e["path"] = f"{prefix}/{e['path']}"
        out.append(e)
    return out


