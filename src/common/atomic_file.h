// A file written under a temporary name in its destination folder and renamed into place only
// on commit(); destroyed uncommitted, it removes itself. Every file edgeq writes goes through
// this, so an output is complete or absent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgeq/ir/tensor.h"

namespace edgeq {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_; }
  const std::string& final_path() const { return final_; }
  uint64_t written() const { return written_; }

  void write_all(const void* data, size_t size);
  // Copies a region of another file, in the kernel when it can (no pages pass through us).
  void copy_region(const FileRegion& region);
  void close_file();
  void commit();

 private:
  void copy_region_by_reads(const FileRegion& region, uint64_t done);

  std::string final_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
};

// True when two paths name the same file: equal after resolving symlinks and `..` (the file
// need not exist yet), or the same inode.
bool same_file(const std::string& a, const std::string& b);

// Writes `content` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace edgeq
