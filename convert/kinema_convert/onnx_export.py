"""ONNX export shared by every component: opset 17, external data in one `<graph>.onnx.data` file
per graph, fp16 weight storage (initializers stored fp16, a Cast to fp32 in front, so inputs,
outputs and arithmetic stay fp32), explicit Conv attributes, and the size limit checked.

torch 1.13's exporter writes one external file per tensor once a model passes 2 GB, so every export
goes to a scratch folder first and is then loaded, rewritten and saved in the final layout. The
rewrite never serializes the whole model to one protobuf (that fails past 2 GB).
"""
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


def check_size(path) -> None:
    size = Path(path).stat().st_size
    if size > FILE_LIMIT:
        raise AssertionError(f"{path} is {size} bytes, over the {FILE_LIMIT}-byte limit for one file; "
                             "split the component over more graphs (e.g. --text-encoder-shards)")


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


def graph_file_name(name: str, weights: str) -> str:
    return f"{name}.onnx" if weights == "fp32" else f"{name}.{weights}.onnx"


def export_graph(module: torch.nn.Module, args: tuple, out_dir, name: str, *, input_names, output_names,
                 dynamic_axes=None, weights="fp32") -> dict:
    """Export `module(*args)` as graph `name` into out_dir: `<name>.onnx` (fp32 weights) or
    `<name>.fp16.onnx`, with its external data beside it in `<file>.data`. Returns the manifest graph
    entry {"name", "files": [graph file, external data (role "external-data")]} with paths relative to
    out_dir (the converter prefixes the component's folder)."""
    if weights not in ("fp32", "fp16"):
        raise ValueError(f"`weights` must be 'fp32' or 'fp16'; got {weights!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fname = graph_file_name(name, weights)
    scratch = out_dir / f".{fname}.export"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        module.eval()
        with torch.no_grad(), warnings.catch_warnings():
            # torch 1.13 warns for every prim::Constant it cannot type; the checker below still runs
            warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
            torch.onnx.export(module, args, str(scratch / "graph.onnx"), opset_version=OPSET,
                              do_constant_folding=True, input_names=list(input_names),
                              output_names=list(output_names), dynamic_axes=dynamic_axes or {})
        model = onnx.load(str(scratch / "graph.onnx"), load_external_data=True)
        fix_conv_attributes(model)
        if weights == "fp16":
            fp16_weights_in_place(model)
        for p in (out_dir / fname, out_dir / (fname + ".data")):
            if p.exists():
                p.unlink()
        onnx.save_model(model, str(out_dir / fname), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=fname + ".data", size_threshold=0, convert_attribute=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    onnx.checker.check_model(str(out_dir / fname))
    files = [out_dir / fname]
    if (out_dir / (fname + ".data")).exists():
        files.append(out_dir / (fname + ".data"))
    for f in files:
        check_size(f)
    entry = {"name": name, "files": [file_entry(files[0], out_dir)]}
    if len(files) > 1:
        entry["files"].append(file_entry(files[1], out_dir, role="external-data"))
    return entry


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


