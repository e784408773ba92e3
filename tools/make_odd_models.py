#!/usr/bin/python3
"""Generate small, unusual-but-legal ONNX files into tests/data/odd/.

These mimic what real exporters and tools emit. edgeq must load every one of
them and write it back without losing information.

Run with Debian's python (it has python3-onnx 1.12 and python3-numpy):

    /usr/bin/python3 tools/make_odd_models.py [--out-dir tests/data/odd]

Every file is deterministic (fixed seeds, no timestamps): rerunning the script
reproduces the same bytes. See tests/data/odd/README.md for what each file
exercises.
"""

import argparse
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 7031

# The python onnx package here (1.12) knows IR version 8 and opset 17 at most.
IR8 = 8
OPSET17 = 17


# --------------------------------------------------------------------------
# Minimal protobuf wire-format writer, for fields onnx 1.12 does not know.
# Wire types: 0 = varint, 2 = length-delimited.
# --------------------------------------------------------------------------

def pb_varint(value):
    """Encode an integer as a base-128 varint (negatives as 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_key(field_number, wire_type):
    return pb_varint((field_number << 3) | wire_type)


def pb_int_field(field_number, value):
    return pb_key(field_number, 0) + pb_varint(value)


def pb_bytes_field(field_number, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return pb_key(field_number, 2) + pb_varint(len(data)) + data


def pb_string_entry(field_number, key, value):
    """A StringStringEntryProto (key = 1, value = 2) embedded as field `field_number`."""
    return pb_bytes_field(field_number, pb_bytes_field(1, key) + pb_bytes_field(2, value))


def with_unknown_fields(message, extra):
    """Return a copy of `message` that also carries the raw wire bytes `extra`.

    Parsing "known bytes + extra bytes" makes protobuf keep the fields it does
    not know as unknown fields, which are written back on serialization.
    """
    merged = type(message)()
    merged.ParseFromString(message.SerializeToString() + extra)
    return merged


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def f32(rng, shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def make_model(graph, opsets, ir_version=IR8, **kwargs):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                              producer_name="edgeq-tools", producer_version="0.1", **kwargs)
    model.ir_version = ir_version
    return model


def save(model_or_bytes, path):
    data = model_or_bytes if isinstance(model_or_bytes, bytes) else model_or_bytes.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def vi(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


# --------------------------------------------------------------------------
# unsorted.onnx: nodes stored out of topological order
# --------------------------------------------------------------------------

def make_unsorted(rng):
    inits = [
        numpy_helper.from_array(f32(rng, (8, 8)), "W1"),
        numpy_helper.from_array(f32(rng, (8,)), "B1"),
        numpy_helper.from_array(f32(rng, (8, 4)), "W2"),
        numpy_helper.from_array(f32(rng, (4,)), "B2"),
    ]
    sorted_nodes = [
        helper.make_node("MatMul", ["X", "W1"], ["mm1"], name="mm1"),
        helper.make_node("Add", ["mm1", "B1"], ["add1"], name="add1"),
        helper.make_node("Relu", ["add1"], ["relu1"], name="relu1"),
        helper.make_node("Add", ["relu1", "X"], ["resid"], name="resid"),
        helper.make_node("MatMul", ["resid", "W2"], ["mm2"], name="mm2"),
        helper.make_node("Add", ["mm2", "B2"], ["add2"], name="add2"),
        helper.make_node("Relu", ["add2"], ["Y"], name="relu2"),
    ]
    # Fixed shuffle: consumers before producers almost everywhere.
    order = [6, 2, 4, 0, 5, 3, 1]
    nodes = [sorted_nodes[i] for i in order]
    graph = helper.make_graph(nodes, "unsorted", [vi("X", TensorProto.FLOAT, [2, 8])],
                              [vi("Y", TensorProto.FLOAT, [2, 4])], initializer=inits,
                              doc_string="Nodes deliberately not in topological order.")
    return make_model(graph, [("", OPSET17)])


# --------------------------------------------------------------------------
# constant_weights.onnx: weights in Constant nodes, not initializers
# --------------------------------------------------------------------------

def make_constant_weights(rng):
    conv_w = f32(rng, (4, 3, 3, 3), 0.3)
    conv_b = f32(rng, (4,), 0.1)
    fc_w = f32(rng, (4 * 8 * 8, 5), 0.1)
    fc_b = f32(rng, (5,), 0.1)
    nodes = [
        helper.make_node("Constant", [], ["conv_w"], name="const_conv_w",
                         value=numpy_helper.from_array(conv_w, "conv_w_value")),
        helper.make_node("Constant", [], ["conv_b"], name="const_conv_b",
                         value=numpy_helper.from_array(conv_b, "conv_b_value")),
        helper.make_node("Conv", ["X", "conv_w", "conv_b"], ["conv"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        # Reshape target from a Constant using value_ints (opset >= 12 form).
        helper.make_node("Constant", [], ["flat_shape"], name="const_flat_shape",
                         value_ints=[1, -1]),
        helper.make_node("Reshape", ["relu", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Constant", [], ["fc_w"], name="const_fc_w",
                         value=numpy_helper.from_array(fc_w, "fc_w_value")),
        helper.make_node("MatMul", ["flat", "fc_w"], ["fc"], name="fc"),
        helper.make_node("Constant", [], ["fc_b"], name="const_fc_b",
                         value=numpy_helper.from_array(fc_b, "fc_b_value")),
        helper.make_node("Add", ["fc", "fc_b"], ["Y"], name="fc_bias"),
    ]
    graph = helper.make_graph(nodes, "constant_weights", [vi("X", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [vi("Y", TensorProto.FLOAT, [1, 5])],
                              doc_string="All weights live in Constant nodes; no initializers.")
    return make_model(graph, [("", OPSET17)])


# --------------------------------------------------------------------------
# fp16_cast.onnx: FP16 initializers -> Cast(to=FLOAT) -> MatMul / Add
# --------------------------------------------------------------------------

def make_fp16_cast(rng):
    w = f32(rng, (16, 8), 0.25).astype(np.float16)
    b = f32(rng, (8,), 0.1).astype(np.float16)
    inits = [numpy_helper.from_array(w, "W_fp16"), numpy_helper.from_array(b, "B_fp16")]
    nodes = [
        helper.make_node("Cast", ["W_fp16"], ["W_fp32"], name="cast_w", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["B_fp16"], ["B_fp32"], name="cast_b", to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["X", "W_fp32"], ["mm"], name="mm"),
        helper.make_node("Add", ["mm", "B_fp32"], ["Y"], name="bias"),
    ]
    graph = helper.make_graph(nodes, "fp16_cast", [vi("X", TensorProto.FLOAT, [2, 16])],
                              [vi("Y", TensorProto.FLOAT, [2, 8])], initializer=inits,
                              doc_string="FP16 weights upcast with Cast, as mixed-precision exporters emit.")
    return make_model(graph, [("", OPSET17)])


# --------------------------------------------------------------------------
# unused_domains.onnx: extra opset_import domains nobody uses
# --------------------------------------------------------------------------

def make_unused_domains(rng):
    inits = [numpy_helper.from_array(f32(rng, (4,)), "bias")]
    nodes = [
        helper.make_node("Add", ["X", "bias"], ["sum"], name="add"),
        helper.make_node("Relu", ["sum"], ["Y"], name="relu"),
    ]
    graph = helper.make_graph(nodes, "unused_domains", [vi("X", TensorProto.FLOAT, [3, 4])],
                              [vi("Y", TensorProto.FLOAT, [3, 4])], initializer=inits)
    return make_model(graph, [("", OPSET17), ("com.microsoft", 1), ("ai.onnx.ml", 3)])


# --------------------------------------------------------------------------
# if_loop.onnx: If and Loop with subgraphs reading outer-scope values
# --------------------------------------------------------------------------

def make_if_loop(rng):
    scale = f32(rng, (3,), 1.0)
    step = f32(rng, (3,), 0.5)
    inits = [
        numpy_helper.from_array(scale, "outer_scale"),
        numpy_helper.from_array(step, "loop_step"),
        numpy_helper.from_array(np.array(4, dtype=np.int64), "trip_count"),
        numpy_helper.from_array(np.array(True), "loop_cond"),
    ]
    # Both branches have no inputs and read X (graph input) and outer_scale
    # (initializer) from the enclosing scope.
    then_branch = helper.make_graph(
        [helper.make_node("Mul", ["X", "outer_scale"], ["then_out"], name="then_mul")],
        "then_branch", [], [vi("then_out", TensorProto.FLOAT, [3])])
    else_branch = helper.make_graph(
        [helper.make_node("Sub", ["X", "outer_scale"], ["else_out"], name="else_sub")],
        "else_branch", [], [vi("else_out", TensorProto.FLOAT, [3])])
    # Loop body: (iteration, cond_in, v_in) -> (cond_out, v_out, scan_out)
    # It reads the outer initializer loop_step.
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
            helper.make_node("Add", ["v_in", "loop_step"], ["v_out"], name="body_add"),
            helper.make_node("Cast", ["iter"], ["iter_f"], name="body_cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", ["v_out", "iter_f"], ["scan_out"], name="body_scan"),
        ],
        "loop_body",
        [vi("iter", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []),
         vi("v_in", TensorProto.FLOAT, [3])],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out", TensorProto.FLOAT, [3]),
         vi("scan_out", TensorProto.FLOAT, [3])],
    )
    nodes = [
        helper.make_node("If", ["cond"], ["if_out"], name="if_node",
                         then_branch=then_branch, else_branch=else_branch),
        helper.make_node("Loop", ["trip_count", "loop_cond", "if_out"], ["loop_final", "loop_scan"],
                         name="loop_node", body=body),
    ]
    graph = helper.make_graph(
        nodes, "if_loop",
        [vi("cond", TensorProto.BOOL, []), vi("X", TensorProto.FLOAT, [3])],
        [vi("if_out", TensorProto.FLOAT, [3]), vi("loop_final", TensorProto.FLOAT, [3]),
         vi("loop_scan", TensorProto.FLOAT, [4, 3])],
        initializer=inits)
    return make_model(graph, [("", OPSET17)])


# --------------------------------------------------------------------------
# typed_fields.onnx: initializers in float_data/int32_data/... instead of raw_data
# --------------------------------------------------------------------------

def typed_tensor(name, data_type, dims, field, values):
    t = TensorProto()
    t.name = name
    t.data_type = data_type
    t.dims.extend(dims)
    getattr(t, field).extend(values)
    return t


def make_typed_fields(rng):
    f16 = np.array([0.5, -1.25, 2.0, 65504.0], dtype=np.float16)
    tensors = [
        # (tensor, cast needed to reach FLOAT)
        typed_tensor("t_float", TensorProto.FLOAT, [4], "float_data",
                     [float(v) for v in f32(rng, (4,))]),
        typed_tensor("t_int64", TensorProto.INT64, [4], "int64_data", [-3, 0, 7, 1 << 40]),
        typed_tensor("t_int32", TensorProto.INT32, [4], "int32_data", [-100000, -1, 0, 123456]),
        typed_tensor("t_int16", TensorProto.INT16, [4], "int32_data", [-32768, -2, 5, 32767]),
        typed_tensor("t_uint16", TensorProto.UINT16, [4], "int32_data", [0, 1, 40000, 65535]),
        typed_tensor("t_int8", TensorProto.INT8, [4], "int32_data", [-128, -1, 1, 127]),
        typed_tensor("t_uint8", TensorProto.UINT8, [4], "int32_data", [0, 1, 128, 255]),
        # float16: each element's IEEE bit pattern stored in an int32_data slot
        typed_tensor("t_float16", TensorProto.FLOAT16, [4], "int32_data",
                     [int(v) for v in f16.view(np.uint16)]),
        typed_tensor("t_bool", TensorProto.BOOL, [4], "int32_data", [1, 0, 0, 1]),
        typed_tensor("t_double", TensorProto.DOUBLE, [4], "double_data", [0.1, -2.5, 1e-3, 3.0]),
        typed_tensor("t_uint32", TensorProto.UINT32, [4], "uint64_data", [0, 1, 70000, 4294967295]),
        typed_tensor("t_uint64", TensorProto.UINT64, [4], "uint64_data", [0, 2, 1 << 33, (1 << 63) + 5]),
    ]
    string_t = typed_tensor("t_string", TensorProto.STRING, [3], "string_data",
                            [b"alpha", b"", "\u00fcnicode".encode("utf-8")])
    # Scalar (rank 0) tensor in float_data, and an empty tensor (dims [0]).
    scalar_t = typed_tensor("t_scalar", TensorProto.FLOAT, [], "float_data", [0.25])
    empty_t = typed_tensor("t_empty", TensorProto.FLOAT, [0], "float_data", [])

    nodes, addends = [], ["X"]
    for t in tensors:
        if t.data_type == TensorProto.FLOAT:
            addends.append(t.name)
            continue
        out = t.name + "_f"
        nodes.append(helper.make_node("Cast", [t.name], [out], name="cast_" + t.name,
                                      to=TensorProto.FLOAT))
        addends.append(out)
    addends.append("t_scalar")
    nodes.append(helper.make_node("Sum", addends, ["Y"], name="sum_all"))
    nodes.append(helper.make_node("Identity", ["t_string"], ["S"], name="copy_strings"))
    nodes.append(helper.make_node("Concat", ["Y", "t_empty"], ["Y_cat"], name="concat_empty", axis=0))
    graph = helper.make_graph(
        nodes, "typed_fields", [vi("X", TensorProto.FLOAT, [4])],
        [vi("Y", TensorProto.FLOAT, [4]), vi("S", TensorProto.STRING, [3]),
         vi("Y_cat", TensorProto.FLOAT, [4])],
        initializer=tensors + [string_t, scalar_t, empty_t],
        doc_string="Initializers use the typed repeated fields instead of raw_data.")
    return make_model(graph, [("", OPSET17)])


# --------------------------------------------------------------------------
# rich_metadata.onnx: every optional ModelProto/GraphProto feature at once
# --------------------------------------------------------------------------

def make_rich_metadata(rng):
    w = f32(rng, (4, 4))
    inits = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(np.array(0.05, dtype=np.float32), "y_scale"),
        numpy_helper.from_array(np.array(0, dtype=np.uint8), "y_zero_point"),
        numpy_helper.from_array(np.array(0.01, dtype=np.float32), "learning_rate"),
        numpy_helper.from_array(f32(rng, (4,), 0.1), "bias"),
    ]
    inits[0].doc_string = "dense weight (doc string on a tensor)"

    # Sparse initializer: 3 non-zeros of a 4x4 matrix, linearised int64 indices.
    # Only the custom op reads it: onnx shape inference types a sparse
    # initializer as sparse_tensor, which standard ops such as Add reject.
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.5, -2.0, 0.25], dtype=np.float32), "S_sparse"),
        numpy_helper.from_array(np.array([1, 6, 15], dtype=np.int64), "S_sparse_indices"),
        [4, 4])

    # Model-local function custom.fn::ScaledRelu(x, w) = Relu(MatMul(x, w) * alpha)
    # where alpha is an attribute referenced from the calling node.
    alpha_node = helper.make_node("Constant", [], ["alpha_t"], name="fn_alpha")
    alpha_ref = alpha_node.attribute.add()
    alpha_ref.name = "value_float"
    alpha_ref.ref_attr_name = "alpha"
    alpha_ref.type = onnx.AttributeProto.FLOAT
    function = helper.make_function(
        "custom.fn", "ScaledRelu", ["x", "w"], ["y"],
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"], name="fn_matmul"),
            alpha_node,
            helper.make_node("Mul", ["xw", "alpha_t"], ["scaled"], name="fn_mul"),
            helper.make_node("Relu", ["scaled"], ["y"], name="fn_relu"),
        ],
        [helper.make_opsetid("", OPSET17)],
        attributes=["alpha"],
        doc_string="Model-local function with an attribute reference.")

    # A node in an unknown domain with attributes of every kind.
    attr_graph = helper.make_graph(
        [helper.make_node("Identity", ["g_in"], ["g_out"], name="attr_graph_identity")],
        "attr_graph", [vi("g_in", TensorProto.FLOAT, [1])], [vi("g_out", TensorProto.FLOAT, [1])])
    attr_graph2 = helper.make_graph(
        [helper.make_node("Neg", ["h_in"], ["h_out"], name="attr_graph_neg")],
        "attr_graph2", [vi("h_in", TensorProto.FLOAT, [1])], [vi("h_out", TensorProto.FLOAT, [1])])
    my_op = helper.make_node(
        "MyOp", ["Z", "S_sparse"], ["my_out"], name="my_op", domain="com.example",
        doc_string="Custom op reading the sparse initializer; its output is unused.",
        f_attr=1.5,
        i_attr=-42,
        s_attr="hello",
        t_attr=numpy_helper.from_array(np.arange(6, dtype=np.int32).reshape(2, 3), "t_attr_value"),
        g_attr=attr_graph,
        floats_attr=[0.5, -1.0, 3.25],
        ints_attr=[1, -2, 1 << 35],
        strings_attr=["a", "bc", ""],
        tensors_attr=[numpy_helper.from_array(np.array([1.0, 2.0], dtype=np.float32), "tt0"),
                      numpy_helper.from_array(np.array([7], dtype=np.int64), "tt1")],
        graphs_attr=[attr_graph2],
    )
    my_op.attribute.append(helper.make_attribute("sparse_attr", sparse))

    nodes = [
        helper.make_node("ScaledRelu", ["X", "W"], ["H"], name="scaled_relu", domain="custom.fn",
                         alpha=2.0, doc_string="calls the model-local function"),
        helper.make_node("Add", ["H", "bias"], ["Z"], name="add_bias", doc_string="adds a bias"),
        my_op,
        helper.make_node("Identity", ["Z"], ["Y"], name="out"),
    ]
    inputs = [vi("X", TensorProto.FLOAT, ["batch", 4])]
    inputs[0].doc_string = "input rows"
    outputs = [vi("Y", TensorProto.FLOAT, ["batch", 4])]
    outputs[0].doc_string = "output rows"
    value_info = [vi("H", TensorProto.FLOAT, ["batch", 4]), vi("Z", TensorProto.FLOAT, ["batch", 4])]
    value_info[0].doc_string = "function output"
    value_info[1].doc_string = "after bias add"

    graph = helper.make_graph(nodes, "rich_metadata", inputs, outputs, initializer=inits,
                              value_info=value_info, sparse_initializer=[sparse],
                              doc_string="Graph-level doc string.")
    # Quantization annotation: Y has a scale and a zero point tensor.
    ann = onnx.TensorAnnotation()
    ann.tensor_name = "Y"
    for k, v in (("SCALE_TENSOR", "y_scale"), ("ZERO_POINT_TENSOR", "y_zero_point")):
        e = ann.quant_parameter_tensor_names.add()
        e.key, e.value = k, v
    graph.quantization_annotation.append(ann)

    model = make_model(graph, [("", OPSET17), ("custom.fn", 1), ("com.example", 1)],
                       functions=[function], doc_string="Model-level doc string: **markdown** ok.")
    model.domain = "org.edgeq.tests"
    model.model_version = 42
    helper.set_model_props(model, {"author": "edgeq", "license": "Apache-2.0",
                                   "description": "metadata round-trip test",
                                   "unicode": "gr\u00fc\u00dfe \u2713"})

    # Training info: algorithm W_new = W - learning_rate * W (a toy decay step),
    # bound back to W; initialization resets learning_rate.
    algo = helper.make_graph(
        [helper.make_node("Mul", ["W", "learning_rate"], ["grad"], name="train_mul"),
         helper.make_node("Sub", ["W", "grad"], ["W_new"], name="train_sub")],
        "training_algorithm", [], [vi("W_new", TensorProto.FLOAT, [4, 4])])
    init_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["lr_init"], name="train_init",
                          value=numpy_helper.from_array(np.array(0.01, dtype=np.float32), "lr0"))],
        "training_initialization", [], [vi("lr_init", TensorProto.FLOAT, [])])
    ti = model.training_info.add()
    ti.algorithm.CopyFrom(algo)
    ti.initialization.CopyFrom(init_graph)
    e = ti.update_binding.add()
    e.key, e.value = "W", "W_new"
    e = ti.initialization_binding.add()
    e.key, e.value = "learning_rate", "lr_init"
    return model


# --------------------------------------------------------------------------
# ir10_opset21.onnx: IR 10 / opset 21 features built from raw wire bytes
# --------------------------------------------------------------------------
# Field numbers, from the current onnx/onnx.proto:
#   ModelProto:      ir_version = 1 (int64), opset_import = 8, graph = 7, functions = 25
#   GraphProto:      node = 1, initializer = 5, metadata_props = 16 (IR 10)
#   NodeProto:       domain = 7, overload = 8 (IR 10, string),
#                    metadata_props = 9 (IR 10, repeated StringStringEntryProto)
#   FunctionProto:   domain = 10, value_info = 12 (IR 9), overload = 13 (IR 10),
#                    metadata_props = 14 (IR 10)
#                    (note: field 10 is FunctionProto.domain, not overload)
#   ValueInfoProto:  metadata_props = 4 (IR 10)
#   TensorProto:     data_type = 2 (int32), raw_data = 9, metadata_props = 16 (IR 10)
#   TypeProto.Tensor elem_type = 1 (int32)
#   StringStringEntryProto: key = 1, value = 2
# TensorProto.DataType: BFLOAT16 = 16, FLOAT8E4M3FN = 17, FLOAT8E4M3FNUZ = 18,
#   FLOAT8E5M2 = 19, FLOAT8E5M2FNUZ = 20, UINT4 = 21, INT4 = 22.
# data_type and elem_type are plain int32 fields, so onnx 1.12 stores the new
# values without complaint; only the new *fields* need raw bytes.

DT_BFLOAT16 = 16
DT_FLOAT8E4M3FN = 17
DT_FLOAT8E4M3FNUZ = 18
DT_FLOAT8E5M2 = 19
DT_FLOAT8E5M2FNUZ = 20
DT_UINT4 = 21
DT_INT4 = 22

F_NODE_OVERLOAD = 8
F_NODE_METADATA = 9
F_FUNC_OVERLOAD = 13
F_FUNC_METADATA = 14
F_GRAPH_METADATA = 16
F_VALUEINFO_METADATA = 4
F_TENSOR_METADATA = 16
F_MODEL_IR_VERSION = 1


def encode_minifloat(value, exp_bits, man_bits, bias):
    """Encode an exactly representable finite value as a sign/exponent/mantissa byte."""
    if value == 0.0:
        return 0
    sign = 1 if value < 0 else 0
    mag = abs(value)
    e = int(np.floor(np.log2(mag)))
    mant = mag / 2.0 ** e - 1.0
    biased = e + bias
    assert 1 <= biased < (1 << exp_bits), (value, biased)
    m = mant * (1 << man_bits)
    assert m == int(m), value  # exactly representable
    return (sign << (exp_bits + man_bits)) | (biased << man_bits) | int(m)


def pack_4bit(values):
    """Pack 4-bit integers two per byte, first element in the low nibble."""
    nibbles = [v & 0x0F for v in values]
    if len(nibbles) % 2:
        nibbles.append(0)
    return bytes(nibbles[i] | (nibbles[i + 1] << 4) for i in range(0, len(nibbles), 2))


def raw_tensor(name, data_type, dims, raw):
    t = TensorProto()
    t.name = name
    t.data_type = data_type
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def make_ir10_opset21(rng):
    f8_values = [1.0, -2.0, 0.375, 0.0]
    bf16 = np.array([1.0, -0.5, 3.140625], dtype=np.float32)
    inits = [
        # 5 elements -> 3 bytes; the last high nibble is padding.
        raw_tensor("w_int4", DT_INT4, [5], pack_4bit([-8, -1, 0, 3, 7])),
        raw_tensor("w_uint4", DT_UINT4, [2, 3], pack_4bit([0, 1, 2, 13, 14, 15])),
        raw_tensor("w_f8e4m3fn", DT_FLOAT8E4M3FN, [4],
                   bytes(encode_minifloat(v, 4, 3, 7) for v in f8_values)),
        raw_tensor("w_f8e4m3fnuz", DT_FLOAT8E4M3FNUZ, [4],
                   bytes(encode_minifloat(v, 4, 3, 8) for v in f8_values)),
        raw_tensor("w_f8e5m2", DT_FLOAT8E5M2, [4],
                   bytes(encode_minifloat(v, 5, 2, 15) for v in f8_values)),
        raw_tensor("w_f8e5m2fnuz", DT_FLOAT8E5M2FNUZ, [4],
                   bytes(encode_minifloat(v, 5, 2, 16) for v in f8_values)),
        # bfloat16 = top 16 bits of float32 (these values are exact)
        raw_tensor("w_bf16", DT_BFLOAT16, [3], (bf16.view(np.uint32) >> 16).astype("<u2").tobytes()),
        numpy_helper.from_array(f32(rng, (2, 3)), "w_float"),
    ]
    # TensorProto.metadata_props on one initializer
    inits[0] = with_unknown_fields(inits[0], pb_string_entry(F_TENSOR_METADATA, "quant", "int4-symmetric"))

    add_node = with_unknown_fields(
        helper.make_node("Add", ["A", "B"], ["C"], name="add"),
        pb_string_entry(F_NODE_METADATA, "source", "layer0/add")
        + pb_string_entry(F_NODE_METADATA, "line", "17"))
    call_node = with_unknown_fields(
        helper.make_node("AddTwice", ["C", "w_float"], ["D"], name="add_twice", domain="custom.fn"),
        pb_bytes_field(F_NODE_OVERLOAD, "v2"))
    nodes = [
        add_node,
        call_node,
        helper.make_node("Cast", ["w_int4"], ["int4_as_float"], name="cast_int4", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["w_uint4"], ["uint4_as_float"], name="cast_uint4", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["Q8"], ["q8_as_float"], name="cast_q8", to=TensorProto.FLOAT),
        helper.make_node("Identity", ["w_f8e4m3fn"], ["f8_copy"], name="copy_f8"),
        helper.make_node("Cast", ["w_bf16"], ["bf16_as_float"], name="cast_bf16", to=TensorProto.FLOAT),
    ]
    value_info_c = with_unknown_fields(vi("C", TensorProto.FLOAT, [2, 3]),
                                       pb_string_entry(F_VALUEINFO_METADATA, "note", "sum of inputs"))
    graph = helper.make_graph(
        nodes, "ir10_opset21",
        [vi("A", TensorProto.FLOAT, [2, 3]), vi("B", TensorProto.FLOAT, [2, 3]),
         vi("Q8", DT_FLOAT8E4M3FN, [4])],
        [vi("D", TensorProto.FLOAT, [2, 3]), vi("int4_as_float", TensorProto.FLOAT, [5]),
         vi("uint4_as_float", TensorProto.FLOAT, [2, 3]), vi("q8_as_float", TensorProto.FLOAT, [4]),
         vi("f8_copy", DT_FLOAT8E4M3FN, [4]), vi("bf16_as_float", TensorProto.FLOAT, [3])],
        initializer=inits, value_info=[value_info_c])
    graph = with_unknown_fields(graph, pb_string_entry(F_GRAPH_METADATA, "graph_key", "graph_value"))

    # Two functions with the same (domain, name) told apart by overload.
    fn_body = [helper.make_node("Add", ["x", "y"], ["t"], name="fn_add1"),
               helper.make_node("Add", ["t", "y"], ["z"], name="fn_add2")]
    fn_v2 = with_unknown_fields(
        helper.make_function("custom.fn", "AddTwice", ["x", "y"], ["z"], fn_body,
                             [helper.make_opsetid("", 21)]),
        pb_bytes_field(F_FUNC_OVERLOAD, "v2")
        + pb_string_entry(F_FUNC_METADATA, "fn_key", "fn_value"))
    fn_plain = helper.make_function(
        "custom.fn", "AddTwice", ["x", "y"], ["z"],
        [helper.make_node("Add", ["x", "y"], ["z"], name="fn_add_once")],
        [helper.make_opsetid("", 21)])

    model = make_model(graph, [("", 21), ("custom.fn", 1)], functions=[fn_v2, fn_plain])
    # Serialize with ir_version 8 (what onnx 1.12 writes), then append a second
    # ir_version field = 10. Protobuf semantics: for a scalar field seen twice,
    # the last value wins, so this file's ir_version is 10.
    model.ir_version = IR8
    data = model.SerializeToString() + pb_int_field(F_MODEL_IR_VERSION, 10)
    check = onnx.ModelProto()
    check.ParseFromString(data)
    assert check.ir_version == 10
    return data


# --------------------------------------------------------------------------
# external/: weights in external/weights.bin (location/offset/length)
# --------------------------------------------------------------------------

def set_external(tensor, location, offset, length, write_offset_key=True):
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    entries = [("location", location)]
    if write_offset_key:
        entries.append(("offset", str(offset)))
    entries.append(("length", str(length)))
    for k, v in entries:
        e = tensor.external_data.add()
        e.key, e.value = k, v


def make_external(rng, out_dir):
    ext_dir = os.path.join(out_dir, "external")
    os.makedirs(ext_dir, exist_ok=True)
    w1 = f32(rng, (16, 32), 0.25)
    b1 = f32(rng, (32,), 0.1)
    w2 = f32(rng, (32, 8), 0.25)
    b2 = f32(rng, (8,), 0.1)
    # Layout of weights.bin (filler bytes 0xEE between tensors, so a reader
    # that ignores offsets gets garbage):
    #   W1  offset 0    (no "offset" key: it defaults to 0)     2048 bytes
    #   B1  offset 4096 (page aligned)                           128 bytes
    #   W2  offset 5002 (not even 4-byte aligned)                1024 bytes
    #   B2  stays inline in raw_data
    layout = [("W1", w1, 0, False), ("B1", b1, 4096, True), ("W2", w2, 5002, True)]
    blob = bytearray()
    inits = []
    for name, arr, offset, has_offset_key in layout:
        assert offset >= len(blob)
        blob.extend(b"\xee" * (offset - len(blob)))
        raw = arr.astype("<f4").tobytes()
        blob.extend(raw)
        t = numpy_helper.from_array(arr, name)
        set_external(t, "weights.bin", offset, len(raw), has_offset_key)
        inits.append(t)
    blob.extend(b"\xee" * 40)  # trailing filler after the last tensor
    inits.append(numpy_helper.from_array(b2, "B2"))
    with open(os.path.join(ext_dir, "weights.bin"), "wb") as f:
        f.write(bytes(blob))

    nodes = [
        helper.make_node("MatMul", ["X", "W1"], ["mm1"], name="mm1"),
        helper.make_node("Add", ["mm1", "B1"], ["add1"], name="add1"),
        helper.make_node("Relu", ["add1"], ["relu1"], name="relu1"),
        helper.make_node("MatMul", ["relu1", "W2"], ["mm2"], name="mm2"),
        helper.make_node("Add", ["mm2", "B2"], ["Y"], name="add2"),
    ]
    graph = helper.make_graph(nodes, "external_data", [vi("X", TensorProto.FLOAT, ["batch", 16])],
                              [vi("Y", TensorProto.FLOAT, ["batch", 8])], initializer=inits)
    model = make_model(graph, [("", OPSET17)])
    model_path = os.path.join(ext_dir, "model.onnx")
    save(model, model_path)
    x = np.random.default_rng(SEED + 99).standard_normal((2, 16)).astype(np.float32)
    np.save(os.path.join(out_dir, "external_input.npy"), x)
    return model


# --------------------------------------------------------------------------

README = """\
# Odd but valid ONNX files

Made by `tools/make_odd_models.py` (run with `/usr/bin/python3`; deterministic,
rerunning it reproduces the same bytes). edgeq must load each one and write it
back without losing information. All are tiny (< 50 KB).

| file | what it exercises |
| --- | --- |
| `unsorted.onnx` | nodes stored out of topological order (MatMul/Add/Relu shuffled); ORT accepts it, `onnx.checker` rejects it on purpose (topological-order check) |
| `constant_weights.onnx` | weights held in `Constant` nodes (`value` tensors, one `value_ints`) feeding Conv/Reshape/MatMul/Add; no initializers |
| `fp16_cast.onnx` | FP16 initializers -> `Cast(to=FLOAT)` -> MatMul/Add |
| `unused_domains.onnx` | opset_import declares `com.microsoft` v1 and `ai.onnx.ml` v3 that no node uses |
| `if_loop.onnx` | `If` (both branches read outer-scope `X` and initializer `outer_scale`) and `Loop` (body reads outer initializer `loop_step`, has a scan output); runnable |
| `typed_fields.onnx` | initializers in typed fields instead of raw_data: float_data, int64_data, int32_data (int32/int16/uint16/int8/uint8/float16/bool), double_data, uint64_data (uint32/uint64), string_data; a rank-0 and an empty (dims [0]) tensor |
| `rich_metadata.onnx` | metadata_props, doc strings on model/graph/nodes/values/tensor, producer name/version, model_version, domain, value_info for intermediates, a model-local function (`custom.fn::ScaledRelu`, with an attribute reference), training_info (algorithm + initialization graphs, bindings), a sparse_initializer, node `com.example::MyOp` with float/int/string/tensor/graph/sparse_tensor/floats/ints/strings/tensors/graphs attributes, quantization_annotation; not runnable (MyOp has no kernel) |
| `ir10_opset21.onnx` | IR 10 / opset 21 written as raw protobuf bytes: `ir_version` appears twice (8, then 10: last wins), initializers INT4/UINT4 (packed, odd element count), FLOAT8E4M3FN/E4M3FNUZ/E5M2/E5M2FNUZ, BFLOAT16; graph input and output with elem_type FLOAT8E4M3FN; NodeProto.overload (8) and metadata_props (9), FunctionProto.overload (13) and metadata_props (14) with two overloads of one function, GraphProto.metadata_props (16), ValueInfoProto.metadata_props (4), TensorProto.metadata_props (16); onnx 1.12 cannot check it; ORT 1.30 loads it and picks the `v2` overload (only float8 graph I/O cannot be fed from its JS API) |
| `external/model.onnx` + `external/weights.bin` | external data: W1 at offset 0 with no `offset` key, B1 at 4096, W2 at unaligned offset 5002, filler bytes between tensors, B2 inline; runnable (MatMul+Add+Relu) |
| `external_input.npy` | float32 [2,16] input for `external/model.onnx` |
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out-dir", default=os.path.join(here, os.pardir, "tests", "data", "odd"))
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out_dir)
    os.makedirs(out_dir, exist_ok=True)

    makers = [
        ("unsorted.onnx", make_unsorted),
        ("constant_weights.onnx", make_constant_weights),
        ("fp16_cast.onnx", make_fp16_cast),
        ("unused_domains.onnx", make_unused_domains),
        ("if_loop.onnx", make_if_loop),
        ("typed_fields.onnx", make_typed_fields),
        ("rich_metadata.onnx", make_rich_metadata),
        ("ir10_opset21.onnx", make_ir10_opset21),
    ]
    for i, (name, fn) in enumerate(makers):
        # One generator per file, so adding a file never changes the others.
        model = fn(np.random.default_rng(SEED + i))
        n = save(model, os.path.join(out_dir, name))
        print(f"wrote {os.path.join(out_dir, name)} ({n} bytes)")
    make_external(np.random.default_rng(SEED + 1000), out_dir)
    for rel in ("external/model.onnx", "external/weights.bin", "external_input.npy"):
        p = os.path.join(out_dir, rel)
        print(f"wrote {p} ({os.path.getsize(p)} bytes)")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(README)
    print(f"wrote {os.path.join(out_dir, 'README.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
