#!/usr/bin/python3
"""Generate the demo image classifier models/demo_cnn.onnx and a sample input.

Run with Debian's python (it has python3-onnx and python3-numpy):

    /usr/bin/python3 tools/make_demo_model.py [--out-dir models]

Outputs (deterministic: fixed seed, same bytes on every run):
  models/demo_cnn.onnx        opset 13, IR 7, ~0.8 MB of float32 weights
  models/demo_cnn.input.npy   float32 [4,1,28,28] sample batch

Architecture (MNIST-sized, PyTorch-exporter-like names):
  image [N,1,28,28]
  -> Conv 1->16 3x3 pad 1 -> BatchNormalization -> Relu -> MaxPool 2x2   [N,16,14,14]
  -> Conv 16->32 3x3 pad 1 -> Relu                                       [N,32,14,14]
  -> depthwise Conv 3x3 pad 1 (group=32) -> Relu -> MaxPool 2x2          [N,32,7,7]
  -> Reshape [0,-1]                                                      [N,1568]
  -> MatMul 1568x128 -> Add bias -> Relu                                 [N,128]
  -> Gemm 128->10 (transB=1)                                             logits [N,10]
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20240613
OPSET = 13
IR_VERSION = 7


def he_normal(rng, shape, fan_in):
    """He (Kaiming) normal init: std = sqrt(2 / fan_in)."""
    std = np.sqrt(2.0 / fan_in)
    return (rng.standard_normal(shape) * std).astype(np.float32)


def small_bias(rng, n):
    return (rng.standard_normal(n) * 0.01).astype(np.float32)


def build_model():
    rng = np.random.default_rng(SEED)
    inits = []

    def add_init(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    # conv1 + bn1
    add_init("conv1.weight", he_normal(rng, (16, 1, 3, 3), fan_in=1 * 3 * 3))
    add_init("conv1.bias", small_bias(rng, 16))
    add_init("bn1.weight", (1.0 + 0.1 * rng.standard_normal(16)).astype(np.float32))
    add_init("bn1.bias", (0.1 * rng.standard_normal(16)).astype(np.float32))
    add_init("bn1.running_mean", (0.1 * rng.standard_normal(16)).astype(np.float32))
    add_init("bn1.running_var", rng.uniform(0.5, 1.5, 16).astype(np.float32))
    # conv2
    add_init("conv2.weight", he_normal(rng, (32, 16, 3, 3), fan_in=16 * 3 * 3))
    add_init("conv2.bias", small_bias(rng, 32))
    # depthwise conv: one 3x3 filter per channel, so fan_in = 1*3*3
    add_init("dwconv.weight", he_normal(rng, (32, 1, 3, 3), fan_in=1 * 3 * 3))
    add_init("dwconv.bias", small_bias(rng, 32))
    # flatten shape for Reshape: keep batch dim (0 = copy), infer the rest
    add_init("flatten.shape", np.array([0, -1], dtype=np.int64))
    # fc1 as MatMul + Add (like torch.onnx exports nn.Linear with a symbolic batch)
    add_init("fc1.weight", he_normal(rng, (32 * 7 * 7, 128), fan_in=32 * 7 * 7))
    add_init("fc1.bias", small_bias(rng, 128))
    # fc2 as Gemm with transposed B ([out, in] layout like nn.Linear)
    add_init("fc2.weight", he_normal(rng, (10, 128), fan_in=128))
    add_init("fc2.bias", small_bias(rng, 10))

    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1_out"],
                         name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization",
                         ["conv1_out", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
                         ["bn1_out"], name="bn1", epsilon=1e-5, momentum=0.9),
        helper.make_node("Relu", ["bn1_out"], ["relu1_out"], name="relu1"),
        helper.make_node("MaxPool", ["relu1_out"], ["pool1_out"], name="pool1",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1_out", "conv2.weight", "conv2.bias"], ["conv2_out"],
                         name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv2_out"], ["relu2_out"], name="relu2"),
        helper.make_node("Conv", ["relu2_out", "dwconv.weight", "dwconv.bias"], ["dwconv_out"],
                         name="dwconv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
                         group=32),
        helper.make_node("Relu", ["dwconv_out"], ["relu3_out"], name="relu3"),
        helper.make_node("MaxPool", ["relu3_out"], ["pool2_out"], name="pool2",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["pool2_out", "flatten.shape"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "fc1.weight"], ["fc1_mm"], name="fc1_matmul"),
        helper.make_node("Add", ["fc1_mm", "fc1.bias"], ["fc1_out"], name="fc1_add"),
        helper.make_node("Relu", ["fc1_out"], ["relu4_out"], name="relu4"),
        helper.make_node("Gemm", ["relu4_out", "fc2.weight", "fc2.bias"], ["logits"],
                         name="fc2", alpha=1.0, beta=1.0, transB=1),
    ]

    graph = helper.make_graph(
        nodes,
        "demo_cnn",
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
        doc_string="Small MNIST-sized CNN with random He-initialised weights (edgeq demo).",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edgeq-tools",
        producer_version="0.1",
        doc_string="edgeq demo model generated by tools/make_demo_model.py",
    )
    model.ir_version = IR_VERSION
    # Record intermediate shapes (as real exporters do) so tools can show them.
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      os.pardir, "models"))
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out_dir)
    os.makedirs(out_dir, exist_ok=True)

    model = build_model()
    onnx.checker.check_model(model, full_check=True)
    model_path = os.path.join(out_dir, "demo_cnn.onnx")
    with open(model_path, "wb") as f:
        f.write(model.SerializeToString())

    # Sample input: separate seed so the weights do not depend on it.
    rng = np.random.default_rng(SEED + 1)
    x = rng.random((4, 1, 28, 28), dtype=np.float32)
    input_path = os.path.join(out_dir, "demo_cnn.input.npy")
    np.save(input_path, x)

    n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    w_bytes = sum(len(t.raw_data) for t in model.graph.initializer)
    print(f"wrote {model_path}: {os.path.getsize(model_path)} bytes, "
          f"{len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers, "
          f"{n_params} parameters ({w_bytes} weight bytes), opset {OPSET}, IR {model.ir_version}")
    print(f"wrote {input_path}: float32 {list(x.shape)}, {os.path.getsize(input_path)} bytes")
    for t in model.graph.initializer:
        print(f"  {t.name:18s} {onnx.TensorProto.DataType.Name(t.data_type):6s} {list(t.dims)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
