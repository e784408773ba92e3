// Helpers of the calibration tests: tiny models built in code and .npz archives written by hand
// (stored or deflated, the two forms numpy writes), so the tests need no generated fixtures.
#pragma once

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "edgeq/data/npy.h"
#include "edgeq/ir/graph.h"

namespace edgeq::test {

// A float input with the given dims (a dim < 0 is symbolic "batch").
inline Value* add_float_input(Graph& g, const std::string& name, std::vector<int64_t> dims,
                              DType dtype = DType::kFloat) {
  Value* v = g.add_value(name);
  v->info.present = v->info.has_type = true;
  v->info.type_kind = "tensor";
  TensorType t;
  t.elem = dtype;
  std::vector<Dim> shape;
  for (int64_t d : dims) {
    Dim dim;
    if (d < 0) dim.param = "batch";
    else dim.value = d;
    shape.push_back(dim);
  }
  t.shape = shape;
  v->info.tensor = t;
  g.add_input(v);
  return v;
}

inline Model empty_model() {
  Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", 17});
  m.graph = std::make_unique<Graph>();
  return m;
}

// x [batch, 4] → a = x·2 → b = Relu(a) → c = b − 1 (output c).
inline Model chain_model(int64_t batch = -1) {
  Model m = empty_model();
  Graph& g = *m.graph;
  Value* x = add_float_input(g, "x", {batch, 4});
  float two = 2, one = 1;
  Value* k2 = g.add_initializer("two", Tensor::from_values<float>(DType::kFloat, {}, std::span<const float>(&two, 1)));
  Value* k1 = g.add_initializer("one", Tensor::from_values<float>(DType::kFloat, {}, std::span<const float>(&one, 1)));
  Value* a = g.add_value("a");
  Value* b = g.add_value("b");
  Value* c = g.add_value("c");
  g.add_node("Mul", "", {x, k2}, {a});
  g.add_node("Relu", "", {a}, {b});
  g.add_node("Sub", "", {b, k1}, {c});
  g.add_output(c);
  return m;
}

// Bytes of a zip archive holding `members` (name → .npy bytes), stored or raw-deflated.
inline std::string zip_bytes(const std::vector<std::pair<std::string, std::string>>& members, bool deflated) {
  auto put16 = [](std::string& s, uint32_t v) {
    s += static_cast<char>(v & 0xFF);
    s += static_cast<char>((v >> 8) & 0xFF);
  };
  auto put32 = [&](std::string& s, uint32_t v) {
    put16(s, v & 0xFFFF);
    put16(s, v >> 16);
  };
  std::string out;
  for (const auto& [name, data] : members) {
    std::string body = data;
    if (deflated) {
      z_stream z{};
      deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
      body.assign(deflateBound(&z, data.size()), '\0');
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      z.avail_in = static_cast<uInt>(data.size());
      z.next_out = reinterpret_cast<Bytef*>(body.data());
      z.avail_out = static_cast<uInt>(body.size());
      deflate(&z, Z_FINISH);
      body.resize(z.total_out);
      deflateEnd(&z);
    }
    const std::string file = name + ".npy";
    put32(out, 0x04034b50);
    put16(out, 20);
    put16(out, 0);
    put16(out, deflated ? 8 : 0);
    put32(out, 0);  // time, date
    put32(out, crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    put32(out, static_cast<uint32_t>(body.size()));
    put32(out, static_cast<uint32_t>(data.size()));
    put16(out, static_cast<uint32_t>(file.size()));
    put16(out, 0);
    out += file;
    out += body;
  }
  return out;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline Tensor floats_tensor(std::vector<int64_t> dims, const std::vector<float>& v) {
  return Tensor::from_values<float>(DType::kFloat, std::move(dims), std::span<const float>(v));
}

}  // namespace edgeq::test
