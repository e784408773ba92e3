#include "edgeq/ir/tensor.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Eigen/Core>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>

#include "edgeq/error.h"

namespace edgeq {

std::shared_ptr<DataFile> DataFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_error(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw io_error(path, "not a regular file");
  }
  std::shared_ptr<DataFile> file(new DataFile());
  file->path_ = path;
  file->fd_ = fd;
  file->size_ = static_cast<uint64_t>(st.st_size);
  file->device_ = st.st_dev;
  file->inode_ = st.st_ino;
  return file;
}

DataFile::~DataFile() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

class OwnedStorage final : public TensorStorage {
 public:
  explicit OwnedStorage(std::string bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  std::span<const std::byte> bytes() const override {
    return {reinterpret_cast<const std::byte*>(bytes_.data()), bytes_.size()};
  }

 private:
  std::string bytes_;
};

// Maps its file region lazily: converting or inspecting a model never faults its weights in.
class FileStorage final : public TensorStorage {
 public:
  explicit FileStorage(FileRegion region) : region_(std::move(region)) {}
  ~FileStorage() override {
    if (map_base_ != nullptr) ::munmap(map_base_, map_length_);
  }
  uint64_t size() const override { return region_.length; }
  const FileRegion* file_region() const override { return &region_; }

  std::span<const std::byte> bytes() const override {
    std::call_once(mapped_, [this] { map(); });
    return {data_, static_cast<size_t>(region_.length)};
  }

 private:
  void map() const {
    if (region_.length == 0) return;
    // Mapping past the end of a file that shrank since loading would fault (SIGBUS) on read.
    struct stat st {};
    if (::fstat(region_.file->fd(), &st) != 0 ||
        static_cast<uint64_t>(st.st_size) < region_.offset + region_.length)
      throw io_error(region_.file->path(), "external data file is shorter than when it was loaded");
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t start = region_.offset / page * page;
    map_length_ = region_.offset + region_.length - start;
    // Whoever asks for the bytes reads them all (a kernel, the quantizer): populating the
    // mapping up front takes one kernel call instead of a page fault per few pages.
    void* base = ::mmap(nullptr, map_length_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, region_.file->fd(),
                        static_cast<off_t>(start));
    if (base == MAP_FAILED)
      throw io_error(region_.file->path(), std::string("cannot map external data: ") +
                                               std::strerror(errno));
    map_base_ = base;
    data_ = static_cast<const std::byte*>(base) + (region_.offset - start);
  }

  FileRegion region_;
  mutable std::once_flag mapped_;
  mutable void* map_base_ = nullptr;
  mutable size_t map_length_ = 0;
  mutable const std::byte* data_ = nullptr;
};

}  // namespace

std::shared_ptr<const TensorStorage> make_owned_storage(std::string bytes) {
  return std::make_shared<OwnedStorage>(std::move(bytes));
}

std::shared_ptr<const TensorStorage> make_file_storage(FileRegion region) {
  return std::make_shared<FileStorage>(std::move(region));
}

std::optional<uint64_t> checked_element_count(std::span<const int64_t> dims) {
  uint64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count)) return std::nullopt;
    if (count > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  }
  return count;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> dims, std::shared_ptr<const TensorStorage> storage)
    : dtype_(dtype), dims_(std::move(dims)), storage_(std::move(storage)) {
  auto count = checked_element_count(dims_);
  EDGEQ_CHECK(count.has_value(), "tensor dims overflow");
  auto expected = storage_bytes(dtype_, *count);
  EDGEQ_CHECK(expected && storage_ && storage_->size() == *expected,
              "tensor storage size does not match its dtype and shape");
}

Tensor::Tensor(std::vector<int64_t> dims, std::vector<std::string> strings)
    : dtype_(DType::kString), dims_(std::move(dims)), strings_(std::move(strings)) {
  EDGEQ_CHECK(checked_element_count(dims_) == strings_.size(),
              "string tensor element count does not match its shape");
}

Tensor Tensor::allocate(DType dtype, std::vector<int64_t> dims) {
  auto count = checked_element_count(dims);
  EDGEQ_CHECK(count.has_value(), "allocate: dims overflow");
  if (dtype == DType::kString) return Tensor(std::move(dims), std::vector<std::string>(*count));
  auto bytes = storage_bytes(dtype, *count);
  EDGEQ_CHECK(bytes.has_value(), "allocate: size overflow");
  return Tensor(dtype, std::move(dims), make_owned_storage(std::string(*bytes, '\0')));
}

double element_as_double(const Tensor& t, size_t i) {
  switch (t.dtype()) {
    case DType::kFloat: return t.values<float>()[i];
    case DType::kDouble: return t.values<double>()[i];
    case DType::kFloat16: return static_cast<float>(t.values<Eigen::half>()[i]);
    case DType::kBfloat16: return static_cast<float>(t.values<Eigen::bfloat16>()[i]);
    case DType::kInt8: return t.values<int8_t>()[i];
    case DType::kInt16: return t.values<int16_t>()[i];
    case DType::kInt32: return t.values<int32_t>()[i];
    case DType::kInt64: return static_cast<double>(t.values<int64_t>()[i]);
    case DType::kUint8: return t.values<uint8_t>()[i];
    case DType::kUint16: return t.values<uint16_t>()[i];
    case DType::kUint32: return t.values<uint32_t>()[i];
    case DType::kUint64: return static_cast<double>(t.values<uint64_t>()[i]);
    case DType::kBool: return t.values<bool>()[i] ? 1 : 0;
    default: return std::nan("");
  }
}

uint64_t Tensor::element_count() const { return checked_element_count(dims_).value_or(0); }

std::span<const std::byte> Tensor::bytes() const {
  if (!storage_) return {};
  return storage_->bytes();
}

}  // namespace edgeq
