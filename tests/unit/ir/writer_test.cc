// The writer: atomic, never over its input, external data on request, deterministic.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "test_util.h"

namespace edgeq {
namespace {

namespace fs = std::filesystem;

std::string demo() { return test::source_dir() + "/models/demo_cnn.onnx"; }

TEST(Writer, RefusesToOverwriteItsInput) {
  test::TempDir dir;
  const std::string copy = dir.file("m.onnx");
  fs::copy_file(demo(), copy);
  const std::string before = test::read_bytes(copy);
  Model model = load_model(copy);
  SaveOptions options;
  options.protected_paths = {copy};
  try {
    save_model(model, copy, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
  }
  EXPECT_EQ(test::read_bytes(copy), before);
  EXPECT_EQ(dir.entries().size(), 1u);  // no temp file left
}

TEST(Writer, UnwritableDestinationLeavesNothing) {
  Model model = load_model(demo());
  try {
    save_model(model, "/nonexistent-dir/edgeq/out.onnx", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/edgeq/out.onnx"), std::string::npos);
  }
}

TEST(Writer, FailureMidWayRemovesTemporaries) {
  // A model whose external data file shrinks after loading: copying its bytes fails halfway.
  test::TempDir src, dst;
  for (const char* f : {"model.onnx", "weights.bin"})
    fs::copy_file(test::source_dir() + "/tests/data/odd/external/" + f, src.file(f));
  Model model = load_model(src.file("model.onnx"));
  fs::resize_file(src.file("weights.bin"), 10);
  SaveOptions options;
  options.external = ExternalDataMode::kAlways;
  EXPECT_THROW(save_model(model, dst.file("out.onnx"), options), Error);
  EXPECT_TRUE(dst.entries().empty()) << "left behind: " << dst.entries()[0];
}

TEST(Writer, ExternalDataOnRequestIsAlignedAndLoadsBack) {
  test::TempDir dir;
  Model model = load_model(demo());
  SaveOptions options;
  options.external = ExternalDataMode::kAlways;
  SavedFiles saved = save_model(model, dir.file("m.onnx"), options);
  ASSERT_FALSE(saved.data_path.empty());
  EXPECT_EQ(fs::file_size(saved.data_path), saved.data_bytes);
  EXPECT_LT(saved.model_bytes, 8192u);  // only small tensors stay inline
  Model again = load_model(saved.model_path);
  size_t external = 0;
  for (Value* v : again.graph->initializers()) {
    const Tensor* t = v->initializer();
    const Tensor* orig = model.graph->find_value(v->name())->initializer();
    ASSERT_NE(orig, nullptr);
    if (t->file_region()) {
      ++external;
      EXPECT_EQ(t->file_region()->offset % 4096, 0u);
      EXPECT_GE(t->byte_size(), 1024u);
    }
    auto a = t->bytes(), b = orig->bytes();
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << v->name();
  }
  EXPECT_GT(external, 0u);
  // Same model, same options: same bytes, data file included.
  SavedFiles second = save_model(model, dir.file("n.onnx"), options);
  EXPECT_EQ(test::read_bytes(saved.data_path), test::read_bytes(second.data_path));
}

}  // namespace
}  // namespace edgeq
