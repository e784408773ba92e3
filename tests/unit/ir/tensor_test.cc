#include <gtest/gtest.h>

#include <fstream>

#include "edgeq/error.h"
#include "edgeq/ir/tensor.h"
#include "test_util.h"

namespace edgeq {
namespace {

TEST(DType, TableMatchesOnnxCodesAndSizes) {
  EXPECT_EQ(static_cast<int>(DType::kFloat), 1);
  EXPECT_EQ(static_cast<int>(DType::kBfloat16), 16);
  EXPECT_EQ(static_cast<int>(DType::kInt4), 22);
  EXPECT_EQ(dtype_info(DType::kFloat8E5M2).bits, 8);
  EXPECT_EQ(dtype_name(DType::kFloat8E4M3FNUZ), "float8e4m3fnuz");
  EXPECT_EQ(find_dtype(99), nullptr);
  EXPECT_EQ(dtype_from_name("uint4"), DType::kUint4);
  // Every code 1..23 is known (ONNX IR 11 set).
  for (int code = 1; code <= 23; ++code) EXPECT_NE(find_dtype(code), nullptr) << code;
}

TEST(DType, SubByteTypesPackTwoPerByte) {
  EXPECT_EQ(storage_bytes(DType::kInt4, 5), 3u);
  EXPECT_EQ(storage_bytes(DType::kUint4, 4), 2u);
  EXPECT_EQ(storage_bytes(DType::kFloat4E2M1, 1), 1u);
  EXPECT_EQ(storage_bytes(DType::kFloat, 3), 12u);
  EXPECT_EQ(storage_bytes(DType::kComplex128, 2), 32u);
  EXPECT_FALSE(storage_bytes(DType::kDouble, UINT64_MAX / 2).has_value());
}

TEST(Tensor, ElementCountRejectsNegativeAndOverflow) {
  std::vector<int64_t> ok{2, 3, 4};
  EXPECT_EQ(checked_element_count(ok), 24u);
  std::vector<int64_t> negative{2, -1};
  EXPECT_FALSE(checked_element_count(negative).has_value());
  std::vector<int64_t> huge{int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_FALSE(checked_element_count(huge).has_value());
  std::vector<int64_t> scalar{};
  EXPECT_EQ(checked_element_count(scalar), 1u);
}

TEST(Tensor, FromValuesKeepsBytes) {
  std::vector<float> v{1.5f, -2.f, 3.25f};
  Tensor t = Tensor::from_values<float>(DType::kFloat, {3}, v);
  EXPECT_EQ(t.byte_size(), 12u);
  auto got = t.values<float>();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2], 3.25f);
  EXPECT_EQ(t.file_region(), nullptr);
}

TEST(Tensor, StorageSizeMismatchIsABug) {
  EXPECT_THROW(Tensor(DType::kFloat, {4}, make_owned_storage(std::string(15, '\0'))), Error);
}

TEST(Tensor, FileStorageMapsOnlyItsRegion) {
  test::TempDir dir;
  std::string path = dir.file("w.bin");
  {
    std::ofstream out(path, std::ios::binary);
    std::string junk(5001, 'x');
    out.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    float values[2] = {7.f, 8.f};
    out.write(reinterpret_cast<const char*>(values), sizeof(values));
  }
  auto file = DataFile::open(path);
  EXPECT_EQ(file->size(), 5009u);
  Tensor t(DType::kFloat, {2}, make_file_storage({file, 5001, 8}));
  ASSERT_NE(t.file_region(), nullptr);
  EXPECT_EQ(t.file_region()->offset, 5001u);
  auto v = t.values<float>();  // unaligned offset inside a page: mapping must still be exact
  EXPECT_EQ(v[0], 7.f);
  EXPECT_EQ(v[1], 8.f);
}

TEST(Tensor, MissingDataFileIsAnIoError) {
  try {
    DataFile::open("/nonexistent/edgeq/w.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/edgeq/w.bin"), std::string::npos);
  }
}

}  // namespace
}  // namespace edgeq
