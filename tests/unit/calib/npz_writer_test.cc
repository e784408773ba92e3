// The streaming .npz writer, read back by edgeq's own archive reader (list_npz / NpyStream),
// checked byte by byte against the ZIP fields (CRC-32 from zlib over what is in the file), and —
// when Debian's /usr/bin/python3 with numpy is there — by numpy.load(allow_pickle=False).
#include "edgeq/data/npz_writer.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "../ir/test_util.h"
#include "edgeq/data/npy.h"
#include "edgeq/error.h"

namespace edgeq {
namespace {

uint32_t u32_at(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}

// Writes `rows` rows of a [rows, 3] float32 array and a [rows] int64 array, appended in uneven
// chunks (1, 2, 3, ... rows), then a meta string; returns the expected values.
struct Written {
  std::vector<float> f;
  std::vector<int64_t> i;
};
Written write_sample(const std::string& path, int64_t rows, NpzWriterOptions options) {
  NpzWriter w(path, options);
  const size_t fid = w.add_array("feat", DType::kFloat, {3});
  const size_t iid = w.add_array("index", DType::kInt64, {});
  Written out;
  int64_t done = 0;
  for (int64_t chunk = 1; done < rows; ++chunk) {
    const int64_t n = std::min(chunk, rows - done);
    std::vector<float> f(static_cast<size_t>(n * 3));
    std::vector<int64_t> i(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t c = 0; c < 3; ++c)
        f[static_cast<size_t>(r * 3 + c)] = 0.5f * static_cast<float>(done + r) + c;
      i[static_cast<size_t>(r)] = done + r;
    }
    w.append(fid, f.data(), n);
    w.append(iid, i.data(), n);
    out.f.insert(out.f.end(), f.begin(), f.end());
    out.i.insert(out.i.end(), i.begin(), i.end());
    done += n;
  }
  EXPECT_EQ(w.rows(fid), rows);
  w.add_string("meta", "{\"T\": 4, \"name\": \"caf\xc3\xa9\"}");
  EXPECT_FALSE(std::filesystem::exists(path)) << "visible before finish()";
  w.finish();
  return out;
}

void expect_reads_back(const std::string& path, int64_t rows, const Written& expected) {
  auto archive = DataFile::open(path);
  const std::vector<NpzMember> members = list_npz(*archive);
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].name, "feat");
  EXPECT_EQ(members[1].name, "index");
  EXPECT_EQ(members[2].name, "meta");

  auto feat = NpyStream::open_npz_member(archive, members[0]);
  EXPECT_EQ(feat->header().dtype, DType::kFloat);
  EXPECT_EQ(feat->header().dims, (std::vector<int64_t>{rows, 3}));
  EXPECT_EQ(feat->header().data_offset % 64, 0u);  // numpy's alignment
  std::vector<float> f(static_cast<size_t>(rows * 3));
  feat->read(f.data(), f.size() * sizeof(float));
  EXPECT_EQ(f, expected.f);

  auto index = NpyStream::open_npz_member(archive, members[1]);
  EXPECT_EQ(index->header().dims, (std::vector<int64_t>{rows}));
  std::vector<int64_t> i(static_cast<size_t>(rows));
  index->read(i.data(), i.size() * sizeof(int64_t));
  EXPECT_EQ(i, expected.i);

  // Every member's CRC-32 (local header, offset 14) is zlib's over the bytes in the file.
  const std::string bytes = test::read_bytes(path);
  for (const NpzMember& m : members) {
    size_t header = bytes.rfind("PK\x03\x04", m.data_offset);
    ASSERT_NE(header, std::string::npos);
    const uLong crc = ::crc32(::crc32(0, nullptr, 0),
                              reinterpret_cast<const Bytef*>(bytes.data() + m.data_offset),
                              static_cast<uInt>(m.uncompressed));
    EXPECT_EQ(u32_at(bytes, header + 14), static_cast<uint32_t>(crc)) << m.name;
  }
  // meta: a 0-d '<U' array of UTF-32LE code points ("café" is 4 code points, 5 UTF-8 bytes).
  const std::string meta = bytes.substr(members[2].data_offset, members[2].uncompressed);
  const std::string text = "{\"T\": 4, \"name\": \"caf\xc3\xa9\"}";
  const size_t points = text.size() - 1;
  EXPECT_NE(meta.find("'descr': '<U" + std::to_string(points) + "'"), std::string::npos)
      << meta.substr(0, 128);
  EXPECT_NE(meta.find("'shape': ()"), std::string::npos);
  const std::string data = meta.substr(meta.size() - 4 * points);
  EXPECT_EQ(u32_at(data, 0), static_cast<uint32_t>('{'));
  EXPECT_EQ(u32_at(data, 4 * (points - 3)), 0xE9u);  // é, before the closing "}
}

// numpy.load(allow_pickle=False) as the independent reader. Returns false when python/numpy
// are not there.
bool numpy_agrees(const std::string& path, int64_t rows) {
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0) return false;
  const std::string script =
      "import json, sys, numpy as np\n"
      "z = np.load(sys.argv[1], allow_pickle=False)\n"
      "n = int(sys.argv[2])\n"
      "assert z.files == ['feat', 'index', 'meta'], z.files\n"
      "f = z['feat']; i = z['index']\n"
      "assert f.shape == (n, 3) and f.dtype == np.float32, (f.shape, f.dtype)\n"
      "assert (f == 0.5 * np.arange(n, dtype=np.float32)[:, None] + np.arange(3, "
      "dtype=np.float32)).all()\n"
      "assert i.dtype == np.int64 and (i == np.arange(n)).all()\n"
      "m = json.loads(str(z['meta']))\n"
      "assert m == {'T': 4, 'name': 'caf\\u00e9'}, m\n"
      "import zipfile\n"
      "assert zipfile.ZipFile(sys.argv[1]).testzip() is None\n";
  test::TempDir dir;
  const std::string py = dir.file("check.py");
  std::ofstream(py) << script;
  const std::string cmd = "/usr/bin/python3 " + py + " " + path + " " + std::to_string(rows);
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return true;
}

TEST(NpzWriter, StreamsRowsIntoAnArchiveNumpyReads) {
  test::TempDir dir;
  const std::string path = dir.file("out.npz");
  NpzWriterOptions small;
  small.buffer_bytes = 64;  // forces buffered, flushed and direct writes
  const int64_t rows = 1000;
  const Written w = write_sample(path, rows, small);
  expect_reads_back(path, rows, w);
  if (!numpy_agrees(path, rows))
    GTEST_LOG_(INFO) << "no /usr/bin/python3 with numpy: numpy check skipped";
  // Only the archive is left in the folder.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    entries += e.path().filename() != "out.npz";
  EXPECT_EQ(entries, 0);
}

TEST(NpzWriter, Zip64RecordsAreReadByEveryReader) {
  test::TempDir dir;
  const std::string path = dir.file("z64.npz");
  NpzWriterOptions zip64;
  zip64.force_zip64 = true;
  const Written w = write_sample(path, 37, zip64);
  expect_reads_back(path, 37, w);
  const std::string bytes = test::read_bytes(path);
  EXPECT_NE(bytes.find(std::string("PK\x06\x06", 4)), std::string::npos) << "no zip64 end record";
  EXPECT_NE(bytes.find(std::string("PK\x06\x07", 4)), std::string::npos) << "no zip64 locator";
  numpy_agrees(path, 37);
}

TEST(NpzWriter, ZeroRowsGiveEmptyArrays) {
  test::TempDir dir;
  const std::string path = dir.file("empty.npz");
  {
    NpzWriter w(path);
    w.add_array("x", DType::kFloat, {4});
    w.add_string("meta", "");
    w.finish();
  }
  auto archive = DataFile::open(path);
  auto members = list_npz(*archive);
  ASSERT_EQ(members.size(), 2u);
  auto x = NpyStream::open_npz_member(archive, members[0]);
  EXPECT_EQ(x->header().dims, (std::vector<int64_t>{0, 4}));
}

TEST(NpzWriter, NothingIsLeftWithoutFinish) {
  test::TempDir dir;
  const std::string path = dir.file("never.npz");
  {
    NpzWriter w(path);
    const size_t id = w.add_array("x", DType::kInt64, {2});
    const int64_t v[4] = {1, 2, 3, 4};
    w.append(id, v, 2);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(NpzWriter, UnwritableDestinationIsAnIoErrorAtOnce) {
  test::TempDir dir;
  for (const std::string& path : {dir.file("missing/out.npz"), dir.path()}) {
    try {
      NpzWriter w(path);
      ADD_FAILURE() << "accepted " << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST(NpzWriter, DTypesWithoutNpyCounterpartAreRefused) {
  test::TempDir dir;
  NpzWriter w(dir.file("x.npz"));
  try {
    w.add_array("s", DType::kBfloat16, {});
    ADD_FAILURE() << "accepted bfloat16";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
}

}  // namespace
}  // namespace edgeq
