// Tensor: a dtype, a shape and bytes. The bytes live in a TensorStorage, either owned in memory
// or a region of an external-data file that is mapped only when someone reads it, so a model
// of many gigabytes is never copied into RAM. Bytes are ONNX's raw_data layout: little-endian,
// row-major, sub-byte types packed two per byte with the first element in the low nibble.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "edgeq/ir/dtype.h"

namespace edgeq {

// A read-only file opened once and shared by every tensor whose data lives in it.
class DataFile {
 public:
  // Opens `path` read-only; throws io_error if it cannot be opened.
  static std::shared_ptr<DataFile> open(const std::string& path);
  ~DataFile();
  DataFile(const DataFile&) = delete;
  DataFile& operator=(const DataFile&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  uint64_t device() const { return device_; }
  uint64_t inode() const { return inode_; }

 private:
  DataFile() = default;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t device_ = 0;
  uint64_t inode_ = 0;
};

// Where a tensor's bytes live in an external-data file.
struct FileRegion {
  std::shared_ptr<DataFile> file;
  uint64_t offset = 0;
  uint64_t length = 0;
};

class TensorStorage {
 public:
  virtual ~TensorStorage() = default;
  virtual uint64_t size() const = 0;
  // The bytes in memory; file-backed storage maps its region on first use and keeps it mapped
  // while this storage lives.
  virtual std::span<const std::byte> bytes() const = 0;
  // Non-null when the bytes live in a file: writers stream them without touching memory.
  virtual const FileRegion* file_region() const { return nullptr; }
};

// Storage that owns a byte string (moved in, never copied).
std::shared_ptr<const TensorStorage> make_owned_storage(std::string bytes);
// Storage over a region of an external file.
std::shared_ptr<const TensorStorage> make_file_storage(FileRegion region);

class Tensor {
 public:
  Tensor() = default;
  // `storage` must hold exactly storage_bytes(dtype, element_count(dims)) bytes.
  Tensor(DType dtype, std::vector<int64_t> dims, std::shared_ptr<const TensorStorage> storage);
  // A string tensor (dtype kString).
  Tensor(std::vector<int64_t> dims, std::vector<std::string> strings);
  // A zero-filled tensor in owned memory, for kernels to fill through mutable_values().
  static Tensor allocate(DType dtype, std::vector<int64_t> dims);

  // Builds a tensor from typed values (T must match dtype's storage width).
  template <class T>
  static Tensor from_values(DType dtype, std::vector<int64_t> dims, std::span<const T> values) {
    std::string bytes(reinterpret_cast<const char*>(values.data()), values.size_bytes());
    return Tensor(dtype, std::move(dims), make_owned_storage(std::move(bytes)));
  }

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& dims() const { return dims_; }
  uint64_t element_count() const;
  uint64_t byte_size() const { return storage_ ? storage_->size() : 0; }

  std::span<const std::byte> bytes() const;
  template <class T>
  std::span<const T> values() const {
    auto b = bytes();
    return {reinterpret_cast<const T*>(b.data()), b.size() / sizeof(T)};
  }
  // Writable view of an allocate()d tensor. Only for the code that just allocated it: tensors
  // are shared by value once published.
  template <class T>
  T* mutable_values() {
    auto b = bytes();
    return reinterpret_cast<T*>(const_cast<std::byte*>(b.data()));
  }
  const std::vector<std::string>& strings() const { return strings_; }
  std::vector<std::string>& mutable_strings() { return strings_; }
  const std::shared_ptr<const TensorStorage>& storage() const { return storage_; }
  const FileRegion* file_region() const { return storage_ ? storage_->file_region() : nullptr; }

  // Serialized TensorProto fields edgeq does not model (name, doc_string, segment, fields newer
  // than libonnx knows); the writer merges them back so nothing is lost.
  std::string carried;

 private:
  DType dtype_ = DType::kUndefined;
  std::vector<int64_t> dims_;
  std::shared_ptr<const TensorStorage> storage_;
  std::vector<std::string> strings_;
};

// Element i of a numeric tensor (any float, integer or bool dtype) as a double; NaN for dtypes
// without a plain numeric value (string, complex, float8, 4-bit).
double element_as_double(const Tensor& t, size_t i);

// Product of dims; nullopt when a dim is negative or the product overflows int64.
std::optional<uint64_t> checked_element_count(std::span<const int64_t> dims);

}  // namespace edgeq
