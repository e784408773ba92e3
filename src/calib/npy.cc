// .npy: magic "\x93NUMPY", version, header length, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces to a multiple of
// 64 bytes and ended by '\n', then the raw C-order data (numpy's format spec, NEP 1).
// .npz: a zip archive of .npy files, stored or deflated.
#include <zlib.h>

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

Tensor parse_npy(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw bad(what, "not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  auto byte = [&](size_t i) { return static_cast<size_t>(static_cast<unsigned char>(bytes[i])); };
  if (major == 1) {
    header_len = byte(8) | byte(9) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw bad(what, "truncated .npy header");
    header_len = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
    offset = 12;
  } else {
    throw bad(what, ".npy format version " + std::to_string(major) + " is not supported");
  }
  if (offset + header_len > bytes.size()) throw bad(what, "truncated .npy header");
  const std::string header = bytes.substr(offset, header_len);
  offset += header_len;

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

  std::vector<int64_t> dims;
  std::string shape = header_field(header, "shape", what);
  for (size_t i = 1; i + 1 < shape.size();) {
    size_t j = shape.find_first_of(",)", i);
    std::string item = shape.substr(i, j - i);
    item.erase(0, item.find_first_not_of(' '));
    if (!item.empty()) {
      try {
        dims.push_back(std::stoll(item));
      } catch (...) {
        throw bad(what, "malformed .npy shape " + shape);
      }
    }
    if (j == std::string::npos) break;
    i = j + 1;
  }
  auto count = checked_element_count(dims);
  auto need = count ? storage_bytes(type->dtype, *count) : std::nullopt;
  if (!need) throw bad(what, "the .npy shape " + shape + " overflows");
  if (bytes.size() - offset != *need)
    throw bad(what, "the .npy data holds " + std::to_string(bytes.size() - offset) + " bytes, shape " +
                        shape + " of " + descr + " needs " + std::to_string(*need));
  return Tensor(type->dtype, dims, make_owned_storage(bytes.substr(offset)));
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

std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& path) {
  const std::string zip = read_file(path);
  auto u16 = [&](size_t at) -> uint32_t {
    if (at + 2 > zip.size()) throw bad(path, "truncated .npz archive");
    return static_cast<unsigned char>(zip[at]) | static_cast<unsigned char>(zip[at + 1]) << 8;
  };
  auto u32 = [&](size_t at) -> uint64_t { return u16(at) | static_cast<uint64_t>(u16(at + 2)) << 16; };
  // Walk the local file headers (signature PK\3\4) in order; numpy writes sizes in them
  // (or in the central directory with zip64 for huge members, which we look up there).
  std::vector<std::pair<std::string, Tensor>> out;
  size_t at = 0;
  while (at + 30 <= zip.size() && u32(at) == 0x04034b50) {
    const uint32_t flags = u16(at + 6), method = u16(at + 8);
    uint64_t compressed = u32(at + 18), uncompressed = u32(at + 22);
    const uint32_t name_len = u16(at + 26), extra_len = u16(at + 28);
    std::string name = zip.substr(at + 30, name_len);
    // zip64: sizes live in the extra field (header id 1).
    for (size_t e = at + 30 + name_len; e + 4 <= at + 30 + name_len + extra_len;) {
      uint32_t id = u16(e), len = u16(e + 2);
      if (id == 1 && len >= 16) {
        uncompressed = u32(e + 4) | u32(e + 8) << 32;
        compressed = u32(e + 12) | u32(e + 16) << 32;
      }
      e += 4 + len;
    }
    if (flags & 0x8) throw bad(path, "member '" + name + "' uses data descriptors, which edgeq does not read");
    const size_t data_at = at + 30 + name_len + extra_len;
    if (data_at + compressed > zip.size()) throw bad(path, "truncated .npz member '" + name + "'");
    std::string member;
    if (method == 0) {
      member = zip.substr(data_at, compressed);
    } else if (method == 8) {
      member.resize(uncompressed);
      z_stream z{};
      if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw bad(path, "cannot initialise inflate");
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zip.data() + data_at));
      z.avail_in = static_cast<uInt>(compressed);
      z.next_out = reinterpret_cast<Bytef*>(member.data());
      z.avail_out = static_cast<uInt>(uncompressed);
      int rc = inflate(&z, Z_FINISH);
      inflateEnd(&z);
      if (rc != Z_STREAM_END) throw bad(path, "member '" + name + "' does not decompress");
    } else {
      throw bad(path, "member '" + name + "' uses zip method " + std::to_string(method));
    }
    if (name.size() > 4 && name.ends_with(".npy")) name.resize(name.size() - 4);
    out.emplace_back(name, parse_npy(member, path + ":" + name));
    at = data_at + compressed;
  }
  if (out.empty()) throw bad(path, "not a .npz archive (no arrays found)");
  return out;
}

}  // namespace edgeq
