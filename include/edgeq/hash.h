// SHA-256 (FIPS 180-4), used to identify input files in reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace edgeq {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex_digest();  // finishes the hash; call once

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

// Hex SHA-256 of a file's bytes; throws io_error when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace edgeq
