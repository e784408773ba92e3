// Files real exporters write that are odd but valid: each loads, saves and loads again with
// nothing lost.
#include <gtest/gtest.h>

#include <filesystem>

#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "proto_canon.h"
#include "test_util.h"

namespace edgeq {
namespace {

std::string odd(const std::string& name) { return test::source_dir() + "/tests/data/odd/" + name; }

// Compares every tensor (initializers of all graphs) by dtype, dims and bytes.
void expect_same_tensors(const Model& a, const Model& b) {
  std::map<std::string, const Tensor*> ta, tb;
  a.graph->for_each_graph([&](const Graph& g) {
    for (Value* v : g.initializers()) ta[v->name()] = v->initializer();
  });
  b.graph->for_each_graph([&](const Graph& g) {
    for (Value* v : g.initializers()) tb[v->name()] = v->initializer();
  });
  ASSERT_EQ(ta.size(), tb.size());
  for (const auto& [name, t] : ta) {
    ASSERT_TRUE(tb.count(name)) << name;
    const Tensor* u = tb[name];
    EXPECT_EQ(t->dtype(), u->dtype()) << name;
    EXPECT_EQ(t->dims(), u->dims()) << name;
    auto x = t->bytes(), y = u->bytes();
    EXPECT_TRUE(x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin())) << name;
  }
}

class OddModel : public ::testing::TestWithParam<std::string> {};

TEST_P(OddModel, RoundTripsLosslessly) {
  test::TempDir dir;
  const std::string in = odd(GetParam());
  Model model = load_model(in);
  const std::string out = dir.file("out.onnx");
  save_model(model, out, {});
  EXPECT_EQ(test::canonical_model(in), test::canonical_model(out));
  Model again = load_model(out);
  expect_same_tensors(model, again);
  const std::string out2 = dir.file("out2.onnx");
  save_model(again, out2, {});
  EXPECT_EQ(test::read_bytes(out), test::read_bytes(out2));
}

INSTANTIATE_TEST_SUITE_P(Odd, OddModel,
                         ::testing::Values("constant_weights.onnx", "fp16_cast.onnx",
                                           "unused_domains.onnx", "if_loop.onnx",
                                           "typed_fields.onnx", "rich_metadata.onnx",
                                           "ir10_opset21.onnx"),
                         [](const auto& info) {
                           std::string n = info.param;
                           return n.substr(0, n.find('.'));
                         });

TEST(OddModels, UnsortedNodesAreSortedAndNothingElseChanges) {
  test::TempDir dir;
  ModelSource source;
  Model model = load_model(odd("unsorted.onnx"), &source);
  // Every input of every node is produced earlier (or is a graph input / initializer).
  std::set<const Value*> seen;
  for (Value* v : model.graph->inputs()) seen.insert(v);
  for (Value* v : model.graph->initializers()) seen.insert(v);
  for (const auto& n : model.graph->nodes()) {
    for (Value* in : n->inputs()) EXPECT_TRUE(in == nullptr || seen.count(in)) << n->describe();
    for (Value* out : n->outputs()) seen.insert(out);
  }
  EXPECT_FALSE(source.warnings.empty());
  const std::string out = dir.file("sorted.onnx");
  save_model(model, out, {});
  onnx::ModelProto a, b;
  ASSERT_TRUE(test::parse_model_file(odd("unsorted.onnx"), a));
  ASSERT_TRUE(test::parse_model_file(out, b));
  test::canonicalize(a);
  test::canonicalize(b);
  auto node_set = [](onnx::ModelProto& m) {
    std::multiset<std::string> nodes;
    for (const auto& n : m.graph().node()) nodes.insert(test::deterministic_bytes(n));
    m.mutable_graph()->clear_node();
    return nodes;
  };
  EXPECT_EQ(node_set(a), node_set(b));
  EXPECT_EQ(test::deterministic_bytes(a), test::deterministic_bytes(b));
}

TEST(OddModels, Ir10FieldsLibonnxDoesNotKnowSurvive) {
  test::TempDir dir;
  ModelSource source;
  Model model = load_model(odd("ir10_opset21.onnx"), &source);
  EXPECT_EQ(model.ir_version, 10);
  EXPECT_EQ(model.opset(""), 21);
  EXPECT_FALSE(source.checked);  // too new for libonnx 1.12's checker: loaded with a warning
  EXPECT_FALSE(source.warnings.empty());
  std::set<DType> dtypes;
  for (Value* v : model.graph->initializers()) dtypes.insert(v->initializer()->dtype());
  for (DType d : {DType::kInt4, DType::kUint4, DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ,
                  DType::kFloat8E5M2, DType::kFloat8E5M2FNUZ, DType::kBfloat16})
    EXPECT_TRUE(dtypes.count(d)) << dtype_name(d);
  Value* q8 = model.graph->find_value("Q8");  // a graph input typed float8e4m3fn
  ASSERT_TRUE(q8 != nullptr && q8->info.tensor.has_value());
  EXPECT_EQ(q8->info.tensor->elem, DType::kFloat8E4M3FN);
  const std::string out = dir.file("out.onnx");
  save_model(model, out, {});
  const std::string bytes = test::read_bytes(out);
  // NodeProto.overload and the function overloads are carried as unknown fields.
  EXPECT_NE(bytes.find("v2"), std::string::npos);
}

TEST(OddModels, ExternalDataIsReadInPlaceAndRewritten) {
  test::TempDir dir;
  ModelSource source;
  Model model = load_model(odd("external/model.onnx"), &source);
  ASSERT_EQ(source.data_files.size(), 1u);
  EXPECT_EQ(std::filesystem::path(source.data_files[0]).filename(), "weights.bin");
  int external = 0;
  for (Value* v : model.graph->initializers()) external += v->initializer()->file_region() != nullptr;
  EXPECT_GE(external, 2);

  SaveOptions options;
  options.source_had_external_data = true;
  SavedFiles saved = save_model(model, dir.file("m.onnx"), options);
  EXPECT_EQ(saved.data_path, dir.file("m.onnx.data"));
  Model again = load_model(saved.model_path);
  expect_same_tensors(model, again);
  // Offsets of external tensors in the new file are aligned for mmap.
  for (Value* v : again.graph->initializers())
    if (const FileRegion* r = v->initializer()->file_region()) EXPECT_EQ(r->offset % 4096, 0u) << v->name();
}

}  // namespace
}  // namespace edgeq
