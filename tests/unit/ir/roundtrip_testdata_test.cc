// Load → save is lossless on every model of the ONNX backend test data, and saving is
// deterministic.
#include <gtest/gtest.h>

#include <filesystem>

#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "proto_canon.h"
#include "test_util.h"

namespace edgeq {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> all_testdata_models() {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(test::testdata_dir()))
    if (e.path().filename() == "model.onnx") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(RoundTrip, EveryBackendTestModelIsLossless) {
  auto models = all_testdata_models();
  // libonnx-testdata ships 932 node cases plus the pytorch/simple/real suites.
  ASSERT_GT(models.size(), 1000u) << "package libonnx-testdata is missing";
  test::TempDir dir;
  int checked = 0;
  std::vector<std::string> failures;
  for (const auto& path : models) {
    const std::string out1 = dir.file("a.onnx"), out2 = dir.file("b.onnx"), out3 = dir.file("c.onnx");
    try {
      ModelSource source;
      Model model = load_model(path, &source);
      save_model(model, out1, {});
      save_model(model, out2, {});
      Model again = load_model(out1);
      save_model(again, out3, {});
    } catch (const Error& e) {
      failures.push_back(path + ": " + e.what());
      continue;
    }
    const std::string b1 = test::read_bytes(out1);
    if (b1 != test::read_bytes(out2)) failures.push_back(path + ": two saves differ");
    if (b1 != test::read_bytes(out3)) failures.push_back(path + ": load(save(m)) saves differently");
    if (test::canonical_model(path) != test::canonical_model(out1))
      failures.push_back(path + ": saved model differs from the original");
    ++checked;
  }
  for (size_t i = 0; i < std::min<size_t>(failures.size(), 30); ++i) ADD_FAILURE() << failures[i];
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << models.size() << " models failed";
  EXPECT_EQ(checked, static_cast<int>(models.size()));
}

}  // namespace
}  // namespace edgeq
