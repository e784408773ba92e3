#!/usr/bin/python3
"""Generate a large synthetic transformer-like ONNX model with external data.

    /usr/bin/python3 tools/gen_big_model.py OUT_DIR [--gb 3] [--hidden H] [--layers L]

Writes OUT_DIR/big.onnx (a small protobuf) and OUT_DIR/big.onnx.data (all
weights, float32, one file). The weights are streamed: each tensor is
generated chunk by chunk with numpy's seeded RNG and appended to the data file,
so memory stays at one chunk (16 MiB) no matter how big the model is. Only
after all data is written is the protobuf, with external-data references
(location/offset/length), written. Both files are written under temporary
names and renamed at the end, big.onnx last, so an interrupted run never
leaves a complete-looking pair.

Deterministic: tensor i is filled from np.random.default_rng([SEED, i]), so the
same arguments give the same bytes.

Model (opset 17, IR 8), per layer:
    ln1 = LayerNormalization(h)
    q, k, v = MatMul(ln1, Wq|Wk|Wv)             [H, H] each
    attn = Softmax(q @ k^T * 1/sqrt(H)) @ v      (single head)
    h = h + MatMul(attn, Wo)                     [H, H]
    ln2 = LayerNormalization(h)
    h = h + MatMul(Relu(MatMul(ln2, W_up) + b_up), W_down) + b_down
                                                 [H, 4H], [4H, H]
with an embedding Gather ([vocab, H]) in front and a final LayerNormalization
and lm_head MatMul ([H, vocab]) at the end. With the default vocab 8192 and
H = 2048, the largest tensors (embedding, lm_head, W_up, W_down) are 64 MiB.

--gb is the target weight size in GiB (2^30 bytes). The hidden size is the
largest of 2048/1024/512/256/128 that gives at least 2 layers; the layer count
is then rounded to the nearest whole layer.
"""

import argparse
import os
import resource
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 1234
OPSET = 17
IR = 8
VOCAB = 8192
ALIGN = 4096           # each tensor starts on a 4 KiB boundary (mmap friendly)
CHUNK = 4 * 1024 * 1024  # elements generated per RNG call (16 MiB of float32)
GIB = 1 << 30


def layer_tensors(i, h):
    f = 4 * h
    p = f"layers.{i}."
    return [
        (p + "ln1.weight", [h], "gamma"), (p + "ln1.bias", [h], "beta"),
        (p + "attn.q.weight", [h, h], "weight"), (p + "attn.k.weight", [h, h], "weight"),
        (p + "attn.v.weight", [h, h], "weight"), (p + "attn.o.weight", [h, h], "weight"),
        (p + "ln2.weight", [h], "gamma"), (p + "ln2.bias", [h], "beta"),
        (p + "ffn.up.weight", [h, f], "weight"), (p + "ffn.up.bias", [f], "beta"),
        (p + "ffn.down.weight", [f, h], "weight"), (p + "ffn.down.bias", [h], "beta"),
    ]


def all_tensors(h, layers, vocab):
    specs = [("embed.weight", [vocab, h], "weight")]
    for i in range(layers):
        specs += layer_tensors(i, h)
    specs += [("final_ln.weight", [h], "gamma"), ("final_ln.bias", [h], "beta"),
              ("lm_head.weight", [h, vocab], "weight")]
    return specs


def nbytes(specs):
    return sum(4 * int(np.prod(shape)) for _, shape, _ in specs)


def choose_size(target_bytes, hidden, layers, vocab):
    if hidden and layers:
        return hidden, layers
    candidates = [hidden] if hidden else [2048, 1024, 512, 256, 128]
    for h in candidates:
        fixed = nbytes(all_tensors(h, 0, vocab))
        per_layer = nbytes(layer_tensors(0, h))
        n = layers or max(1, int(round((target_bytes - fixed) / per_layer)))
        if n >= 2 or h == candidates[-1]:
            return h, n
    raise AssertionError("unreachable")


def fill_tensor(f, index, shape, kind):
    """Generate tensor `index` chunk by chunk and write it to f (float32, little endian)."""
    rng = np.random.default_rng([SEED, index])
    count = int(np.prod(shape))
    fan_in = shape[0] if len(shape) == 2 else 1
    # Uniform like PyTorch's default Linear init, kept small.
    bound = min(0.05, 1.0 / np.sqrt(fan_in)) if kind == "weight" else 0.02
    done = 0
    while done < count:
        n = min(CHUNK, count - done)
        x = rng.random(n, dtype=np.float32)   # [0, 1)
        x *= np.float32(2 * bound)
        x -= np.float32(bound)                 # [-bound, bound)
        if kind == "gamma":
            x += np.float32(1.0)
        x.astype("<f4", copy=False).tofile(f)
        done += n
    return count * 4


def external_initializer(name, shape, location, offset, length):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(shape)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def build_graph(h, layers, vocab, initializers):
    nodes = []

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def layernorm(x, prefix):
        return node("LayerNormalization", [x, prefix + ".weight", prefix + ".bias"],
                    prefix + "_out", axis=-1, epsilon=1e-5)

    x = node("Gather", ["embed.weight", "input_ids"], "embed_out", axis=0)
    for i in range(layers):
        p = f"layers.{i}."
        ln1 = layernorm(x, p + "ln1")
        q = node("MatMul", [ln1, p + "attn.q.weight"], p + "q")
        k = node("MatMul", [ln1, p + "attn.k.weight"], p + "k")
        v = node("MatMul", [ln1, p + "attn.v.weight"], p + "v")
        kt = node("Transpose", [k], p + "k_t", perm=[0, 2, 1])
        scores = node("MatMul", [q, kt], p + "scores")
        scaled = node("Mul", [scores, "attn_scale"], p + "scores_scaled")
        probs = node("Softmax", [scaled], p + "probs", axis=-1)
        ctx = node("MatMul", [probs, v], p + "ctx")
        o = node("MatMul", [ctx, p + "attn.o.weight"], p + "attn_out")
        x = node("Add", [x, o], p + "resid1")
        ln2 = layernorm(x, p + "ln2")
        up = node("MatMul", [ln2, p + "ffn.up.weight"], p + "up")
        up = node("Add", [up, p + "ffn.up.bias"], p + "up_bias")
        act = node("Relu", [up], p + "act")
        down = node("MatMul", [act, p + "ffn.down.weight"], p + "down")
        down = node("Add", [down, p + "ffn.down.bias"], p + "down_bias")
        x = node("Add", [x, down], p + "resid2")
    x = layernorm(x, "final_ln")
    nodes.append(helper.make_node("MatMul", [x, "lm_head.weight"], ["logits"], name="lm_head"))

    scale = numpy_helper.from_array(np.array(1.0 / np.sqrt(h), dtype=np.float32), "attn_scale")
    graph = helper.make_graph(
        nodes, "big_synthetic_transformer",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", vocab])],
        initializer=initializers + [scale],
        doc_string=f"synthetic transformer: hidden {h}, {layers} layers, vocab {vocab}")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgeq-tools gen_big_model.py", producer_version="0.1")
    model.ir_version = IR
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--gb", type=float, default=3.0, help="target weight size in GiB (default 3)")
    ap.add_argument("--hidden", type=int, default=None, help="hidden size (default: from --gb)")
    ap.add_argument("--layers", type=int, default=None, help="layer count (default: from --gb)")
    ap.add_argument("--vocab", type=int, default=VOCAB)
    args = ap.parse_args()

    t0 = time.time()
    h, layers = choose_size(int(args.gb * GIB), args.hidden, args.layers, args.vocab)
    specs = all_tensors(h, layers, args.vocab)
    os.makedirs(args.out_dir, exist_ok=True)
    model_path = os.path.join(args.out_dir, "big.onnx")
    data_name = "big.onnx.data"
    data_path = os.path.join(args.out_dir, data_name)
    for p in (model_path, data_path):  # never leave an old pair half-replaced
        if os.path.exists(p):
            os.remove(p)

    initializers = []
    with open(data_path + ".tmp", "wb") as f:
        offset = 0
        for index, (name, shape, kind) in enumerate(specs):
            pad = (-offset) % ALIGN
            if pad:
                f.write(b"\0" * pad)
                offset += pad
            length = fill_tensor(f, index, shape, kind)
            initializers.append(external_initializer(name, shape, data_name, offset, length))
            offset += length
        data_size = offset
    model = build_graph(h, layers, args.vocab, initializers)
    proto = model.SerializeToString()
    with open(model_path + ".tmp", "wb") as f:
        f.write(proto)
    os.replace(data_path + ".tmp", data_path)
    os.replace(model_path + ".tmp", model_path)

    weights = nbytes(specs)
    secs = time.time() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"hidden {h}, layers {layers}, vocab {args.vocab}: {len(specs)} external tensors, "
          f"{len(model.graph.node)} nodes")
    print(f"wrote {model_path}: {len(proto)} bytes")
    print(f"wrote {data_path}: {data_size} bytes ({weights} weight bytes, "
          f"{data_size - weights} bytes of alignment padding)")
    print(f"total bytes: {len(proto) + data_size} ({(len(proto) + data_size) / GIB:.2f} GiB) "
          f"in {secs:.1f} s, generator peak RSS {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
