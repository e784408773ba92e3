// Streaming .npz writer: arrays whose row count (axis 0) is known only at the end, written row
// chunk by row chunk, so memory does not grow with the number of rows.
//
// Each array's rows go to an unlinked temporary file in the destination folder as they come
// (a small write buffer per array, the CRC-32 kept running). finish() assembles the archive —
// every member a stored (uncompressed) `NAME.npy` whose header carries the final shape — through
// an AtomicFile, copying the row data kernel-side (copy_file_range), and renames it into place.
// Sizes are in the local headers (no data descriptors), zip64 records are used when a member or
// offset passes 4 GiB − 1 (or when forced), so numpy.load(allow_pickle=False), Python's zipfile
// and edgeq's own list_npz read the result. Until finish() returns nothing exists at `path`, and
// a writer destroyed before that leaves nothing behind (the temporary files are already unlinked).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgeq/ir/dtype.h"

namespace edgeq {

struct NpzWriterOptions {
  bool force_zip64 = false;  // zip64 records even for small archives (tests)
  // Write buffer per array: all the memory an array costs. 64 KiB keeps write() calls few while
  // the buffers of a dozen arrays stay well inside the 10 % RSS budget of issue #5
  // (bench/bench_distill_memory.sh: ~21 MB peak for fmnist_cnn).
  size_t buffer_bytes = size_t{64} << 10;
};

class NpzWriter {
 public:
  // Checks the destination now: throws kIo (exit 6) when its folder does not take new files or
  // `path` is a folder, so a run fails before any work is done.
  explicit NpzWriter(std::string path, NpzWriterOptions options = {});
  ~NpzWriter();
  NpzWriter(const NpzWriter&) = delete;
  NpzWriter& operator=(const NpzWriter&) = delete;

  // Declares an array stacked on axis 0: `row_dims` are the dims after axis 0 (empty: a 1-D
  // array). Members appear in the archive in declaration order. `name` must be unique, non-empty
  // and without '/'; numeric dtypes with a .npy counterpart only (float, double, float16,
  // (u)int8..64, bool). Returns the id for append().
  size_t add_array(const std::string& name, DType dtype, std::vector<int64_t> row_dims);
  // Appends `rows` rows (rows × row size bytes, C order).
  void append(size_t array, const void* data, int64_t rows);
  // A 0-d numpy unicode array ('<U' + code points, UTF-32LE) holding `utf8_text`: numpy loads
  // it without pickle; `str(npz[name])` gives the text back.
  void add_string(const std::string& name, const std::string& utf8_text);

  int64_t rows(size_t array) const;
  const std::string& path() const { return path_; }

  // Writes the archive and renames it into place. Throws kIo when writing fails (nothing is
  // left at `path` then).
  void finish();

 private:
  struct Member;
  void flush(Member& m);

  std::string path_;
  std::string dir_;
  NpzWriterOptions options_;
  std::vector<std::unique_ptr<Member>> members_;
  bool finished_ = false;
};

}  // namespace edgeq
