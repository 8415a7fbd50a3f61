"""Checkpoint readers and a writer, with no dependency beyond numpy and torch.

safetensors is read by hand: 8 bytes little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, then the raw little-endian bytes. Tensors are views of a
copy-on-write memory map, so a 20 GB checkpoint is paged in as modules copy their weights rather
than read up front. bf16 has no numpy type: its 16 bits are the top half of an fp32, so it becomes
fp32 by a 16-bit shift (exact).

`.pt`/`.pth`/`.bin` go through torch.load(map_location='cpu'), weights-only unless the caller trusts
the file; wrappers such as {'state_dict': ...} and 'module.' prefixes are removed.
"""
import json
import os
import struct
from pathlib import Path

import numpy as np
import torch


class CheckpointError(ValueError):
    """A checkpoint file or folder that cannot be read as given; the message names the file and tensor."""


# safetensors dtype name -> (numpy dtype, bytes per element). BF16 is read as uint16 and widened.
_DTYPES = {
    "F64": (np.dtype("<f8"), 8), "F32": (np.dtype("<f4"), 4), "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2), "I64": (np.dtype("<i8"), 8), "I32": (np.dtype("<i4"), 4),
    "I16": (np.dtype("<i2"), 2), "I8": (np.dtype("i1"), 1), "U8": (np.dtype("u1"), 1),
    "BOOL": (np.dtype("?"), 1),
}
_MAX_HEADER = 100 * 1024 * 1024


def bf16_bits_to_fp32(bits: np.ndarray) -> np.ndarray:
    """bf16 stored as uint16 -> float32, exactly (the bf16 bits are the fp32's upper half)."""
    wide = np.asarray(bits, dtype=np.uint32).reshape(-1) << np.uint32(16)  # 1-d: 0-d would give a scalar
    return wide.view(np.float32).reshape(np.shape(bits))


def fp32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits as uint16, rounded to nearest even (as torch's .to(torch.bfloat16))."""
    shape = np.shape(values)  # ascontiguousarray would turn a 0-d array into 1-d
    t = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32).reshape(-1)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16).reshape(shape)


class SafetensorsFile:
    """One .safetensors file: its header is parsed and checked at once; tensors are read on demand."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise CheckpointError(f"{self.path}: no such file") from None
        if size < 8:
            raise CheckpointError(f"{self.path}: {size} bytes is too short for a safetensors file (8-byte header length first)")
        with open(self.path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > _MAX_HEADER or n > size - 8:
                raise CheckpointError(f"{self.path}: header length {n} is impossible for a {size}-byte file; "
                                      "is this really a .safetensors file?")
            raw = f.read(n)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{self.path}: the header is not valid JSON ({e})") from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{self.path}: the header must be a JSON object")
        self.metadata = header.pop("__metadata__", None) or {}
        self._data_start = 8 + n
        data_len = size - self._data_start
        self.entries = {}
        for name, e in header.items():
            where = f"{self.path}: tensor '{name}'"
            if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= set(e):
                raise CheckpointError(f"{where}: header entry needs dtype, shape and data_offsets")
            if e["dtype"] not in _DTYPES:
                raise CheckpointError(f"{where}: dtype {e['dtype']} is not supported "
                                      f"(supported: {', '.join(sorted(_DTYPES))})")
            shape = e["shape"]
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise CheckpointError(f"{where}: shape must be a list of non-negative integers; got {shape!r}")
            begin, end = e["data_offsets"]
            itemsize = _DTYPES[e["dtype"]][1]
            want = int(np.prod(shape, dtype=np.int64)) * itemsize
            if not (0 <= begin <= end <= data_len) or end - begin != want:
                raise CheckpointError(f"{where}: data_offsets [{begin}, {end}] do not hold {shape} {e['dtype']} "
                                      f"({want} bytes) inside the {data_len}-byte data section (truncated file?)")
            self.entries[name] = {"dtype": e["dtype"], "shape": list(shape), "begin": begin, "end": end}
        self._map = None

    def keys(self):
        return list(self.entries)

    def tensor(self, name) -> torch.Tensor:
        """The tensor as torch: float types keep their dtype except BF16, which becomes float32."""
        if name not in self.entries:
            raise CheckpointError(f"{self.path}: no tensor '{name}'")
        e = self.entries[name]
        np_dtype, itemsize = _DTYPES[e["dtype"]]
        count = (e["end"] - e["begin"]) // itemsize
        if count == 0:
            arr = np.zeros(e["shape"], dtype=np_dtype)
        else:
            if self._map is None:
                # copy-on-write: torch.from_numpy wants a writable array; the file is never written
                self._map = np.memmap(self.path, dtype=np.uint8, mode="c")
            raw = self._map[self._data_start + e["begin"]: self._data_start + e["end"]]
            arr = raw.view(np_dtype).reshape(e["shape"])
        if e["dtype"] == "BF16":
            arr = bf16_bits_to_fp32(arr)
        return torch.from_numpy(arr)

    def load(self) -> dict:
        return {k: self.tensor(k) for k in self.entries}


def read_safetensors(path) -> dict:
    return SafetensorsFile(path).load()


def write_safetensors(path, tensors: dict, dtype=None, metadata=None) -> None:
    """Write tensors (name -> torch.Tensor or numpy array). dtype 'fp32' | 'fp16' | 'bf16' recasts
    floating tensors; None keeps each tensor's own dtype (torch.bfloat16 included)."""
    names = sorted(tensors)
    header, blobs, offset = {}, [], 0
    for name in names:
        t = tensors[name]
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            if t.dtype == torch.bfloat16 and dtype is None:
                arr, code = t.view(torch.int16).numpy().view(np.uint16), "BF16"
            else:
                arr = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
                code = None
        else:
            arr, code = np.asarray(t), None
        if code is None:
            if arr.dtype.kind == "f" and dtype is not None:
                if dtype == "bf16":
                    arr, code = fp32_to_bf16_bits(arr.astype(np.float32)), "BF16"
                elif dtype in ("fp16", "fp32"):
                    arr = arr.astype(np.float16 if dtype == "fp16" else np.float32)
                else:
                    raise ValueError(f"`dtype` must be 'fp32', 'fp16', 'bf16' or None; got {dtype!r}")
            if code is None:
                code = next((k for k, (npd, _) in _DTYPES.items()
                             if k != "BF16" and arr.dtype.newbyteorder("<") == npd), None)
                if code is None:
                    raise ValueError(f"tensor '{name}': dtype {arr.dtype} cannot be written to safetensors")
        data = np.asarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)  # data section starts 8-byte aligned, as safetensors writes it
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def write_sharded(folder, tensors: dict, shards: int, dtype=None, prefix="model") -> list:
    """Split tensors over `shards` files `model-0000i-of-0000N.safetensors` plus the diffusers /
    transformers index `model.safetensors.index.json`. Returns the shard paths."""
    folder = Path(folder)
    names = sorted(tensors)
    if shards < 1 or shards > len(names):
        raise ValueError(f"`shards` must be from 1 to {len(names)} (the tensor count); got {shards}")
    groups = [names[i::shards] for i in range(shards)]
    weight_map, paths, total = {}, [], 0
    for i, group in enumerate(groups):
        fname = f"{prefix}-{i + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(folder / fname, {k: tensors[k] for k in group}, dtype=dtype)
        paths.append(folder / fname)
        for k in group:
            weight_map[k] = fname
    for p in paths:
        total += sum(e["end"] - e["begin"] for e in SafetensorsFile(p).entries.values())
    with open(folder / f"{prefix}.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return paths


_WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "ema", "ema_model", "generator")
_PREFIXES = ("module.", "_orig_mod.")


def _unwrap(obj, path):
    seen = 0
    while isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = [k for k in _WRAPPERS if k in obj and isinstance(obj[k], dict)]
        if not inner or seen > 4:
            kinds = sorted({type(v).__name__ for v in obj.values()})
            raise CheckpointError(f"{path}: not a state dict (values are {', '.join(kinds)}) and none of the "
                                  f"wrapper keys {', '.join(_WRAPPERS)} holds one; top-level keys: "
                                  f"{', '.join(list(map(str, obj))[:12])}")
        obj = obj[inner[0]]
        seen += 1
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors; got {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        name = str(k)
        for p in _PREFIXES:
            while name.startswith(p):
                name = name[len(p):]
        if name in out:
            raise CheckpointError(f"{path}: tensor '{name}' appears twice once prefixes are removed")
        out[name] = v
    return out


def read_torch(path, trust_pickle=False) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as e:  # torch raises UnpicklingError/RuntimeError/ZipFile errors alike
        hint = ("" if trust_pickle else " If the file holds more than tensors (a pickled config, say) and you trust "
                "it, pass --trust-pickle to let torch unpickle arbitrary objects.")
        raise CheckpointError(f"{path}: torch.load failed: {e}.{hint}") from None
    return _unwrap(obj, path)


def _read_index(index_path):
    try:
        with open(index_path) as f:
            index = json.load(f)
        weight_map = index["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index_path}: not a safetensors index (needs a 'weight_map' object): {e}") from None
    folder = index_path.parent
    by_file = {}
    for name, fname in weight_map.items():
        by_file.setdefault(fname, []).append(name)
    out = {}
    for fname, names in sorted(by_file.items()):
        shard = SafetensorsFile(folder / fname)
        have = set(shard.entries)
        for name in names:
            if name not in have:
                raise CheckpointError(f"{index_path}: tensor '{name}' is mapped to {fname}, which does not hold it")
        extra = sorted(have - set(names))
        if extra:
            raise CheckpointError(f"{folder / fname}: tensor '{extra[0]}' is not in the index {index_path.name} "
                                  f"({len(extra)} such)")
        for name in names:
            out[name] = shard.tensor(name)
    return out


def read_checkpoint(path, trust_pickle=False) -> dict:
    """A checkpoint file (.safetensors, .pt, .pth, .bin) or a diffusers/transformers folder: its
    `*.safetensors.index.json` if there is one, else every `*.safetensors` in it (keys must not repeat),
    else a single torch file. Returns name -> torch.Tensor (bf16 widened to fp32)."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".safetensors":
            return read_safetensors(path)
        if path.name.endswith(".safetensors.index.json"):
            return _read_index(path)
        if path.suffix in (".pt", ".pth", ".bin", ".ckpt"):
            return read_torch(path, trust_pickle)
        raise CheckpointError(f"{path}: unknown checkpoint type (expected .safetensors, .safetensors.index.json, "
                              ".pt, .pth, .bin or .ckpt)")
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such file or folder")
    indexes = sorted(path.glob("*.safetensors.index.json"))
    if len(indexes) > 1:
        raise CheckpointError(f"{path}: several index files ({', '.join(p.name for p in indexes)}); pass one of them")
    if indexes:
        return _read_index(indexes[0])
    files = sorted(path.glob("*.safetensors"))
    if files:
        out, origin = {}, {}
        for f in files:
            shard = SafetensorsFile(f)
            for name in shard.entries:
                if name in out:
                    raise CheckpointError(f"{path}: tensor '{name}' is in both {origin[name]} and {f.name}")
                out[name], origin[name] = shard.tensor(name), f.name
        return out
    torch_files = sorted(p for ext in ("*.pt", "*.pth", "*.bin") for p in path.glob(ext))
    if len(torch_files) == 1:
        return read_torch(torch_files[0], trust_pickle)
    raise CheckpointError(f"{path}: no *.safetensors (with or without an index) and "
                          f"{'several' if torch_files else 'no'} .pt/.pth/.bin files; point at the checkpoint file")


def read_config(folder) -> dict:
    """config.json of a diffusers/transformers folder."""
    p = Path(folder) / "config.json"
    if not p.is_file():
        raise CheckpointError(f"{folder}: no config.json (a diffusers/transformers folder has one beside the weights)")
    try:
        with open(p) as f:
            cfg = json.load(f)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{p}: not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{p}: must hold a JSON object")
    return cfg


def strict_load(module: torch.nn.Module, tensors: dict, aliases=None) -> None:
    """Copy `tensors` into module's parameters and buffers by name, cast to fp32. Every key of the
    module must be given exactly once, none may be extra and every shape must match; otherwise a
    ValueError names the key. `aliases` maps a checkpoint name to the module name it may stand for
    (e.g. a tied embedding saved under a second name)."""
    aliases = aliases or {}
    own = module.state_dict()
    given = {}
    for k, v in tensors.items():
        target = aliases.get(k, k) if k not in own else k
        if target in given:
            if tuple(v.shape) != tuple(given[target][1].shape):
                raise ValueError(f"checkpoint tensors '{given[target][0]}' and '{k}' both give '{target}' "
                                 f"with different shapes {list(given[target][1].shape)} and {list(v.shape)}")
            continue
        given[target] = (k, v)
    missing = [k for k in own if k not in given]
    if missing:
        raise ValueError(f"checkpoint lacks tensor '{missing[0]}' ({len(missing)} missing in all); "
                         "is this the right checkpoint for this component?")
    extra = [given[k][0] for k in given if k not in own]
    if extra:
        raise ValueError(f"unexpected checkpoint tensor '{extra[0]}' ({len(extra)} unexpected in all); "
                         "does the config match the checkpoint?")
    with torch.no_grad():
        for k, p in own.items():
            src_name, v = given[k]
            if tuple(v.shape) != tuple(p.shape):
                raise ValueError(f"checkpoint tensor '{src_name}' has shape {list(v.shape)}; the config needs "
                                 f"{list(p.shape)}")
            p.copy_(v.to(torch.float32) if p.is_floating_point() else v)


def file_size(path) -> int:
    return os.path.getsize(path)


class LazyCheckpoint:
    """A checkpoint whose tensors are read one at a time, on request, into private memory (no memory map
    kept), so a converter can build, export and free one shard of a model that does not fit in RAM.
    `.safetensors` files (a file, a sharded folder with its index, or a folder of files) are read lazily;
    a `.pt`/`.pth`/`.bin` is loaded whole by torch.load (it cannot be read in parts) and served from that."""

    def __init__(self, path, trust_pickle=False):
        self.path = Path(path)
        self._files = {}   # name -> SafetensorsFile
        self._eager = None
        p = self.path
        if p.is_file() and p.suffix == ".safetensors":
            self._add(SafetensorsFile(p))
        elif p.is_file() and p.name.endswith(".safetensors.index.json"):
            self._add_index(p)
        elif p.is_dir() and sorted(p.glob("*.safetensors.index.json")):
            indexes = sorted(p.glob("*.safetensors.index.json"))
            if len(indexes) > 1:
                raise CheckpointError(f"{p}: several index files ({', '.join(x.name for x in indexes)}); pass one of them")
            self._add_index(indexes[0])
        elif p.is_dir() and sorted(p.glob("*.safetensors")):
            for f in sorted(p.glob("*.safetensors")):
                self._add(SafetensorsFile(f))
        else:
            self._eager = read_checkpoint(p, trust_pickle)

    def _add(self, shard, names=None):
        for name in (names if names is not None else shard.entries):
            if name in self._files:
                raise CheckpointError(f"{self.path}: tensor '{name}' is in both {self._files[name].path.name} "
                                      f"and {shard.path.name}")
            self._files[name] = shard

    def _add_index(self, index_path):
        try:
            with open(index_path) as f:
                weight_map = json.load(f)["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{index_path}: not a safetensors index (needs a 'weight_map' object): {e}") from None
        by_file = {}
        for name, fname in weight_map.items():
            by_file.setdefault(fname, []).append(name)
        for fname, names in sorted(by_file.items()):
            shard = SafetensorsFile(index_path.parent / fname)
            missing = [n for n in names if n not in shard.entries]
            if missing:
                raise CheckpointError(f"{index_path}: tensor '{missing[0]}' is mapped to {fname}, which does not hold it")
            extra = sorted(set(shard.entries) - set(names))
            if extra:
                raise CheckpointError(f"{shard.path}: tensor '{extra[0]}' is not in the index {index_path.name} "
                                      f"({len(extra)} such)")
            self._add(shard, names)

    def keys(self):
        return list(self._eager) if self._eager is not None else list(self._files)

    def __contains__(self, name):
        return name in (self._eager if self._eager is not None else self._files)

    def shape(self, name):
        if self._eager is not None:
            return list(self._eager[name].shape)
        return list(self._files[name].entries[name]["shape"])

    def _entry(self, name):
        if name not in self:
            raise CheckpointError(f"{self.path}: no tensor '{name}'")
        return self._files[name], self._files[name].entries[name]

    def get(self, name, rows=None) -> torch.Tensor:
        """Tensor `name` (float types as float32, others as stored), or only rows [start, stop) of its first axis."""
        if self._eager is not None:
            if name not in self._eager:
                raise CheckpointError(f"{self.path}: no tensor '{name}'")
            t = self._eager[name]
            if rows is not None:
                t = t[rows[0]:rows[1]]
            return t.float() if t.is_floating_point() else t
        shard, e = self._entry(name)
        np_dtype, itemsize = _DTYPES[e["dtype"]]
        shape = list(e["shape"])
        begin, end = e["begin"], e["end"]
        if rows is not None:
            start, stop = max(0, rows[0]), min(shape[0], rows[1]) if shape else 0
            row = int(np.prod(shape[1:], dtype=np.int64)) * itemsize
            begin, end = begin + start * row, begin + max(start, stop) * row
            shape[0] = max(0, stop - start)
        count = (end - begin) // itemsize
        with open(shard.path, "rb") as f:
            f.seek(shard._data_start + begin)
            arr = np.fromfile(f, dtype=np_dtype, count=count)
        if len(arr) != count:
            raise CheckpointError(f"{shard.path}: tensor '{name}' is truncated")
        arr = arr.reshape(shape)
        if e["dtype"] == "BF16":
            arr = bf16_bits_to_fp32(arr)
        elif arr.dtype.kind == "f" and arr.dtype != np.float32:
            arr = arr.astype(np.float32)
        return torch.from_numpy(arr)

    def subset(self, names) -> dict:
        """{name: tensor} for the given names, read now."""
        return {n: self.get(n) for n in names}


def open_checkpoint(path, trust_pickle=False) -> LazyCheckpoint:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    return LazyCheckpoint(path, trust_pickle)
