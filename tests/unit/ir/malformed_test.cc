// The malformed-input suite at the library level: each bad file raises edgeq::Error with the
// category (exit code) listed in tests/data/bad/EXPECTED.tsv and a message naming the culprit.
// Also built under ASan + UBSan (EDGEQ_SANITIZE).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "test_util.h"

namespace edgeq {
namespace {

struct BadCase {
  std::string file;
  int exit_code;
  std::string message_part;
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> out;
  std::ifstream in(test::source_dir() + "/tests/data/bad/EXPECTED.tsv");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream row(line);
    BadCase c;
    std::string code;
    std::getline(row, c.file, '\t');
    std::getline(row, code, '\t');
    std::getline(row, c.message_part, '\t');
    if (c.file.empty()) continue;
    c.exit_code = std::stoi(code);
    out.push_back(c);
  }
  return out;
}

TEST(Malformed, EachBadFileGetsItsCodeAndAClearMessage) {
  auto cases = bad_cases();
  ASSERT_GE(cases.size(), 14u);
  for (const auto& c : cases) {
    const std::string path = test::source_dir() + "/tests/data/bad/" + c.file;
    try {
      load_model(path);
      ADD_FAILURE() << c.file << " loaded without error";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), c.exit_code) << c.file << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(c.message_part), std::string::npos)
          << c.file << ": message does not name '" << c.message_part << "': " << e.what();
      EXPECT_NE(std::string(e.what()).find(c.file.substr(0, c.file.find('/'))), std::string::npos)
          << c.file << ": message does not name the file: " << e.what();
    }
  }
}

TEST(Malformed, MissingFileIsAnIoError) {
  try {
    load_model("/nonexistent/model.onnx");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
}

// Every prefix of a valid model and random byte flips: the loader answers with an edgeq::Error
// (or loads a model that happens to stay valid), never crashes.
TEST(Malformed, TruncationsAndBitFlipsNeverCrash) {
  const std::string good = test::read_bytes(test::source_dir() + "/tests/data/odd/if_loop.onnx");
  ASSERT_FALSE(good.empty());
  test::TempDir dir;
  const std::string path = dir.file("fuzz.onnx");
  auto attempt = [&](const std::string& bytes) {
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    try {
      Model m = load_model(path);
    } catch (const Error& e) {
      EXPECT_TRUE(e.kind() == ErrorKind::kInvalidModel || e.kind() == ErrorKind::kIo ||
                  e.kind() == ErrorKind::kUnsupported)
          << e.what();
    }
  };
  for (size_t len = 0; len < good.size(); len += 7) attempt(good.substr(0, len));
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) {
    std::string bytes = good;
    for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    attempt(bytes);
  }
}

}  // namespace
}  // namespace edgeq
