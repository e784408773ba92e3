#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "edgeq/error.h"

namespace edgeq {

namespace fs = std::filesystem;

AtomicFile::AtomicFile(const std::string& final_path) : final_(final_path) {
  fs::path p(final_path);
  temp_ = (p.parent_path() / ("." + p.filename().string() + ".edgeq-tmp-" +
                              std::to_string(::getpid()))).string();
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw io_error(final_, std::string("cannot create: ") + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write_all(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw io_error(final_, std::string("write failed: ") + std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
}

void AtomicFile::copy_region(const FileRegion& region) {
  uint64_t done = 0;
  loff_t in_off = static_cast<loff_t>(region.offset);
  while (done < region.length) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(region.length - done, uint64_t{1} << 30));
    ssize_t n = ::copy_file_range(region.file->fd(), &in_off, fd_, nullptr, chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
      copy_region_by_reads(region, done);
      return;
    }
    if (n < 0) throw io_error(final_, std::string("copy failed: ") + std::strerror(errno));
    if (n == 0) throw io_error(region.file->path(), "external data file shrank while reading");
    done += static_cast<uint64_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
}

void AtomicFile::copy_region_by_reads(const FileRegion& region, uint64_t done) {
  std::vector<char> buffer(size_t{8} << 20);
  while (done < region.length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), region.length - done));
    ssize_t n = ::pread(region.file->fd(), buffer.data(), want,
                        static_cast<off_t>(region.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw io_error(region.file->path(), "cannot read external data");
    write_all(buffer.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
}

void AtomicFile::close_file() {
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw io_error(final_, std::string("write failed: ") + std::strerror(errno));
}

void AtomicFile::commit() {
  if (fd_ >= 0) close_file();
  if (::rename(temp_.c_str(), final_.c_str()) != 0)
    throw io_error(final_, std::string("cannot rename into place: ") + std::strerror(errno));
  committed_ = true;
}

bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  std::error_code ec_a, ec_b;
  fs::path ca = fs::weakly_canonical(fs::absolute(a, ec_a), ec_a);
  fs::path cb = fs::weakly_canonical(fs::absolute(b, ec_b), ec_b);
  if (!ec_a && !ec_b && ca == cb) return true;
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFile file(path);
  file.write_all(content.data(), content.size());
  file.commit();
}

}  // namespace edgeq
