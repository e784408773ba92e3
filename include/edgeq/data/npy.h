// NumPy .npy / .npz files: the data format users hand to `run`, `--calib`, `--eval`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "edgeq/ir/tensor.h"

namespace edgeq {

// Reads a .npy file (format 1.0–3.0, little-endian, C order). Throws kIo when unreadable and
// kInvalidData when it is not a .npy file or holds a dtype edgeq has no counterpart for.
Tensor read_npy(const std::string& path);
// Parses .npy bytes; `what` names the source in messages.
Tensor parse_npy(const std::string& bytes, const std::string& what);

// Writes a .npy file (format 1.0, the bytes numpy.save writes), atomically.
void write_npy(const std::string& path, const Tensor& tensor);
std::string npy_bytes(const Tensor& tensor);

// Reads every array of a .npz archive (numpy.savez or savez_compressed), in archive order,
// keyed by name without the ".npy" suffix.
std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& path);

// ---- Streaming: what calibration and evaluation use to read many samples without holding them.

// A .npy header: dtype, shape and where the data starts, as parse_npy checks them.
struct NpyHeader {
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;
  uint64_t data_offset = 0;  // bytes before the data (magic, version, length, dict)
  uint64_t data_bytes = 0;   // bytes the shape needs
};
// Bytes the first kNpyPreamble bytes of a .npy declare for the whole header (data_offset).
inline constexpr size_t kNpyPreamble = 12;
uint64_t npy_header_size(std::string_view preamble, const std::string& what);
// Parses a header; `bytes` holds at least npy_header_size() bytes (more is ignored).
NpyHeader parse_npy_header(std::string_view bytes, const std::string& what);

// One array of a .npz archive, located from its zip local header without reading the data.
struct NpzMember {
  std::string name;          // without the ".npy" suffix
  bool deflated = false;     // zip method 8 (savez_compressed); otherwise stored
  uint64_t data_offset = 0;  // of the member's (compressed) bytes in the archive
  uint64_t compressed = 0;
  uint64_t uncompressed = 0;
};
// Lists the members in archive order, reading only headers. Throws like read_npz.
std::vector<NpzMember> list_npz(const DataFile& archive);

// Sequential reader of one array's data bytes, from a .npy file or a .npz member: stored bytes
// are read with pread, deflated members are inflated through a small window — never the whole
// array at once. Used row by row (rows are dims[0]).
class NpyStream {
 public:
  static std::unique_ptr<NpyStream> open_npy(const std::string& path);
  static std::unique_ptr<NpyStream> open_npz_member(std::shared_ptr<DataFile> archive,
                                                    const NpzMember& member);
  virtual ~NpyStream() = default;

  const NpyHeader& header() const { return header_; }
  const std::string& what() const { return what_; }  // "file.npy" or "file.npz:name"
  // The next `n` data bytes; throws kInvalidData when the array ends early or is corrupt,
  // kIo when the file cannot be read.
  void read(void* out, uint64_t n);
  // Back to the first data byte.
  void rewind();

 protected:
  NpyStream() = default;
  // Reads `n` bytes of the member (header included) at the current position.
  virtual void read_raw(char* out, uint64_t n) = 0;
  // Moves to byte `pos` of the member (header included).
  virtual void seek_raw(uint64_t pos) = 0;
  void init(std::string what);

  NpyHeader header_;
  std::string what_;
  uint64_t data_read_ = 0;
};

}  // namespace edgeq
