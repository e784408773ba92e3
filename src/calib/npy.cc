// .npy: magic "\x93NUMPY", version, header length, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces to a multiple of
// 64 bytes and ended by '\n', then the raw C-order data (numpy's format spec, NEP 1).
// .npz: a zip archive of .npy files, stored or deflated.
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/atomic_file.h"
#include "edgeq/data/npy.h"
#include "edgeq/error.h"

namespace edgeq {

namespace {

struct NpyType {
  const char* descr;  // without the byte-order character
  DType dtype;
};

constexpr NpyType kNpyTypes[] = {
    {"f4", DType::kFloat}, {"f8", DType::kDouble}, {"f2", DType::kFloat16}, {"i1", DType::kInt8},
    {"i2", DType::kInt16}, {"i4", DType::kInt32},  {"i8", DType::kInt64},   {"u1", DType::kUint8},
    {"u2", DType::kUint16}, {"u4", DType::kUint32}, {"u8", DType::kUint64}, {"b1", DType::kBool},
    {"c8", DType::kComplex64}, {"c16", DType::kComplex128},
};

Error bad(const std::string& what, const std::string& reason) {
  return Error(ErrorKind::kInvalidData, what + ": " + reason);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path, "cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw io_error(path, "read failed");
  return bytes;
}

// The value of `key` in the header dict, as written by numpy.
std::string header_field(const std::string& header, const std::string& key, const std::string& what) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw bad(what, "the .npy header has no '" + key + "'");
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) throw bad(what, "malformed .npy header");
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos) throw bad(what, "malformed .npy header");
  size_t end;
  if (header[start] == '(') end = header.find(')', start) + 1;
  else if (header[start] == '\'') end = header.find('\'', start + 1) + 1;
  else end = header.find_first_of(",}", start);
  if (end == std::string::npos || end == 0) throw bad(what, "malformed .npy header");
  return header.substr(start, end - start);
}

}  // namespace

uint64_t npy_header_size(std::string_view bytes, const std::string& what) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw bad(what, "not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  auto byte = [&](size_t i) { return static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])); };
  if (major == 1) return 10 + (byte(8) | byte(9) << 8);
  if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw bad(what, "truncated .npy header");
    return 12 + (byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24);
  }
  throw bad(what, ".npy format version " + std::to_string(major) + " is not supported");
}

NpyHeader parse_npy_header(std::string_view bytes, const std::string& what) {
  NpyHeader out;
  out.data_offset = npy_header_size(bytes, what);
  if (out.data_offset > bytes.size()) throw bad(what, "truncated .npy header");
  const size_t dict_at = static_cast<unsigned char>(bytes[6]) == 1 ? 10 : 12;
  const std::string header(bytes.substr(dict_at, out.data_offset - dict_at));

  std::string descr = header_field(header, "descr", what);
  if (descr.size() < 4) throw bad(what, "unsupported .npy dtype " + descr);
  descr = descr.substr(1, descr.size() - 2);
  const char order = descr[0];
  if (order == '>') throw bad(what, "big-endian .npy data is not supported");
  if (order != '<' && order != '|' && order != '=') throw bad(what, "unsupported .npy dtype '" + descr + "'");
  const std::string code = descr.substr(1);
  const NpyType* type = nullptr;
  for (const auto& t : kNpyTypes)
    if (code == t.descr) type = &t;
  if (type == nullptr) throw bad(what, "unsupported .npy dtype '" + descr + "'");
  if (header_field(header, "fortran_order", what) != "False")
    throw bad(what, "Fortran-ordered .npy data is not supported (save with np.ascontiguousarray)");
  out.dtype = type->dtype;

  std::string shape = header_field(header, "shape", what);
  for (size_t i = 1; i + 1 < shape.size();) {
    size_t j = shape.find_first_of(",)", i);
    std::string item = shape.substr(i, j - i);
    item.erase(0, item.find_first_not_of(' '));
    if (!item.empty()) {
      try {
        out.dims.push_back(std::stoll(item));
      } catch (...) {
        throw bad(what, "malformed .npy shape " + shape);
      }
    }
    if (j == std::string::npos) break;
    i = j + 1;
  }
  auto count = checked_element_count(out.dims);
  auto need = count ? storage_bytes(type->dtype, *count) : std::nullopt;
  if (!need) throw bad(what, "the .npy shape " + shape + " overflows");
  out.data_bytes = *need;
  return out;
}

Tensor parse_npy(const std::string& bytes, const std::string& what) {
  const NpyHeader h = parse_npy_header(bytes, what);
  if (bytes.size() - h.data_offset != h.data_bytes)
    throw bad(what, "the .npy data holds " + std::to_string(bytes.size() - h.data_offset) + " bytes, its shape needs " +
                        std::to_string(h.data_bytes));
  return Tensor(h.dtype, h.dims, make_owned_storage(bytes.substr(h.data_offset)));
}

Tensor read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

std::string npy_bytes(const Tensor& tensor) {
  const char* descr = nullptr;
  for (const auto& t : kNpyTypes)
    if (t.dtype == tensor.dtype()) descr = t.descr;
  if (descr == nullptr)
    throw Error(ErrorKind::kUnsupported,
                "dtype " + std::string(dtype_name(tensor.dtype())) + " has no .npy equivalent");
  const char order = dtype_info(tensor.dtype()).bits == 8 ? '|' : '<';
  std::string shape = "(";
  for (size_t i = 0; i < tensor.dims().size(); ++i) shape += std::to_string(tensor.dims()[i]) + (tensor.dims().size() == 1 ? "," : i + 1 < tensor.dims().size() ? ", " : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + order + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that magic + version + length + header is a multiple of 64, ending in '\n'.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  auto data = tensor.bytes();
  out.append(reinterpret_cast<const char*>(data.data()), data.size());
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) { write_file_atomic(path, npy_bytes(tensor)); }

namespace {

// pread exactly n bytes at `offset`; kIo on failure, kInvalidData when the file ends first.
void pread_all(const DataFile& file, char* out, uint64_t n, uint64_t offset, const std::string& what) {
  while (n > 0) {
    const ssize_t got = ::pread(file.fd(), out, n, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw io_error(file.path(), std::string("read failed: ") + std::strerror(errno));
    }
    if (got == 0) throw bad(what, "truncated");
    out += got;
    n -= static_cast<uint64_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

// A plain .npy file or a stored .npz member: bytes at a fixed offset of a file.
class StoredNpyStream final : public NpyStream {
 public:
  StoredNpyStream(std::shared_ptr<DataFile> file, uint64_t base, uint64_t length, std::string what)
      : file_(std::move(file)), base_(base), length_(length) {
    init(std::move(what));
  }

 private:
  void read_raw(char* out, uint64_t n) override {
    if (pos_ + n > length_) throw bad(what_.empty() ? file_->path() : what_, "truncated .npy data");
    pread_all(*file_, out, n, base_ + pos_, what_);
    pos_ += n;
  }
  void seek_raw(uint64_t pos) override { pos_ = pos; }

  std::shared_ptr<DataFile> file_;
  uint64_t base_, length_, pos_ = 0;
};

// A deflated .npz member: inflated through a fixed window, restarted on a backward seek.
class DeflatedNpyStream final : public NpyStream {
 public:
  DeflatedNpyStream(std::shared_ptr<DataFile> file, const NpzMember& member, std::string what)
      : file_(std::move(file)), member_(member), window_(kWindow) {
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) throw bad(what, "cannot initialise inflate");
    init(std::move(what));
  }
  ~DeflatedNpyStream() override { inflateEnd(&z_); }

 private:
  static constexpr uint64_t kWindow = 1 << 16;

  void read_raw(char* out, uint64_t n) override {
    z_.next_out = reinterpret_cast<Bytef*>(out);
    while (n > 0) {
      const uInt step = static_cast<uInt>(std::min<uint64_t>(n, 1u << 30));
      z_.avail_out = step;
      while (z_.avail_out > 0) {
        if (z_.avail_in == 0) {
          const uint64_t left = member_.compressed - in_pos_;
          if (left == 0) throw bad(what_, "the compressed member ends early");
          const uint64_t take = std::min<uint64_t>(left, kWindow);
          pread_all(*file_, window_.data(), take, member_.data_offset + in_pos_, what_);
          in_pos_ += take;
          z_.next_in = reinterpret_cast<Bytef*>(window_.data());
          z_.avail_in = static_cast<uInt>(take);
        }
        const int rc = inflate(&z_, Z_NO_FLUSH);
        if (rc == Z_STREAM_END && z_.avail_out > 0) throw bad(what_, "the compressed member ends early");
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) throw bad(what_, "does not decompress (corrupt data)");
      }
      n -= step;
      out_pos_ += step;
    }
  }
  void seek_raw(uint64_t pos) override {
    if (pos < out_pos_) {
      inflateReset(&z_);
      z_.avail_in = 0;
      in_pos_ = 0;
      out_pos_ = 0;
    }
    std::vector<char> scratch(std::min<uint64_t>(kWindow, pos - out_pos_ + 1));
    while (out_pos_ < pos) read_raw(scratch.data(), std::min<uint64_t>(scratch.size(), pos - out_pos_));
  }

  std::shared_ptr<DataFile> file_;
  NpzMember member_;
  std::vector<char> window_;
  z_stream z_{};
  uint64_t in_pos_ = 0, out_pos_ = 0;
};

}  // namespace

void NpyStream::init(std::string what) {
  what_ = std::move(what);
  std::string head(kNpyPreamble, '\0');
  read_raw(head.data(), head.size());
  const uint64_t size = npy_header_size(head, what_);
  if (size > (1u << 20)) throw bad(what_, "the .npy header is implausibly long");
  if (size > head.size()) {
    head.resize(size);
    read_raw(head.data() + kNpyPreamble, size - kNpyPreamble);
  }
  header_ = parse_npy_header(head, what_);
  seek_raw(header_.data_offset);
}

void NpyStream::read(void* out, uint64_t n) {
  if (data_read_ + n > header_.data_bytes)
    throw bad(what_, "read past the end of the array (" + std::to_string(header_.data_bytes) + " bytes)");
  read_raw(static_cast<char*>(out), n);
  data_read_ += n;
}

void NpyStream::rewind() {
  seek_raw(header_.data_offset);
  data_read_ = 0;
}

std::unique_ptr<NpyStream> NpyStream::open_npy(const std::string& path) {
  auto file = DataFile::open(path);
  const uint64_t size = file->size();
  auto stream = std::make_unique<StoredNpyStream>(file, 0, size, path);
  const NpyHeader& h = stream->header();
  if (size - h.data_offset != h.data_bytes)
    throw bad(path, "the .npy data holds " + std::to_string(size - h.data_offset) + " bytes, its shape needs " +
                        std::to_string(h.data_bytes));
  return stream;
}

std::unique_ptr<NpyStream> NpyStream::open_npz_member(std::shared_ptr<DataFile> archive, const NpzMember& member) {
  const std::string what = archive->path() + ":" + member.name;
  std::unique_ptr<NpyStream> stream;
  if (member.deflated) stream = std::make_unique<DeflatedNpyStream>(archive, member, what);
  else stream = std::make_unique<StoredNpyStream>(archive, member.data_offset, member.compressed, what);
  const NpyHeader& h = stream->header();
  if (member.uncompressed != h.data_offset + h.data_bytes)
    throw bad(what, "the member holds " + std::to_string(member.uncompressed) + " bytes, its header and shape need " +
                        std::to_string(h.data_offset + h.data_bytes));
  return stream;
}

std::vector<NpzMember> list_npz(const DataFile& archive) {
  const std::string& path = archive.path();
  const uint64_t size = archive.size();
  auto u16 = [](const std::string& b, size_t at) -> uint32_t {
    return static_cast<unsigned char>(b[at]) | static_cast<unsigned char>(b[at + 1]) << 8;
  };
  auto u32 = [&](const std::string& b, size_t at) -> uint64_t { return u16(b, at) | static_cast<uint64_t>(u16(b, at + 2)) << 16; };
  // Walk the local file headers (signature PK\3\4) in order; numpy writes sizes in them, for
  // huge members as zip64 (sizes in the extra field, header id 1).
  std::vector<NpzMember> out;
  uint64_t at = 0;
  std::string fixed(30, '\0');
  while (at + 30 <= size) {
    pread_all(archive, fixed.data(), 30, at, path);
    if (u32(fixed, 0) != 0x04034b50) break;
    const uint32_t flags = u16(fixed, 6), method = u16(fixed, 8);
    NpzMember m;
    m.compressed = u32(fixed, 18);
    m.uncompressed = u32(fixed, 22);
    const uint32_t name_len = u16(fixed, 26), extra_len = u16(fixed, 28);
    if (at + 30 + name_len + extra_len > size) throw bad(path, "truncated .npz archive");
    std::string var(name_len + extra_len, '\0');
    pread_all(archive, var.data(), var.size(), at + 30, path);
    m.name = var.substr(0, name_len);
    for (size_t e = name_len; e + 4 <= var.size();) {
      const uint32_t id = u16(var, e), len = u16(var, e + 2);
      if (id == 1 && len >= 16 && e + 4 + 16 <= var.size()) {
        m.uncompressed = u32(var, e + 4) | u32(var, e + 8) << 32;
        m.compressed = u32(var, e + 12) | u32(var, e + 16) << 32;
      }
      e += 4 + len;
    }
    if (flags & 0x8) throw bad(path, "member '" + m.name + "' uses data descriptors, which edgeq does not read");
    if (method != 0 && method != 8)
      throw bad(path, "member '" + m.name + "' uses zip method " + std::to_string(method));
    m.deflated = method == 8;
    m.data_offset = at + 30 + name_len + extra_len;
    if (m.compressed > size - m.data_offset) throw bad(path, "truncated .npz member '" + m.name + "'");
    if (!m.deflated && m.compressed != m.uncompressed)
      throw bad(path, "stored member '" + m.name + "' has different compressed and uncompressed sizes");
    if (m.name.size() > 4 && m.name.ends_with(".npy")) m.name.resize(m.name.size() - 4);
    at = m.data_offset + m.compressed;
    out.push_back(std::move(m));
  }
  if (out.empty()) throw bad(path, "not a .npz archive (no arrays found)");
  return out;
}

std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& path) {
  auto archive = DataFile::open(path);
  std::vector<std::pair<std::string, Tensor>> out;
  for (const NpzMember& member : list_npz(*archive)) {
    auto stream = NpyStream::open_npz_member(archive, member);
    const NpyHeader& h = stream->header();
    std::string data(h.data_bytes, '\0');
    stream->read(data.data(), data.size());
    out.emplace_back(member.name, Tensor(h.dtype, h.dims, make_owned_storage(std::move(data))));
  }
  return out;
}

}  // namespace edgeq
