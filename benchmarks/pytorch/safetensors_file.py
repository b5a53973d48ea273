"""The safetensors format written and read by hand (no package needed): a little-endian u64 header
length, a JSON header padded with spaces to 8 bytes, then the raw little-endian data."""

import json
import struct

import numpy as np
import torch

NUMPY = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64}
NAMES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.int64: "I64"}


def write(path, tensors, metadata=None, sort=True):
    """tensors: name -> torch tensor (any device). sort=True orders them as safetensors.torch.save_file
    does: by element size, largest first, then by name."""
    items = list(tensors.items())
    if sort:
        items.sort(key=lambda kv: (-kv[1].element_size(), kv[0]))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in items:
        dtype = NAMES[t.dtype]
        data = np.ascontiguousarray(t.detach().cpu().numpy()).astype(np.dtype(NUMPY[dtype]).newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read(path):
    """name -> CPU tensor (dtype as stored), and the metadata (a dict, empty when there is none)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(NUMPY[e["dtype"]]).newbyteorder("<")).reshape(e["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors, meta
