#include <gtest/gtest.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <filesystem>
#include <random>

#include "../ir/test_util.h"
#include "calib_test_util.h"
#include "edgeq/data/npy.h"
#include "edgeq/data/samples.h"
#include "edgeq/error.h"

namespace edgeq {
namespace {

using test::chain_model;
using test::floats_tensor;

std::vector<float> iota_floats(size_t n, float start = 0) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

// Every batch of a source: (dims of `input`, its values).
std::vector<std::pair<std::vector<int64_t>, std::vector<float>>> drain(SampleSource& s, const std::string& input) {
  std::vector<std::pair<std::vector<int64_t>, std::vector<float>>> out;
  Batch b;
  while (s.next(b)) {
    const Tensor& t = b.feeds.at(input).tensor;
    auto v = t.values<float>();
    out.emplace_back(t.dims(), std::vector<float>(v.begin(), v.end()));
    EXPECT_EQ(b.samples, t.dims().empty() ? 1 : t.dims()[0]);
  }
  return out;
}

ErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  return ErrorKind::kInternal;  // "did not throw"
}

TEST(Samples, NpyRowsAreCutIntoBatchesLazily) {
  test::TempDir dir;
  write_npy(dir.file("x.npy"), floats_tensor({10, 4}, iota_floats(40)));
  Model m = chain_model();
  DataOptions o;
  o.batch = 4;
  auto s = open_samples(m, dir.file("x.npy"), o);
  EXPECT_EQ(s->total_samples(), 10);
  auto batches = drain(*s, "x");
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].first, (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(batches[2].first, (std::vector<int64_t>{2, 4}));  // a free batch axis takes the rest
  std::vector<float> all;
  for (auto& [d, v] : batches) all.insert(all.end(), v.begin(), v.end());
  EXPECT_EQ(all, iota_floats(40));
  s->rewind();
  EXPECT_EQ(drain(*s, "x"), batches);

  o.max_samples = 5;  // counts rows
  s = open_samples(m, dir.file("x.npy"), o);
  EXPECT_EQ(s->total_samples(), 5);
  batches = drain(*s, "x");
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].second, iota_floats(4, 16));
}

TEST(Samples, FixedBatchFeedsWholeBatchesOnly) {
  test::TempDir dir;
  write_npy(dir.file("x.npy"), floats_tensor({5, 4}, iota_floats(20)));
  write_npy(dir.file("one.npy"), floats_tensor({1, 4}, iota_floats(4)));
  Model m = chain_model(2);
  auto s = open_samples(m, dir.file("x.npy"), {});
  EXPECT_EQ(s->total_samples(), 4);  // the fifth row cannot fill a batch of 2
  auto batches = drain(*s, "x");
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].first, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("one.npy"), {}); }), ErrorKind::kInvalidData);
}

TEST(Samples, NpzStoredAndDeflatedStreamAcrossWindows) {
  test::TempDir dir;
  // 300 × 64 floats = 76 800 bytes: more than one inflate window.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> xv(300 * 64);
  for (float& v : xv) v = normal(rng);
  Model m = test::empty_model();
  Graph& g = *m.graph;
  Value* x = test::add_float_input(g, "x", {-1, 64});
  Value* y = test::add_float_input(g, "y", {-1, 2});
  Value* o1 = g.add_value("o1");
  Value* o2 = g.add_value("o2");
  g.add_node("Relu", "", {x}, {o1});
  g.add_node("Relu", "", {y}, {o2});
  g.add_output(o1);
  g.add_output(o2);
  const std::string xb = npy_bytes(floats_tensor({300, 64}, xv));
  const std::string yb = npy_bytes(floats_tensor({300, 2}, iota_floats(600)));
  for (bool deflate : {false, true}) {
    const std::string path = dir.file(deflate ? "d.npz" : "s.npz");
    test::write_bytes(path, test::zip_bytes({{"x", xb}, {"y", yb}}, deflate));
    DataOptions o;
    o.batch = 7;
    auto s = open_samples(m, path, o);
    EXPECT_EQ(s->total_samples(), 300);
    for (int round = 0; round < 2; ++round) {
      std::vector<float> xs, ys;
      Batch b;
      int batches = 0;
      while (s->next(b)) {
        auto xv2 = b.feeds.at("x").tensor.values<float>();
        auto yv2 = b.feeds.at("y").tensor.values<float>();
        xs.insert(xs.end(), xv2.begin(), xv2.end());
        ys.insert(ys.end(), yv2.begin(), yv2.end());
        ++batches;
      }
      EXPECT_EQ(batches, 43) << deflate;  // ceil(300 / 7)
      EXPECT_EQ(xs, xv) << deflate;
      EXPECT_EQ(ys, iota_floats(600)) << deflate;
      s->rewind();
    }
  }
  // Arrays with different row counts.
  test::write_bytes(dir.file("rows.npz"),
                    test::zip_bytes({{"x", xb}, {"y", npy_bytes(floats_tensor({3, 2}, iota_floats(6)))}}, false));
  std::string msg;
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("rows.npz"), {}); }, &msg), ErrorKind::kInvalidData);
  EXPECT_NE(msg.find("different row counts"), std::string::npos) << msg;
  // A missing input, and an unknown one.
  test::write_bytes(dir.file("only_x.npz"), test::zip_bytes({{"x", xb}}, true));
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("only_x.npz"), {}); }, &msg), ErrorKind::kInvalidData);
  EXPECT_NE(msg.find("no array for input 'y'"), std::string::npos) << msg;
  test::write_bytes(dir.file("extra.npz"), test::zip_bytes({{"x", xb}, {"y", yb}, {"z", yb}}, true));
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("extra.npz"), {}); }, &msg), ErrorKind::kInvalidData);
  EXPECT_NE(msg.find("extra.npz: the model has no input named 'z'"), std::string::npos) << msg;
  // A corrupt deflate stream.
  std::string zip = test::zip_bytes({{"x", xb}, {"y", yb}}, true);
  for (size_t i = 200; i < 400; ++i) zip[i] = static_cast<char>(0xFF);
  test::write_bytes(dir.file("corrupt.npz"), zip);
  EXPECT_EQ(kind_of([&] {
              auto s = open_samples(m, dir.file("corrupt.npz"), {});
              Batch b;
              while (s->next(b)) {
              }
            }),
            ErrorKind::kInvalidData);
}

TEST(Samples, FolderOfFeedsInNameOrder) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.file("feeds"));
  write_npy(dir.file("feeds/b.npy"), floats_tensor({3, 4}, iota_floats(12, 100)));
  write_npy(dir.file("feeds/a.npy"), floats_tensor({2, 4}, iota_floats(8)));
  Model m = chain_model();
  auto s = open_samples(m, dir.file("feeds"), {});
  EXPECT_EQ(s->total_samples(), 5);
  auto batches = drain(*s, "x");
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].second, iota_floats(8));
  EXPECT_EQ(batches[1].first, (std::vector<int64_t>{3, 4}));
}

TEST(Samples, FixedInputsComeWithEveryBatch) {
  test::TempDir dir;
  Model m = test::empty_model();
  Graph& g = *m.graph;
  Value* x = test::add_float_input(g, "x", {-1, 4});
  Value* k = test::add_float_input(g, "k", {});
  Value* y = g.add_value("y");
  g.add_node("Mul", "", {x, k}, {y});
  g.add_output(y);
  write_npy(dir.file("x.npy"), floats_tensor({6, 4}, iota_floats(24)));
  write_npy(dir.file("k.npy"), floats_tensor({}, {3.0f}));
  write_npy(dir.file("k2.npy"), floats_tensor({2}, {3.0f, 4.0f}));
  DataOptions o;
  o.batch = 4;
  o.fixed_inputs = {"k=" + dir.file("k.npy")};
  auto s = open_samples(m, dir.file("x.npy"), o);
  Batch b;
  int n = 0;
  while (s->next(b)) {
    ASSERT_EQ(b.feeds.count("k"), 1u);
    EXPECT_EQ(b.feeds.at("k").tensor.values<float>()[0], 3.0f);
    ++n;
  }
  EXPECT_EQ(n, 2);
  std::string msg;
  // Without the fixed input, the .npy has no input to feed: x and k both need data.
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("x.npy"), {}); }, &msg), ErrorKind::kInvalidData);
  o.fixed_inputs = {"k=" + dir.file("k2.npy")};  // rank 1 for a scalar input
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("x.npy"), o); }, &msg), ErrorKind::kInvalidData);
  EXPECT_NE(msg.find("k2.npy: input 'k' expects rank 0"), std::string::npos) << msg;
  o.fixed_inputs = {"nope=" + dir.file("k.npy")};
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("x.npy"), o); }), ErrorKind::kInvalidData);
}

TEST(Samples, DataThatDoesNotFitTheModelIsInvalidData) {
  test::TempDir dir;
  Model m = chain_model();
  Tensor f64 = Tensor::from_values<double>(DType::kDouble, {2, 4}, std::span<const double>(std::vector<double>(8).data(), 8));
  write_npy(dir.file("f64.npy"), f64);
  write_npy(dir.file("rank3.npy"), floats_tensor({2, 2, 2}, iota_floats(8)));
  write_npy(dir.file("dim.npy"), floats_tensor({2, 5}, iota_floats(10)));
  std::filesystem::create_directory(dir.file("empty"));
  struct Case {
    std::string file, message;
  };
  for (const Case& c : {Case{"f64.npy", "f64.npy: input 'x' expects dtype float, got double"},
                        Case{"rank3.npy", "rank3.npy: input 'x' expects rank 2"},
                        Case{"dim.npy", "dim.npy: input 'x' expects dim 1 = 4"},
                        Case{"empty", "empty: the folder holds no"}}) {
    std::string msg;
    EXPECT_EQ(kind_of([&] {
                auto s = open_samples(m, dir.file(c.file), {});
                Batch b;
                s->next(b);
              },
                      &msg),
              ErrorKind::kInvalidData)
        << c.file;
    EXPECT_NE(msg.find(c.message), std::string::npos) << msg;
  }
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("missing.npy"), {}); }), ErrorKind::kIo);
  test::write_bytes(dir.file("junk.npy"), "not numpy at all");
  EXPECT_EQ(kind_of([&] { open_samples(m, dir.file("junk.npy"), {}); }), ErrorKind::kInvalidData);
}

// One-image model: img [N, C, H, W] (or NHWC) → Relu.
Model image_model(std::vector<int64_t> dims) {
  Model m = test::empty_model();
  Graph& g = *m.graph;
  Value* x = test::add_float_input(g, "img", std::move(dims));
  Value* y = g.add_value("y");
  g.add_node("Relu", "", {x}, {y});
  g.add_output(y);
  return m;
}

TEST(Samples, ImagesAreResizedAndNormalized) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.file("gray"));
  std::filesystem::create_directory(dir.file("rgb"));
  // 1×2 gray [0, 255] resized to 1×4 with half-pixel centres: source x = −0.25 (clamped to 0),
  // 0.25, 0.75, 1.25 (clamped to 1) → 0, 63.75, 191.25, 255 → /255.
  const unsigned char gray[2] = {0, 255};
  ASSERT_TRUE(stbi_write_png(dir.file("gray/a.png").c_str(), 2, 1, 1, gray, 2));
  DataOptions o;
  o.image.size = std::make_pair(int64_t{1}, int64_t{4});
  o.image.grayscale = true;
  Model m = image_model({-1, 1, 1, 4});
  auto s = open_samples(m, dir.file("gray"), o);
  auto batches = drain(*s, "img");
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].first, (std::vector<int64_t>{1, 1, 1, 4}));
  const std::vector<float> want = {0.0f, 0.25f, 0.75f, 1.0f};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(batches[0].second[i], want[i], 1e-6f) << i;

  // RGB (10, 20, 30): BGR reverses, NHWC interleaves, mean/std per channel.
  const unsigned char rgb[3] = {10, 20, 30};
  ASSERT_TRUE(stbi_write_png(dir.file("rgb/p.png").c_str(), 1, 1, 3, rgb, 3));
  ASSERT_TRUE(stbi_write_png(dir.file("rgb/q.png").c_str(), 1, 1, 3, rgb, 3));
  DataOptions c;
  c.image.size = std::make_pair(int64_t{1}, int64_t{1});
  c.image.mean = {0.1f, 0.2f, 0.3f};
  c.image.std = {0.5f, 0.25f, 2.0f};
  c.image.bgr = true;
  c.image.nhwc = true;
  Model nhwc = image_model({-1, 1, 1, 3});
  batches = drain(*open_samples(nhwc, dir.file("rgb"), c), "img");
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].first, (std::vector<int64_t>{2, 1, 1, 3}));
  const float b = 30 / 255.0f, gch = 20 / 255.0f, r = 10 / 255.0f;
  EXPECT_NEAR(batches[0].second[0], (b - 0.1f) / 0.5f, 1e-6f);
  EXPECT_NEAR(batches[0].second[1], (gch - 0.2f) / 0.25f, 1e-6f);
  EXPECT_NEAR(batches[0].second[2], (r - 0.3f) / 2.0f, 1e-6f);

  // Without --image-size the model's fixed H, W are used.
  Model fixed = image_model({-1, 3, 2, 2});
  batches = drain(*open_samples(fixed, dir.file("rgb"), {}), "img");
  EXPECT_EQ(batches[0].first, (std::vector<int64_t>{2, 3, 2, 2}));
  EXPECT_NEAR(batches[0].second[4], gch, 1e-6f);  // channel 1 (G) of the first image

  // A corrupt image: kInvalidData naming the file and the input; a wrong channel count too.
  test::write_bytes(dir.file("rgb/z.png"), "\x89PNG\r\n\x1a\nbroken");
  std::string msg;
  EXPECT_EQ(kind_of([&] { drain(*open_samples(fixed, dir.file("rgb"), {}), "img"); }, &msg), ErrorKind::kInvalidData);
  EXPECT_NE(msg.find("z.png: cannot decode image for input 'img'"), std::string::npos) << msg;
  std::filesystem::remove(dir.file("rgb/z.png"));
  EXPECT_EQ(kind_of([&] { drain(*open_samples(m, dir.file("rgb"), c), "img"); }), ErrorKind::kInvalidData);
}

}  // namespace
}  // namespace edgeq
