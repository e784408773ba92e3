// Streaming .npz writer (include/edgeq/data/npz_writer.h).
//
// The ZIP layout follows APPNOTE.TXT (PKWARE, 6.3): per member a local file header, the name,
// an optional zip64 extra field (id 0x0001) and the stored bytes; then the central directory
// and the end-of-central-directory record, preceded by the zip64 end record and its locator
// when a count, size or offset does not fit the 16/32-bit fields. All integers little-endian.
#include "edgeq/data/npz_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/atomic_file.h"
#include "edgeq/error.h"

namespace edgeq {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kVersionPlain = 20;    // 2.0: stored members, folders
constexpr uint16_t kVersionZip64 = 45;    // 4.5: zip64 extensions
constexpr uint16_t kMadeByUnix = 3 << 8;  // upper byte of "version made by": host system 3 = UNIX
constexpr uint16_t kDosDate1980 =
    0x0021;  // 1980-01-01, the earliest DOS date: bytes do not depend on the clock
constexpr uint32_t kMax32 = 0xFFFFFFFFu;
constexpr uint16_t kMax16 = 0xFFFFu;

// The .npy type string of each dtype the writer takes ('|' where byte order does not apply).
struct NpyDescr {
  DType dtype;
  const char* descr;
};
constexpr NpyDescr kDescrs[] = {
    {DType::kFloat, "<f4"},  {DType::kDouble, "<f8"}, {DType::kFloat16, "<f2"},
    {DType::kInt8, "|i1"},   {DType::kInt16, "<i2"},  {DType::kInt32, "<i4"},
    {DType::kInt64, "<i8"},  {DType::kUint8, "|u1"},  {DType::kUint16, "<u2"},
    {DType::kUint32, "<u4"}, {DType::kUint64, "<u8"}, {DType::kBool, "|b1"},
};

const char* descr_of(DType dtype) {
  for (const auto& d : kDescrs)
    if (d.dtype == dtype) return d.descr;
  return nullptr;
}

// A .npy 1.0 header as numpy.save writes it: the dict padded with spaces and ended by '\n' so
// that the data starts at a multiple of 64 bytes.
std::string npy_header(const std::string& descr, const std::vector<int64_t>& dims) {
  std::string shape = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    shape += std::to_string(dims[i]);
    if (dims.size() == 1)
      shape += ",";
    else if (i + 1 < dims.size())
      shape += ", ";
  }
  shape += ")";
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t unpadded = 10 + dict.size() + 1;  // magic 6 + version 2 + length 2, dict, '\n'
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  EDGEQ_CHECK(dict.size() <= kMax16, "npy header too long");
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

// UTF-8 → UTF-32LE; malformed bytes become U+FFFD.
std::string utf32le(const std::string& utf8, size_t& code_points) {
  std::string out;
  code_points = 0;
  auto put = [&](uint32_t c) {
    for (int b = 0; b < 4; ++b) out += static_cast<char>((c >> (8 * b)) & 0xFF);
    ++code_points;
  };
  for (size_t i = 0; i < utf8.size();) {
    const auto lead = static_cast<unsigned char>(utf8[i]);
    const int extra = lead < 0x80           ? 0
                      : (lead >> 5) == 0x6  ? 1
                      : (lead >> 4) == 0xE  ? 2
                      : (lead >> 3) == 0x1E ? 3
                                            : -1;
    if (extra < 0 ||
        utf8.size() - i <= static_cast<size_t>(extra)) {  // bad lead byte, or cut short
      put(0xFFFD);
      ++i;
      continue;
    }
    uint32_t c = extra == 0 ? lead : lead & (0x3F >> extra);
    bool ok = true;
    for (int k = 1; k <= extra; ++k) {
      const auto cont = static_cast<unsigned char>(utf8[i + static_cast<size_t>(k)]);
      if ((cont >> 6) != 0x2) ok = false;
      c = (c << 6) | (cont & 0x3F);
    }
    if (!ok) {
      put(0xFFFD);
      ++i;
      continue;
    }
    put(c);
    i += 1 + static_cast<size_t>(extra);
  }
  return out;
}

uint32_t crc_update(uint32_t crc, const void* data, uint64_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(n, uint64_t{1} << 30));
    crc = static_cast<uint32_t>(::crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

// Little-endian field appender.
struct Bytes {
  std::string s;
  void u16(uint32_t v) {
    for (int b = 0; b < 2; ++b) s += static_cast<char>((v >> (8 * b)) & 0xFF);
  }
  void u32(uint64_t v) {
    for (int b = 0; b < 4; ++b) s += static_cast<char>((v >> (8 * b)) & 0xFF);
  }
  void u64(uint64_t v) {
    for (int b = 0; b < 8; ++b) s += static_cast<char>((v >> (8 * b)) & 0xFF);
  }
};

void write_fd(int fd, const char* p, size_t n, const std::string& what) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      throw io_error(what, std::string("cannot write temporary data: ") + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

struct NpzWriter::Member {
  std::string name;
  std::string descr;
  std::vector<int64_t> row_dims;
  uint64_t row_bytes = 0;
  int64_t rows = 0;
  bool fixed = false;  // a whole array given at once (add_string): `dims`, bytes in `inline_data`
  std::vector<int64_t> dims;
  std::string inline_data;
  int fd = -1;  // unlinked temporary file holding the rows
  std::vector<char> buffer;
  uint64_t data_bytes = 0;
  uint32_t data_crc = 0;

  ~Member() {
    if (fd >= 0) ::close(fd);
  }
};

NpzWriter::NpzWriter(std::string path, NpzWriterOptions options)
    : path_(std::move(path)), options_(options) {
  const fs::path p(path_);
  dir_ = p.parent_path().empty() ? "." : p.parent_path().string();
  std::error_code ec;
  if (path_.empty() || p.filename().empty()) throw io_error(path_, "not a file name");
  if (fs::is_directory(p, ec)) throw io_error(path_, "is a folder");
  // Probe: the temporary files and the archive are created in this folder.
  std::string probe =
      (fs::path(dir_) / ("." + p.filename().string() + ".edgeq-npz-XXXXXX")).string();
  const int fd = ::mkostemp(probe.data(), O_CLOEXEC);
  if (fd < 0) throw io_error(path_, "cannot create files in " + dir_ + ": " + std::strerror(errno));
  ::unlink(probe.c_str());
  ::close(fd);
}

NpzWriter::~NpzWriter() = default;

size_t NpzWriter::add_array(const std::string& name, DType dtype, std::vector<int64_t> row_dims) {
  EDGEQ_CHECK(!finished_, "add_array after finish");
  EDGEQ_CHECK(!name.empty() && name.find('/') == std::string::npos,
              "bad npz member name '" + name + "'");
  for (const auto& m : members_)
    EDGEQ_CHECK(m->name != name, "npz member '" + name + "' declared twice");
  const char* descr = descr_of(dtype);
  if (descr == nullptr)
    throw Error(ErrorKind::kUnsupported, path_ + ": array '" + name + "' has dtype " +
                                             std::string(dtype_name(dtype)) +
                                             ", which .npy cannot hold");
  auto m = std::make_unique<Member>();
  m->name = name;
  m->descr = descr;
  uint64_t row_elements = 1;
  for (int64_t d : row_dims) {
    EDGEQ_CHECK(d >= 0, "negative dim");
    row_elements *= static_cast<uint64_t>(d);
  }
  m->row_bytes = row_elements * static_cast<uint64_t>(dtype_info(dtype).bits / 8);
  m->row_dims = std::move(row_dims);
  m->data_crc = crc_update(0, nullptr, 0);
  std::string temp =
      (fs::path(dir_) / ("." + fs::path(path_).filename().string() + ".edgeq-npz-XXXXXX")).string();
  m->fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (m->fd < 0)
    throw io_error(path_,
                   "cannot create a temporary file in " + dir_ + ": " + std::strerror(errno));
  ::unlink(temp.c_str());  // nothing to clean up, whatever happens next
  m->buffer.reserve(options_.buffer_bytes);
  members_.push_back(std::move(m));
  return members_.size() - 1;
}

void NpzWriter::flush(Member& m) {
  if (m.buffer.empty()) return;
  write_fd(m.fd, m.buffer.data(), m.buffer.size(), path_);
  m.buffer.clear();
}

void NpzWriter::append(size_t array, const void* data, int64_t rows) {
  EDGEQ_CHECK(!finished_ && array < members_.size() && !members_[array]->fixed && rows >= 0,
              "bad npz append");
  Member& m = *members_[array];
  const uint64_t n = static_cast<uint64_t>(rows) * m.row_bytes;
  m.data_crc = crc_update(m.data_crc, data, n);
  m.data_bytes += n;
  m.rows += rows;
  const char* p = static_cast<const char*>(data);
  if (m.buffer.size() + n > options_.buffer_bytes) flush(m);
  if (n >= options_.buffer_bytes)
    write_fd(m.fd, p, n, path_);
  else
    m.buffer.insert(m.buffer.end(), p, p + n);
}

void NpzWriter::add_string(const std::string& name, const std::string& utf8_text) {
  EDGEQ_CHECK(!finished_, "add_string after finish");
  EDGEQ_CHECK(!name.empty() && name.find('/') == std::string::npos,
              "bad npz member name '" + name + "'");
  for (const auto& m : members_)
    EDGEQ_CHECK(m->name != name, "npz member '" + name + "' declared twice");
  auto m = std::make_unique<Member>();
  m->name = name;
  m->fixed = true;
  size_t code_points = 0;
  m->inline_data = utf32le(utf8_text, code_points);
  if (code_points == 0) {  // numpy's dtype for '' is '<U1' holding one NUL
    m->inline_data.assign(4, '\0');
    code_points = 1;
  }
  m->descr = "<U" + std::to_string(code_points);
  m->data_bytes = m->inline_data.size();
  m->data_crc = crc_update(crc_update(0, nullptr, 0), m->inline_data.data(), m->inline_data.size());
  members_.push_back(std::move(m));
}

int64_t NpzWriter::rows(size_t array) const {
  EDGEQ_CHECK(array < members_.size(), "bad npz array id");
  return members_[array]->rows;
}

void NpzWriter::finish() {
  EDGEQ_CHECK(!finished_, "finish twice");
  for (auto& m : members_)
    if (!m->fixed) flush(*m);

  AtomicFile out(path_);
  uint64_t at = 0;  // bytes written so far (copy_file_range bypasses AtomicFile's count)
  auto put = [&](const std::string& bytes) {
    out.write_all(bytes.data(), bytes.size());
    at += bytes.size();
  };

  struct Entry {
    std::string file_name;
    uint32_t crc;
    uint64_t size;
    uint64_t offset;
  };
  std::vector<Entry> entries;
  std::vector<char> copy_buffer;
  for (const auto& m : members_) {
    std::vector<int64_t> dims = m->fixed ? m->dims : m->row_dims;
    if (!m->fixed) dims.insert(dims.begin(), m->rows);
    const std::string header = npy_header(m->descr, dims);
    Entry e;
    e.file_name = m->name + ".npy";
    e.size = header.size() + m->data_bytes;
    e.crc = static_cast<uint32_t>(
        ::crc32_combine(crc_update(crc_update(0, nullptr, 0), header.data(), header.size()),
                        m->data_crc, static_cast<z_off_t>(m->data_bytes)));
    e.offset = at;
    const bool zip64 = options_.force_zip64 || e.size >= kMax32;

    Bytes h;
    h.u32(kLocalHeaderSig);
    h.u16(zip64 ? kVersionZip64 : kVersionPlain);
    h.u16(0);  // flags: sizes are in this header, no data descriptor
    h.u16(0);  // method 0: stored
    h.u16(0);  // time 00:00:00
    h.u16(kDosDate1980);
    h.u32(e.crc);
    h.u32(zip64 ? kMax32 : e.size);  // compressed
    h.u32(zip64 ? kMax32 : e.size);  // uncompressed
    h.u16(static_cast<uint32_t>(e.file_name.size()));
    h.u16(zip64 ? 20 : 0);
    h.s += e.file_name;
    if (zip64) {  // the local header's zip64 field holds both sizes, uncompressed first
      h.u16(kZip64ExtraId);
      h.u16(16);
      h.u64(e.size);
      h.u64(e.size);
    }
    put(h.s);
    put(header);
    if (m->fixed) {
      put(m->inline_data);
    } else {
      // Kernel-side copy of the rows; a plain read/write loop where the file system cannot.
      loff_t in_off = 0;
      uint64_t done = 0;
      bool by_reads = false;
      while (done < m->data_bytes && !by_reads) {
        const size_t chunk =
            static_cast<size_t>(std::min<uint64_t>(m->data_bytes - done, uint64_t{1} << 30));
        const ssize_t n = ::copy_file_range(m->fd, &in_off, out.fd(), nullptr, chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 &&
            (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
          by_reads = true;
          break;
        }
        if (n < 0) throw io_error(path_, std::string("write failed: ") + std::strerror(errno));
        if (n == 0) throw io_error(path_, "temporary data ended early");
        done += static_cast<uint64_t>(n);
      }
      if (by_reads) {
        copy_buffer.resize(size_t{4} << 20);
        while (done < m->data_bytes) {
          const size_t want =
              static_cast<size_t>(std::min<uint64_t>(copy_buffer.size(), m->data_bytes - done));
          const ssize_t n = ::pread(m->fd, copy_buffer.data(), want, static_cast<off_t>(done));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) throw io_error(path_, "cannot read temporary data");
          out.write_all(copy_buffer.data(), static_cast<size_t>(n));
          done += static_cast<uint64_t>(n);
        }
      }
      at += m->data_bytes;
    }
    entries.push_back(std::move(e));
  }

  const uint64_t cd_offset = at;
  Bytes cd;
  for (const Entry& e : entries) {
    const bool big_size = options_.force_zip64 || e.size >= kMax32;
    const bool big_offset = options_.force_zip64 || e.offset >= kMax32;
    const bool zip64 = big_size || big_offset;
    Bytes extra;  // only the fields whose 32-bit slot says 0xFFFFFFFF, in this order
    if (zip64) {
      extra.u16(kZip64ExtraId);
      extra.u16((big_size ? 16 : 0) + (big_offset ? 8 : 0));
      if (big_size) {
        extra.u64(e.size);  // uncompressed
        extra.u64(e.size);  // compressed
      }
      if (big_offset) extra.u64(e.offset);
    }
    cd.u32(kCentralHeaderSig);
    cd.u16(kMadeByUnix | kVersionZip64);
    cd.u16(zip64 ? kVersionZip64 : kVersionPlain);
    cd.u16(0);
    cd.u16(0);
    cd.u16(0);
    cd.u16(kDosDate1980);
    cd.u32(e.crc);
    cd.u32(big_size ? kMax32 : e.size);
    cd.u32(big_size ? kMax32 : e.size);
    cd.u16(static_cast<uint32_t>(e.file_name.size()));
    cd.u16(static_cast<uint32_t>(extra.s.size()));
    cd.u16(0);                        // comment
    cd.u16(0);                        // disk number
    cd.u16(0);                        // internal attributes
    cd.u32(uint64_t{0100644} << 16);  // external attributes: a regular file, rw-r--r--
    cd.u32(big_offset ? kMax32 : e.offset);
    cd.s += e.file_name;
    cd.s += extra.s;
  }
  put(cd.s);
  const uint64_t cd_size = cd.s.size();
  const uint64_t count = entries.size();
  const bool zip64_end =
      options_.force_zip64 || count >= kMax16 || cd_offset >= kMax32 || cd_size >= kMax32;
  Bytes end;
  if (zip64_end) {
    const uint64_t record_offset = at;
    end.u32(kZip64EndSig);
    end.u64(44);  // size of the rest of this record
    end.u16(kMadeByUnix | kVersionZip64);
    end.u16(kVersionZip64);
    end.u32(0);
    end.u32(0);
    end.u64(count);
    end.u64(count);
    end.u64(cd_size);
    end.u64(cd_offset);
    end.u32(kZip64LocatorSig);
    end.u32(0);
    end.u64(record_offset);
    end.u32(1);  // total number of disks
  }
  end.u32(kEndSig);
  end.u16(0);
  end.u16(0);
  end.u16(zip64_end ? kMax16 : static_cast<uint32_t>(count));
  end.u16(zip64_end ? kMax16 : static_cast<uint32_t>(count));
  end.u32(zip64_end ? kMax32 : cd_size);
  end.u32(zip64_end ? kMax32 : cd_offset);
  end.u16(0);  // comment
  put(end.s);
  out.commit();
  finished_ = true;
  members_.clear();  // closes the temporary files
}

}  // namespace edgeq
