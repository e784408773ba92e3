#!/usr/bin/python3
"""Generate malformed inputs for edgeq's error-handling tests into tests/data/bad/.

Run with Debian's python (it has python3-onnx 1.12 and python3-numpy):

    /usr/bin/python3 tools/make_bad_models.py [--out-dir tests/data/bad]

Each case is a tiny file with exactly one defect (everything else is a valid
model). tests/data/bad/EXPECTED.tsv lists, per file, the exit code edgeq must
return and a substring its error message must contain:

    3 = invalid model (not ONNX, truncated, inconsistent, unsafe external data)
    6 = I/O error (a file cannot be read)

Names of tensors/nodes/values are made distinctive (e.g. "W_bad_size" rather
than "W") so that the substring check is meaningful. For files that do not
parse at all, the substring is the file name, which the message should name.

Deterministic: fixed seeds, rerunning reproduces the same bytes. The script
also creates the symlink external_symlink/weights.bin -> /etc/hostname (git
stores symlinks as such).
"""

import argparse
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 4242
OPSET = 17
IR = 8

EXIT_INVALID = 3
EXIT_IO = 6


def vi(name, shape, elem_type=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem_type, shape)


def model_of(nodes, inputs, outputs, inits=(), name="bad"):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgeq-tools", producer_version="0.1")
    model.ir_version = IR
    return model


def matmul_model(weight, wname="W"):
    """X [2,k] @ weight -> Y. `weight` is a TensorProto named wname."""
    k = weight.dims[0] if len(weight.dims) > 0 else 1
    n = weight.dims[1] if len(weight.dims) > 1 else 1
    nodes = [helper.make_node("MatMul", ["X", wname], ["Y"], name="matmul")]
    return model_of(nodes, [vi("X", [2, k])], [vi("Y", [2, n])], [weight])


def external_tensor(name, dims, location, offset, length):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def parses(data):
    """True if protobuf accepts `data` as a ModelProto without complaint.

    Python's protobuf only warns (instead of failing) on a stray end-group
    tag at top level; count a warning as a failure too.
    """
    m = onnx.ModelProto()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            m.ParseFromString(data)
            return True
        except Exception:  # DecodeError, or the RuntimeWarning turned error
            return False


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def build(out_dir):
    rng = np.random.default_rng(SEED)
    cases = []  # (relative path, exit code, message substring, description)

    def add(rel, data, code, needle, what):
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write(path, data if isinstance(data, bytes) else data.SerializeToString())
        cases.append((rel, code, needle, what))

    # --- not ONNX at all -------------------------------------------------
    # A valid model with a 1 KB weight, cut in half: the cut lands inside the
    # weight's raw_data, so the protobuf stream ends mid-field.
    w = numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), "W_trunc")
    full = matmul_model(w, "W_trunc").SerializeToString()
    cut = full[: len(full) // 2]
    assert parses(full) and not parses(cut)
    add("truncated.onnx", cut, EXIT_INVALID, "truncated.onnx", "valid model cut in half")

    # Random bytes; take the first seed whose bytes protobuf refuses to parse.
    seed = SEED
    while True:
        junk = np.random.default_rng(seed).integers(0, 256, 512, dtype=np.uint8).tobytes()
        if not parses(junk):
            break
        seed += 1
    add("random.onnx", junk, EXIT_INVALID, "random.onnx", "512 random bytes")

    # 0 bytes parses as an empty ModelProto: no ir_version, no graph.
    add("empty.onnx", b"", EXIT_INVALID, "empty.onnx", "0-byte file")

    # Looks like a git-lfs pointer checked out instead of the real file. The
    # first byte 'v' (0x76) has protobuf wire type 6, which does not exist.
    text = (b"version 1\n"
            b"This is a plain text file (for example an un-fetched LFS pointer), not ONNX.\n"
            b"size 831366\n")
    assert not parses(text)
    add("text.onnx", text, EXIT_INVALID, "text.onnx", "plain text")

    # --- parses, but inconsistent ---------------------------------------
    t = TensorProto()
    t.name = "W_bad_size"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([4, 3])                 # needs 4*3*4 = 48 bytes
    t.raw_data = bytes(range(40))         # has 40
    add("wrong_dtype_size.onnx", matmul_model(t, "W_bad_size"), EXIT_INVALID, "W_bad_size",
        "raw_data is 40 bytes, dims [4,3] float need 48")

    nodes = [
        helper.make_node("Add", ["X", "cycle_val_b"], ["cycle_val_a"], name="cycle_node_A"),
        helper.make_node("Relu", ["cycle_val_a"], ["cycle_val_b"], name="cycle_node_B"),
        helper.make_node("Identity", ["cycle_val_a"], ["Y"], name="cycle_node_out"),
    ]
    add("cycle.onnx", model_of(nodes, [vi("X", [2, 4])], [vi("Y", [2, 4])]), EXIT_INVALID,
        "cycle_", "cycle_node_A -> cycle_node_B -> cycle_node_A")

    nodes = [helper.make_node("Add", ["X", "ghost"], ["Y"], name="uses_ghost")]
    add("dangling_input.onnx", model_of(nodes, [vi("X", [2, 4])], [vi("Y", [2, 4])]),
        EXIT_INVALID, "ghost", "node input 'ghost' is never produced")

    nodes = [
        helper.make_node("Relu", ["X"], ["dup_y"], name="dup_producer_1"),
        helper.make_node("Neg", ["X"], ["dup_y"], name="dup_producer_2"),
    ]
    add("duplicate_output.onnx", model_of(nodes, [vi("X", [2, 4])], [vi("dup_y", [2, 4])]),
        EXIT_INVALID, "dup_y", "two nodes produce 'dup_y'")

    t = TensorProto()
    t.name = "T_absurd"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([1 << 40, 1 << 40])     # 2^80 elements: overflows int64
    t.raw_data = bytes(16)
    nodes = [helper.make_node("Identity", ["T_absurd"], ["Y"], name="copy_absurd")]
    add("absurd_dims.onnx", model_of(nodes, [], [vi("Y", [1 << 40, 1 << 40])], [t]),
        EXIT_INVALID, "T_absurd", "dims [2^40, 2^40] (element count overflows int64)")

    t = TensorProto()
    t.name = "T_dtype99"
    t.data_type = 99
    t.dims.extend([2])
    t.raw_data = bytes(8)
    nodes = [helper.make_node("Identity", ["T_dtype99"], ["Y"], name="copy_dtype99")]
    add("unknown_dtype.onnx", model_of(nodes, [], [vi("Y", [2])], [t]),
        EXIT_INVALID, "T_dtype99", "initializer data_type 99")

    # --- external data ---------------------------------------------------
    add("external_abs.onnx",
        matmul_model(external_tensor("W_ext_abs", [2, 1], "/etc/passwd", 0, 8), "W_ext_abs"),
        EXIT_INVALID, "W_ext_abs", "absolute location /etc/passwd")

    add("external_dotdot.onnx",
        matmul_model(external_tensor("W_ext_dotdot", [2, 1], "../../etc/passwd", 0, 8),
                     "W_ext_dotdot"),
        EXIT_INVALID, "W_ext_dotdot", "location ../../etc/passwd escapes the model folder")

    add("external_symlink/model.onnx",
        matmul_model(external_tensor("W_ext_symlink", [2, 1], "weights.bin", 0, 8),
                     "W_ext_symlink"),
        EXIT_INVALID, "W_ext_symlink",
        "location weights.bin is a symlink to /etc/hostname, outside the model folder")
    link = os.path.join(out_dir, "external_symlink", "weights.bin")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink("/etc/hostname", link)

    add("external_missing.onnx",
        matmul_model(external_tensor("W_ext_missing", [2, 1], "missing.bin", 0, 8),
                     "W_ext_missing"),
        EXIT_IO, "missing.bin", "location missing.bin does not exist")

    # external_oob.bin is 64 bytes; the tensor claims bytes [32, 96).
    write(os.path.join(out_dir, "external_oob.bin"),
          rng.standard_normal(16).astype("<f4").tobytes())
    add("external_oob.onnx",
        matmul_model(external_tensor("W_ext_oob", [4, 4], "external_oob.bin", 32, 64), "W_ext_oob"),
        EXIT_INVALID, "W_ext_oob", "offset 32 + length 64 > 64-byte external_oob.bin")

    missing = os.path.join(out_dir, "missing.bin")
    assert not os.path.exists(missing), missing
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out-dir", default=os.path.join(here, os.pardir, "tests", "data", "bad"))
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out_dir)
    os.makedirs(out_dir, exist_ok=True)

    cases = build(out_dir)
    with open(os.path.join(out_dir, "EXPECTED.tsv"), "w") as f:
        f.write("file\texpected_exit_code\tmessage_substring\n")
        for rel, code, needle, _ in cases:
            f.write(f"{rel}\t{code}\t{needle}\n")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(
            "# Malformed inputs\n\n"
            "Made by `tools/make_bad_models.py` (run with `/usr/bin/python3`; deterministic).\n"
            "`EXPECTED.tsv` (tab-separated, one header line) gives, for each file (path relative\n"
            "to this folder), the exit code edgeq must return (3 = invalid model, 6 = I/O) and a\n"
            "substring its error message must contain. `external_oob.bin` is the 64-byte data\n"
            "file of `external_oob.onnx`; `external_symlink/weights.bin` is a symlink to\n"
            "`/etc/hostname`; `missing.bin` deliberately does not exist.\n\n"
            "| file | exit | defect |\n| --- | --- | --- |\n")
        for rel, code, _, what in cases:
            f.write(f"| `{rel}` | {code} | {what} |\n")
    for rel, code, needle, what in cases:
        path = os.path.join(out_dir, rel)
        print(f"wrote {path} ({os.path.getsize(path)} bytes): exit {code}, '{needle}': {what}")
    print(f"wrote {os.path.join(out_dir, 'EXPECTED.tsv')} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
