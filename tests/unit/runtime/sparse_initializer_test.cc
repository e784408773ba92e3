// Sparse initializers (GraphProto.sparse_initializer, what `edgeq prune --sparse-storage` writes):
// the executor densifies them once when it is built, so a model with a sparse weight computes
// exactly what its dense twin computes (same kernels, same bytes), and y = x·W + B checked against
// a double-precision product computed here; a corrupt one (index out of range, not ascending,
// wrong value count) is kInvalidModel naming the initializer, before anything runs; the
// densify_sparse pass gives back a dense initializer of the same name and the same outputs, and
// the written file has no sparse initializer left.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "../ir/test_util.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/ir/sparse.h"
#include "edgeq/passes/pass.h"
#include "edgeq/runtime/executor.h"

namespace edgeq::test {
namespace {

constexpr int64_t kBatch = 3, kIn = 8, kOut = 5;
// float32 MatMul over 8 terms against the double product: a few ulps of values around 1.
constexpr double kProductTolerance = 1e-5;

// 70 % of the weights are zero (a pruned layer); the rest uniform in [-1, 1) from a fixed seed.
std::vector<float> pruned_weight() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(kIn * kOut));
  for (size_t i = 0; i < w.size(); ++i) {
    const float x = dist(rng);
    w[i] = i % 10 < 7 ? 0.0f : x;
  }
  return w;
}

Tensor floats(std::vector<int64_t> dims, const std::vector<float>& v) {
  return Tensor::from_values<float>(DType::kFloat, std::move(dims), std::span<const float>(v));
}

// y = MatMul(x, W) + B with W stored sparse (or dense: the twin). With `weight_is_input`, W is
// also listed as a graph input (an overridable default, as older exporters write it).
Model make_model(bool sparse, bool weight_is_input = false,
                 const std::string* serialized = nullptr) {
  Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", 17});
  m.graph = std::make_unique<Graph>();
  Graph& g = *m.graph;
  g.name = "sparse_matmul";
  Value* x = g.add_value("x");
  x->info.present = x->info.has_type = true;
  x->info.type_kind = "tensor";
  x->info.tensor = TensorType{DType::kFloat, std::vector<Dim>{{kBatch, "", ""}, {kIn, "", ""}}};
  g.add_input(x);
  const Tensor w = floats({kIn, kOut}, pruned_weight());
  Value* wv = serialized ? g.add_sparse_initializer("W", *serialized)
              : sparse   ? g.add_sparse_initializer("W", serialize_sparse_tensor("W", w))
                         : g.add_initializer("W", w);
  if (weight_is_input) {
    wv->info.present = wv->info.has_type = true;
    wv->info.type_kind = "tensor";
    wv->info.tensor = TensorType{DType::kFloat, std::vector<Dim>{{kIn, "", ""}, {kOut, "", ""}}};
    g.add_input(wv);
  }
  Value* b = g.add_initializer("B", floats({kOut}, {0.5f, -0.25f, 0.0f, 1.0f, -1.5f}));
  Value* xw = g.add_value("xw");
  g.add_node("MatMul", "", {x, wv}, {xw});
  Value* y = g.add_value("y");
  g.add_node("Add", "", {xw, b}, {y});
  y->info.present = y->info.has_type = true;
  y->info.type_kind = "tensor";
  y->info.tensor = TensorType{DType::kFloat, std::vector<Dim>{{kBatch, "", ""}, {kOut, "", ""}}};
  g.add_output(y);
  return m;
}

std::vector<float> input_values() {
  std::vector<float> x(static_cast<size_t>(kBatch * kIn));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * static_cast<float>(i)) * 2.0f;
  return x;
}

Tensor run_y(const Model& m) {
  Executor ex(m, {2});
  auto out = ex.run({{"x", RtValue(floats({kBatch, kIn}, input_values()))}});
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, "y");
  return out[0].second.tensor;
}

std::vector<float> as_floats(const Tensor& t) {
  auto v = t.values<float>();
  return {v.begin(), v.end()};
}

void expect_is_reference_product(const Tensor& y) {
  const std::vector<float> x = input_values(), w = pruned_weight();
  const float b[kOut] = {0.5f, -0.25f, 0.0f, 1.0f, -1.5f};
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{kBatch, kOut}));
  const std::vector<float> got = as_floats(y);
  for (int64_t r = 0; r < kBatch; ++r)
    for (int64_t c = 0; c < kOut; ++c) {
      double want = b[c];
      for (int64_t k = 0; k < kIn; ++k)
        want += static_cast<double>(x[static_cast<size_t>(r * kIn + k)]) *
                w[static_cast<size_t>(k * kOut + c)];
      EXPECT_NEAR(got[static_cast<size_t>(r * kOut + c)], want, kProductTolerance) << r << "," << c;
    }
}

// A SparseTensorProto for W with the given linear indices and one value per index.
std::string handmade_sparse(const std::vector<int64_t>& indices, int64_t value_count) {
  onnx::SparseTensorProto sp;
  sp.add_dims(kIn);
  sp.add_dims(kOut);
  onnx::TensorProto* v = sp.mutable_values();
  v->set_name("W");
  v->set_data_type(onnx::TensorProto::FLOAT);
  v->add_dims(value_count);
  const std::vector<float> ones(static_cast<size_t>(value_count), 1.0f);
  v->set_raw_data(
      std::string(reinterpret_cast<const char*>(ones.data()), sizeof(float) * ones.size()));
  onnx::TensorProto* ix = sp.mutable_indices();
  ix->set_data_type(onnx::TensorProto::INT64);
  ix->add_dims(static_cast<int64_t>(indices.size()));
  for (int64_t i : indices) ix->add_int64_data(i);
  return sp.SerializeAsString();
}

void expect_invalid_model(const Model& m, const std::string& reason) {
  try {
    Executor ex(m);
    FAIL() << "the executor accepted a corrupt sparse initializer (" << reason << ")";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidModel) << e.what();
    EXPECT_EQ(e.exit_code(), 3);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("sparse initializer 'W'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(reason), std::string::npos) << msg;
  }
}

TEST(SparseInitializer, RunsLikeItsDenseTwin) {
  const Model sparse = make_model(true), dense = make_model(false);
  ASSERT_EQ(sparse.graph->sparse_initializers().size(), 1u);
  ASSERT_FALSE(sparse.graph->find_value("W")->is_initializer());
  const Tensor ys = run_y(sparse), yd = run_y(dense);
  ASSERT_EQ(ys.byte_size(), yd.byte_size());
  EXPECT_EQ(std::memcmp(ys.bytes().data(), yd.bytes().data(), ys.byte_size()), 0);
  expect_is_reference_product(ys);
}

TEST(SparseInitializer, RunsAfterSaveAndLoad) {
  TempDir dir;
  save_model(make_model(true), dir.file("m.onnx"), {});
  Model loaded = load_model(dir.file("m.onnx"));
  ASSERT_EQ(loaded.graph->sparse_initializers().size(), 1u);
  const Tensor y = run_y(loaded), yd = run_y(make_model(false));
  EXPECT_EQ(as_floats(y), as_floats(yd));
}

TEST(SparseInitializer, AlsoAGraphInputIsAnOverridableDefault) {
  const Model m = make_model(true, /*weight_is_input=*/true);
  // Not fed: the stored (densified) value; the error text lists x only as a required input.
  expect_is_reference_product(run_y(m));
  Executor ex(m);
  try {
    ex.run({});
    FAIL() << "ran without x";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(inputs: x)"), std::string::npos) << e.what();
  }
  // Fed: the caller's value wins (ONNX IR ≥ 4: an initializer listed as an input is a default).
  std::vector<float> ones(static_cast<size_t>(kIn * kOut), 1.0f);
  auto out = ex.run({{"x", RtValue(floats({kBatch, kIn}, input_values()))},
                     {"W", RtValue(floats({kIn, kOut}, ones))}});
  const std::vector<float> x = input_values(), y = as_floats(out[0].second.tensor);
  double row0 = 0;
  for (int64_t k = 0; k < kIn; ++k) row0 += x[static_cast<size_t>(k)];
  EXPECT_NEAR(y[0], row0 + 0.5, kProductTolerance);
}

TEST(SparseInitializer, CorruptOneIsAnInvalidModel) {
  const int64_t last = kIn * kOut - 1;
  // The handmade form itself is right: ascending, in range.
  const std::string good = handmade_sparse({0, 7, last}, 3);
  const Tensor dense = run_y(make_model(true, false, &good));
  EXPECT_EQ(dense.dims(), (std::vector<int64_t>{kBatch, kOut}));

  std::string bad = handmade_sparse({0, 7, last + 1}, 3);
  const Model out_of_range = make_model(true, false, &bad);
  expect_invalid_model(out_of_range, "out of range");
  bad = handmade_sparse({0, -1, 4}, 3);
  expect_invalid_model(make_model(true, false, &bad), "out of range");
  bad = handmade_sparse({7, 3, 9}, 3);
  expect_invalid_model(make_model(true, false, &bad), "not ascending");
  bad = handmade_sparse({1, 2, 3}, 2);  // 2 values, 3 indices
  expect_invalid_model(make_model(true, false, &bad), "sparse");
  bad = "\xff\xff\xff not a protobuf";
  expect_invalid_model(make_model(true, false, &bad), "does not parse");
}

TEST(SparseInitializer, CorruptOneInAFileIsAnInvalidModelNotACrash) {
  TempDir dir;
  const std::string bad = handmade_sparse({0, 7, kIn * kOut}, 3);
  save_model(make_model(true, false, &bad), dir.file("bad.onnx"), {});
  // With libonnx's checker (the default) the loader refuses it, naming the file.
  try {
    load_model(dir.file("bad.onnx"));
    FAIL() << "the loader accepted a sparse index out of range";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidModel) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir.file("bad.onnx")), std::string::npos) << e.what();
  }
  // Without it (files newer than libonnx skip the checker) the executor refuses it, naming W.
  LoadOptions unchecked;
  unchecked.run_onnx_checker = false;
  Model m = load_model(dir.file("bad.onnx"), nullptr, unchecked);
  expect_invalid_model(m, "out of range");
}

TEST(DensifySparse, GivesADenseInitializerOfTheSameNameAndTheSameOutputs) {
  {
    TempDir dir;
    Model m = make_model(true, /*weight_is_input=*/true);
    const Tensor before = run_y(m);
    PassContext ctx;
    std::vector<std::string> notes;
    ctx.log = [&](const std::string& line) { notes.push_back(line); };
    const PassResult r = run_pass("densify_sparse", m, ctx);
    EXPECT_EQ(r.changes, 1);
    ASSERT_EQ(notes.size(), 1u);
    EXPECT_NE(notes[0].find("densified W"), std::string::npos) << notes[0];
    EXPECT_TRUE(m.graph->sparse_initializers().empty());
    const Value* w = m.graph->find_value("W");
    ASSERT_NE(w, nullptr);
    ASSERT_TRUE(w->is_initializer());
    EXPECT_FALSE(w->is_sparse_initializer());
    EXPECT_EQ(as_floats(*w->initializer()), pruned_weight());
    EXPECT_EQ(m.graph->inputs().size(), 2u);  // the interface is unchanged
    EXPECT_EQ(as_floats(run_y(m)), as_floats(before));
    // A second run has nothing to do; the written file holds W dense and no sparse initializer.
    EXPECT_EQ(run_pass("densify_sparse", m, ctx).changes, 0);
    save_model(m, dir.file("dense.onnx"), {});
    onnx::ModelProto proto;
    ASSERT_TRUE(proto.ParseFromString(read_bytes(dir.file("dense.onnx"))));
    EXPECT_EQ(proto.graph().sparse_initializer_size(), 0);
    ASSERT_EQ(proto.graph().initializer_size(), 2);
    EXPECT_EQ(as_floats(run_y(load_model(dir.file("dense.onnx")))), as_floats(before));
  }
}

TEST(DensifySparse, CorruptOneThrowsAndLeavesTheModelUnchanged) {
  const std::string bad = handmade_sparse({0, 3, 2}, 3);
  Model m = make_model(true, false, &bad);
  PassContext ctx;
  try {
    run_pass("densify_sparse", m, ctx);
    FAIL() << "densify_sparse accepted indices that are not ascending";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidModel) << e.what();
    EXPECT_NE(std::string(e.what()).find("sparse initializer 'W'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(m.graph->sparse_initializers().size(), 1u);
  EXPECT_FALSE(m.graph->find_value("W")->is_initializer());
}

}  // namespace
}  // namespace edgeq::test
