// open_samples: DESIGN.md's data rules in their many-sample form (see samples.h).
//
// Two shapes of source:
//   RowSource   arrays stacked on axis 0 (.npy, .npz, a folder of images): every sample input is a
//               column of rows read lazily (pread / streaming inflate / one image decoded at a
//               time) and cut into batches;
//   FeedSource  a list of feeds given as they are (.pb, the files of a folder, test_data_set_*).
// Both add the fixed inputs and check every feed against the model before handing it out, so
// bad data fails with the file and input named, before any statistics are kept.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#include <stb/stb_image.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "edgeq/data/feeds.h"
#include "edgeq/data/npy.h"
#include "edgeq/data/samples.h"
#include "edgeq/error.h"

namespace edgeq {

namespace fs = std::filesystem;

namespace {

Error bad_data(const std::string& what, const std::string& reason) {
  return Error(ErrorKind::kInvalidData, what + ": " + reason);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// check_feed with the file named in front of its message.
void check_feed_from(const Value& input, const RtValue& value, const std::string& file) {
  try {
    check_feed(input, value);
  } catch (const Error& e) {
    throw Error(e.kind(), file + ": " + e.what());
  }
}

// ---- Fixed inputs and feed validation, shared by both source shapes.

struct ModelInputs {
  const Model& model;
  std::map<std::string, RtValue> fixed;
  std::map<std::string, std::string> fixed_files;

  ModelInputs(const Model& m, const std::vector<std::string>& specs) : model(m) {
    for (const std::string& spec : specs) {
      const size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        throw usage_error("--fixed-input expects NAME=FILE, got '" + spec + "'");
      const std::string name = spec.substr(0, eq), file = spec.substr(eq + 1);
      auto feeds = read_feeds(model, {spec});  // names the file and input on errors
      for (auto& [n, v] : feeds) {
        const Value* input = model.graph->find_value(n);
        check_feed_from(*input, v, file);
        if (!fixed.emplace(n, std::move(v)).second)
          throw usage_error("--fixed-input '" + n + "' is given twice");
        fixed_files[n] = file;
      }
    }
  }

  // Model inputs that samples must provide.
  std::vector<Value*> sample_inputs() const {
    std::vector<Value*> out;
    for (Value* v : data_inputs(model))
      if (!fixed.count(v->name())) out.push_back(v);
    return out;
  }

  Value* input_named(const std::string& name, const std::string& file) const {
    for (Value* v : model.graph->inputs())
      if (v->name() == name) {
        if (fixed.count(name))
          throw bad_data(file, "input '" + name + "' is given both here and with --fixed-input " + fixed_files.at(name));
        return v;
      }
    throw bad_data(file, "the model has no input named '" + name + "' (inputs: " + data_input_names(model) + ")");
  }

  // Adds the fixed inputs and checks that every input is there and fits the model.
  void complete(std::map<std::string, RtValue>& feeds, const std::string& file) const {
    for (auto& [name, value] : feeds) check_feed_from(*input_named(name, file), value, file);
    for (const auto& [name, value] : fixed) feeds[name] = value;
    for (Value* v : data_inputs(model))
      if (!feeds.count(v->name()))
        throw bad_data(file, "no data for input '" + v->name() + "' (give it in the data or with --fixed-input NAME=FILE)");
  }
};

// ---- Images.

std::vector<float> per_channel(const std::vector<float>& values, int channels, const char* flag) {
  if (values.size() == 1) return std::vector<float>(channels, values[0]);
  if (static_cast<int>(values.size()) != channels)
    throw usage_error(std::string(flag) + " has " + std::to_string(values.size()) + " values; give 1 or " +
                      std::to_string(channels));
  return values;
}

// Bilinear resize with half-pixel centres (source x = (x + 0.5) · in/out − 0.5, clamped to the
// edge), the convention of PIL/torchvision without antialiasing and of ONNX Resize's
// "half_pixel" mode. `in` is interleaved H×W×C bytes; `out` interleaved floats in [0, 255].
void resize_bilinear(const unsigned char* in, int in_h, int in_w, int channels, int out_h, int out_w,
                     std::vector<float>& out) {
  out.assign(static_cast<size_t>(out_h) * out_w * channels, 0.0f);
  auto source = [](int dst, int in_size, int out_size, int& i0, int& i1, float& frac) {
    double x = (dst + 0.5) * static_cast<double>(in_size) / out_size - 0.5;
    x = std::clamp(x, 0.0, static_cast<double>(in_size - 1));
    i0 = static_cast<int>(std::floor(x));
    i1 = std::min(i0 + 1, in_size - 1);
    frac = static_cast<float>(x - i0);
  };
  for (int y = 0; y < out_h; ++y) {
    int y0, y1;
    float fy;
    source(y, in_h, out_h, y0, y1, fy);
    for (int x = 0; x < out_w; ++x) {
      int x0, x1;
      float fx;
      source(x, in_w, out_w, x0, x1, fx);
      for (int c = 0; c < channels; ++c) {
        auto px = [&](int yy, int xx) { return static_cast<float>(in[(static_cast<size_t>(yy) * in_w + xx) * channels + c]); };
        const float top = px(y0, x0) + (px(y0, x1) - px(y0, x0)) * fx;
        const float bottom = px(y1, x0) + (px(y1, x1) - px(y1, x0)) * fx;
        out[(static_cast<size_t>(y) * out_w + x) * channels + c] = top + (bottom - top) * fy;
      }
    }
  }
}

bool is_image(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// ---- Columns: one sample input's rows.

class Column {
 public:
  virtual ~Column() = default;
  DType dtype;
  std::vector<int64_t> row_dims;  // one sample's dims (the data's dims without axis 0)
  int64_t rows = 0;
  std::string file;  // for messages
  // Reads the next `n` rows into `out` (n × row bytes).
  virtual void read(int64_t n, std::byte* out) = 0;
  virtual void rewind() = 0;
};

class ArrayColumn final : public Column {
 public:
  explicit ArrayColumn(std::unique_ptr<NpyStream> stream) : stream_(std::move(stream)) {
    const NpyHeader& h = stream_->header();
    file = stream_->what();
    dtype = h.dtype;
    if (h.dims.empty()) throw bad_data(file, "holds a scalar; samples are stacked on axis 0");
    rows = h.dims[0];
    row_dims.assign(h.dims.begin() + 1, h.dims.end());
    row_bytes_ = rows > 0 ? h.data_bytes / static_cast<uint64_t>(rows) : 0;
  }
  void read(int64_t n, std::byte* out) override { stream_->read(out, static_cast<uint64_t>(n) * row_bytes_); }
  void rewind() override { stream_->rewind(); }

 private:
  std::unique_ptr<NpyStream> stream_;
  uint64_t row_bytes_ = 0;
};

class ImageColumn final : public Column {
 public:
  ImageColumn(std::vector<std::string> images, const ImageOptions& o, const std::string& folder)
      : images_(std::move(images)), options_(o) {
    channels_ = o.grayscale ? 1 : 3;
    mean_ = per_channel(o.mean, channels_, "--mean");
    std_ = per_channel(o.std, channels_, "--std");
    for (float s : std_)
      if (s == 0) throw usage_error("--std must not be 0");
    const auto [h, w] = *o.size;
    dtype = DType::kFloat;
    row_dims = o.nhwc ? std::vector<int64_t>{h, w, channels_} : std::vector<int64_t>{channels_, h, w};
    rows = static_cast<int64_t>(images_.size());
    file = folder;
  }
  void read(int64_t n, std::byte* out) override {
    float* dst = reinterpret_cast<float*>(out);
    const auto [h, w] = *options_.size;
    const size_t plane = static_cast<size_t>(h) * w;
    std::vector<float> resized;
    for (int64_t r = 0; r < n; ++r, ++next_) {
      const std::string& path = images_.at(static_cast<size_t>(next_));
      {
        std::ifstream probe(path, std::ios::binary);
        if (!probe) throw io_error(path, "cannot open image");
      }
      int iw = 0, ih = 0, ic = 0;
      unsigned char* pixels = stbi_load(path.c_str(), &iw, &ih, &ic, channels_);
      if (pixels == nullptr)
        throw bad_data(path, std::string("cannot decode image for input '") + input_ + "' (" + stbi_failure_reason() + ")");
      resize_bilinear(pixels, ih, iw, channels_, static_cast<int>(h), static_cast<int>(w), resized);
      stbi_image_free(pixels);
      for (size_t p = 0; p < plane; ++p)
        for (int c = 0; c < channels_; ++c) {
          // stb gives RGB (or one luma channel); BGR reverses the channel order.
          const int src_c = options_.bgr && channels_ == 3 ? 2 - c : c;
          const float v = (resized[p * channels_ + src_c] / 255.0f - mean_[c]) / std_[c];
          if (options_.nhwc) dst[p * channels_ + c] = v;
          else dst[static_cast<size_t>(c) * plane + p] = v;
        }
      dst += plane * channels_;
    }
  }
  void rewind() override { next_ = 0; }
  std::string input_;

 private:
  std::vector<std::string> images_;
  ImageOptions options_;
  int channels_ = 3;
  std::vector<float> mean_, std_;
  int64_t next_ = 0;
};

// ---- Arrays stacked on axis 0, cut into batches.

class RowSource final : public SampleSource {
 public:
  RowSource(ModelInputs inputs, std::string path, const DataOptions& options)
      : inputs_(std::move(inputs)), path_(std::move(path)), options_(options) {}

  void add(Value* input, std::unique_ptr<Column> column) { columns_.emplace_back(input, std::move(column)); }

  // Decides rows per run and the number of rows used, once every column is added.
  void plan() {
    EDGEQ_CHECK(!columns_.empty(), "a row source without columns");
    rows_ = columns_[0].second->rows;
    // Axis 0 of the data is the model's batch axis (DESIGN.md): a fixed dim there sets the
    // rows per run, a symbolic or unknown one takes options.batch rows.
    std::optional<int64_t> fixed_batch;
    for (auto& [input, col] : columns_) {
      if (col->rows != rows_)
        throw bad_data(path_, "arrays have different row counts: '" + columns_[0].first->name() + "' has " +
                                  std::to_string(rows_) + ", '" + input->name() + "' has " + std::to_string(col->rows));
      const auto& shape = input->info.tensor ? input->info.tensor->shape : std::nullopt;
      if (!shape || shape->empty() || !(*shape)[0].value) continue;
      const int64_t b = *(*shape)[0].value;
      if (fixed_batch && *fixed_batch != b)
        throw bad_data(path_, "inputs have different fixed batch sizes (" + std::to_string(*fixed_batch) + " and " +
                                  std::to_string(b) + ")");
      fixed_batch = b;
    }
    batch_ = fixed_batch ? std::max<int64_t>(1, *fixed_batch) : std::max<int64_t>(1, options_.batch);
    fixed_batch_ = fixed_batch.has_value();
    if (rows_ == 0) throw bad_data(path_, "holds no samples (0 rows)");
    used_ = options_.max_samples > 0 ? std::min(rows_, options_.max_samples) : rows_;
    if (fixed_batch_ && used_ % batch_ != 0) {
      const int64_t whole = used_ - used_ % batch_;
      if (whole == 0)
        throw bad_data(path_, std::to_string(used_) + " samples do not fill one batch of " + std::to_string(batch_) +
                                  " (the model's fixed batch size)");
      spdlog::warn("{}: the last {} samples do not fill a batch of {} (the model's fixed batch size); they are skipped",
                   path_, used_ - whole, batch_);
      used_ = whole;
    }
    // Read and check the first batch now, so data that does not fit fails at open.
    Batch first;
    next(first);
    rewind();
  }

  bool next(Batch& batch) override {
    if (done_ >= used_) return false;
    const int64_t n = std::min(batch_, used_ - done_);
    batch.feeds.clear();
    for (auto& [input, col] : columns_) {
      std::vector<int64_t> dims = col->row_dims;
      dims.insert(dims.begin(), n);
      Tensor t = Tensor::allocate(col->dtype, dims);
      col->read(n, t.mutable_values<std::byte>());
      batch.feeds[input->name()] = RtValue(std::move(t));
    }
    // Checked per batch: the last, partial batch has its own shape.
    for (auto& [input, col] : columns_) check_feed_from(*input, batch.feeds[input->name()], col->file);
    for (const auto& [name, value] : inputs_.fixed) batch.feeds[name] = value;
    batch.samples = n;
    done_ += n;
    return true;
  }

  void rewind() override {
    for (auto& [input, col] : columns_) col->rewind();
    done_ = 0;
  }
  int64_t total_samples() const override { return used_; }
  std::string describe() const override { return path_ + " (" + std::to_string(used_) + " samples)"; }

 private:
  ModelInputs inputs_;
  std::string path_;
  DataOptions options_;
  std::vector<std::pair<Value*, std::unique_ptr<Column>>> columns_;
  int64_t rows_ = 0, used_ = 0, batch_ = 1, done_ = 0;
  bool fixed_batch_ = false;
};

// ---- Feeds given as they are, one file (or test-data folder) each.

class FeedSource final : public SampleSource {
 public:
  FeedSource(ModelInputs inputs, std::string path, std::vector<std::string> feeds, const DataOptions& options)
      : inputs_(std::move(inputs)), path_(std::move(path)), files_(std::move(feeds)), options_(options) {
    // Count samples by reading each feed once: the files are small, one feed at a time.
    Batch b;
    total_ = 0;
    while (next(b)) total_ += b.samples;
    rewind();
  }

  bool next(Batch& batch) override {
    const int64_t limit = options_.max_samples > 0 ? options_.max_samples : INT64_MAX;
    if (index_ >= files_.size() || done_ >= limit) return false;
    const std::string& file = files_[index_++];
    batch.feeds = read_one(file);
    inputs_.complete(batch.feeds, file);
    // Samples: rows on axis 0 of the first per-sample input (1 for scalars).
    int64_t samples = 1;
    for (Value* v : inputs_.sample_inputs()) {
      const RtValue& value = batch.feeds[v->name()];
      if (value.kind == RtValue::Kind::kTensor && !value.tensor.dims().empty()) samples = value.tensor.dims()[0];
      break;
    }
    batch.samples = std::min(samples, limit - done_);
    done_ += batch.samples;
    return true;
  }
  void rewind() override {
    index_ = 0;
    done_ = 0;
  }
  int64_t total_samples() const override { return total_; }
  std::string describe() const override {
    return path_ + " (" + std::to_string(files_.size()) + " feeds, " + std::to_string(total_) + " samples)";
  }

 private:
  std::map<std::string, RtValue> read_one(const std::string& file) {
    std::map<std::string, RtValue> feeds;
    if (file.ends_with(".npz")) {
      for (auto& [name, tensor] : read_npz(file)) {
        inputs_.input_named(name, file);
        feeds[name] = RtValue(std::move(tensor));
      }
      return feeds;
    }
    if (fs::is_directory(file) || file.ends_with(".pb") || file.ends_with(".npy")) {
      if (!fs::is_directory(file)) {
        auto samples = inputs_.sample_inputs();
        if (samples.size() != 1)
          throw bad_data(file, "a single-array feed needs a model with one input besides the fixed ones (inputs: " +
                                   data_input_names(inputs_.model) + ")");
        return read_feeds(inputs_.model, {samples[0]->name() + "=" + file});
      }
      auto feeds_in = read_feeds(inputs_.model, {file});
      for (auto& [name, value] : feeds_in) inputs_.input_named(name, file);
      return feeds_in;
    }
    throw bad_data(file, "expected a .npz, .npy or .pb file");
  }

  ModelInputs inputs_;
  std::string path_;
  std::vector<std::string> files_;
  DataOptions options_;
  size_t index_ = 0;
  int64_t done_ = 0, total_ = 0;
};

Value* only_sample_input(const ModelInputs& inputs, const std::string& path) {
  auto samples = inputs.sample_inputs();
  if (samples.size() != 1)
    throw bad_data(path, "the model has " + std::to_string(samples.size()) + " inputs besides the fixed ones (" +
                             data_input_names(inputs.model) + "); use a .npz keyed by input name, or --fixed-input");
  return samples[0];
}

std::unique_ptr<SampleSource> open_images(ModelInputs inputs, const std::string& dir,
                                          std::vector<std::string> images, const DataOptions& options) {
  Value* input = only_sample_input(inputs, dir);
  ImageOptions image = options.image;
  if (!image.size) {
    // The model's own H and W when they are fixed numbers.
    const auto& shape = input->info.tensor ? input->info.tensor->shape : std::nullopt;
    if (shape && shape->size() == 4) {
      const Dim& h = (*shape)[image.nhwc ? 1 : 2];
      const Dim& w = (*shape)[image.nhwc ? 2 : 3];
      if (h.value && w.value) image.size = std::make_pair(*h.value, *w.value);
    }
    if (!image.size)
      throw usage_error(dir + " holds images and input '" + input->name() +
                        "' has no fixed height and width: give --image-size H,W");
  }
  if (input->info.tensor && input->info.tensor->elem != DType::kFloat && input->info.tensor->elem != DType::kUndefined)
    throw bad_data(dir, "images become float tensors, but input '" + input->name() + "' expects dtype " +
                            std::string(dtype_name(input->info.tensor->elem)));
  auto column = std::make_unique<ImageColumn>(std::move(images), image, dir);
  column->input_ = input->name();
  auto source = std::make_unique<RowSource>(std::move(inputs), dir, options);
  source->add(input, std::move(column));
  source->plan();
  return source;
}

std::unique_ptr<SampleSource> open_folder(ModelInputs inputs, const std::string& dir, const DataOptions& options) {
  std::vector<fs::path> entries;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) entries.push_back(e.path());
  if (ec) throw io_error(dir, "cannot list the folder: " + ec.message());
  std::sort(entries.begin(), entries.end());
  std::vector<std::string> test_sets, arrays, images;
  for (const fs::path& p : entries) {
    const std::string name = p.filename().string();
    if (fs::is_directory(p) && name.starts_with("test_data_set_")) test_sets.push_back(p.string());
    else if (!fs::is_directory(p) && (name.ends_with(".npz") || name.ends_with(".npy"))) arrays.push_back(p.string());
    else if (!fs::is_directory(p) && is_image(p)) images.push_back(p.string());
  }
  if (!test_sets.empty()) return std::make_unique<FeedSource>(std::move(inputs), dir, std::move(test_sets), options);
  if (!arrays.empty()) return std::make_unique<FeedSource>(std::move(inputs), dir, std::move(arrays), options);
  if (!images.empty()) return open_images(std::move(inputs), dir, std::move(images), options);
  throw bad_data(dir, "the folder holds no .npy/.npz files, test_data_set_* folders or PNG/JPEG images");
}

}  // namespace

std::unique_ptr<SampleSource> open_samples(const Model& model, const std::string& path, const DataOptions& options) {
  ModelInputs inputs(model, options.fixed_inputs);
  std::error_code ec;
  if (!fs::exists(path, ec)) throw io_error(path, "no such file or folder");
  if (fs::is_directory(path)) return open_folder(std::move(inputs), path, options);
  if (path.ends_with(".pb"))
    return std::make_unique<FeedSource>(std::move(inputs), path, std::vector<std::string>{path}, options);
  if (path.ends_with(".npy")) {
    Value* input = only_sample_input(inputs, path);
    auto source = std::make_unique<RowSource>(std::move(inputs), path, options);
    source->add(input, std::make_unique<ArrayColumn>(NpyStream::open_npy(path)));
    source->plan();
    return source;
  }
  if (path.ends_with(".npz")) {
    auto archive = DataFile::open(path);
    auto source = std::make_unique<RowSource>(inputs, path, options);
    std::set<std::string> seen;
    for (const NpzMember& member : list_npz(*archive)) {
      Value* input = inputs.input_named(member.name, path);
      seen.insert(member.name);
      source->add(input, std::make_unique<ArrayColumn>(NpyStream::open_npz_member(archive, member)));
    }
    for (Value* v : inputs.sample_inputs())
      if (!seen.count(v->name()))
        throw bad_data(path, "no array for input '" + v->name() + "' (keys are input names; or give it with --fixed-input)");
    source->plan();
    return source;
  }
  if (is_image(path)) throw usage_error(path + ": give the folder that holds the images, not one image");
  throw bad_data(path, "expected .npy, .npz, .pb or a folder");
}

}  // namespace edgeq
