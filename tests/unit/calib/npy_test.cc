#include <gtest/gtest.h>

#include "edgeq/data/npy.h"
#include "edgeq/error.h"
#include "../ir/test_util.h"

#include <fstream>

namespace edgeq {
namespace {

std::string fixture(const std::string& name) { return test::source_dir() + "/tests/data/npz/" + name; }

TEST(Npy, ReadsWhatNumpyWrites) {
  Tensor x = read_npy(fixture("x.npy"));
  EXPECT_EQ(x.dtype(), DType::kFloat);
  EXPECT_EQ(x.dims(), (std::vector<int64_t>{2, 3}));
  Tensor s = read_npy(fixture("scalar_f64.npy"));
  EXPECT_EQ(s.dtype(), DType::kDouble);
  EXPECT_TRUE(s.dims().empty());
  EXPECT_EQ(s.values<double>()[0], 2.5);
  Tensor u = read_npy(fixture("u8_3d.npy"));
  EXPECT_EQ(u.values<uint8_t>()[23], 23);
}

TEST(Npy, WritesTheBytesNumpyWrites) {
  for (const char* name : {"x.npy", "scalar_f64.npy", "u8_3d.npy"}) {
    const std::string original = test::read_bytes(fixture(name));
    EXPECT_EQ(npy_bytes(read_npy(fixture(name))), original) << name;
  }
  const std::string demo = test::source_dir() + "/models/demo_cnn.input.npy";
  EXPECT_EQ(npy_bytes(read_npy(demo)), test::read_bytes(demo));
}

TEST(Npz, ReadsStoredAndDeflatedArchives) {
  for (const char* name : {"stored.npz", "deflated.npz"}) {
    auto arrays = read_npz(fixture(name));
    ASSERT_EQ(arrays.size(), 3u) << name;
    EXPECT_EQ(arrays[0].first, "x");
    EXPECT_EQ(arrays[1].first, "ids");
    EXPECT_EQ(arrays[1].second.values<int64_t>()[4], 4);
    EXPECT_EQ(arrays[2].second.dtype(), DType::kBool);
    auto a = arrays[0].second.bytes();
    Tensor x = read_npy(fixture("x.npy"));
    auto b = x.bytes();
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << name;
  }
}

TEST(Npy, BadFilesAreInvalidData) {
  test::TempDir dir;
  const std::string path = dir.file("bad.npy");
  for (const std::string& bytes :
       {std::string("not numpy"), test::read_bytes(fixture("x.npy")).substr(0, 100),
        test::read_bytes(fixture("x.npy")) + "extra"}) {
    std::ofstream(path, std::ios::binary) << bytes;
    try {
      read_npy(path);
      ADD_FAILURE() << "accepted " << bytes.size() << " bytes";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidData);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace edgeq
