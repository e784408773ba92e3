#!/usr/bin/python3
"""Writes a fully convolutional CNN for executor benchmarks (not committed; bench/ makes it):
stem conv 3x3/2 (3->32), four stages of [depthwise 3x3 + BN-folded bias + Relu, pointwise 1x1 +
Relu] with stride 2 at each stage start, widths 32->64->128->256, then GlobalAveragePool and a
Gemm to 1000 classes. Input "image" float32 [1, 3, H, W] with symbolic H and W, so the same model
runs on 224x224, 640x640 and 1024x1024 images. Deterministic weights (seeded).

usage: make_bench_cnn.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(11)
nodes, inits = [], []


def weight(name, shape, fan_in):
    inits.append(numpy_helper.from_array(
        (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name))
    return name


def conv(x, cin, cout, k, stride, group, name):
    w = weight(name + "_w", [cout, cin // group, k, k], cin // group * k * k)
    b = weight(name + "_b", [cout], 1000)
    y = name + "_y"
    nodes.append(helper.make_node("Conv", [x, w, b], [y], name=name, kernel_shape=[k, k],
                                  strides=[stride, stride], pads=[k // 2] * 4, group=group))
    r = name + "_relu"
    nodes.append(helper.make_node("Relu", [y], [r], name=name + "_relu"))
    return r


x = conv("image", 3, 32, 3, 2, 1, "stem")
c = 32
for stage, width in enumerate([64, 128, 256, 256]):
    for block in range(2):
        stride = 2 if block == 0 else 1
        x = conv(x, c, c, 3, stride, c, f"s{stage}b{block}_dw")
        x = conv(x, c, width, 1, 1, 1, f"s{stage}b{block}_pw")
        c = width
nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="gap"))
nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"))
fc_w = weight("fc_w", [1000, c], c)
fc_b = weight("fc_b", [1000], 1000)
nodes.append(helper.make_node("Gemm", ["flat", fc_w, fc_b], ["logits"], name="fc", transB=1))
graph = helper.make_graph(
    nodes, "bench_cnn",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="edgeq-tools")
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
print("wrote", sys.argv[1])
