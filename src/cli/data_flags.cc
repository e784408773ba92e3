#include "cli/data_flags.h"

#include <cmath>

#include "cli/commands.h"
#include "edgeq/error.h"

namespace edgeq::cli {

namespace {

std::vector<double> numbers(const std::string& text, const char* flag) {
  std::vector<double> out;
  for (const std::string& item : split_list(text)) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !std::isfinite(v))
      throw usage_error(std::string(flag) + " expects numbers separated by commas, got '" + text + "'");
    out.push_back(v);
  }
  if (out.empty()) throw usage_error(std::string(flag) + " expects numbers separated by commas, got '" + text + "'");
  return out;
}

std::vector<float> channel_values(const std::string& text, const char* flag, int channels) {
  std::vector<float> out;
  for (double v : numbers(text, flag)) out.push_back(static_cast<float>(v));
  if (out.size() != 1 && static_cast<int>(out.size()) != channels)
    throw usage_error(std::string(flag) + " takes 1 value or " + std::to_string(channels) + " (one per channel), got " +
                      std::to_string(out.size()));
  return out;
}

}  // namespace

void add_data_flags(CLI::App& command, DataFlags& flags) {
  command.add_option("--fixed-input", flags.fixed_inputs,
                     "NAME=FILE (.npy/.pb) fed unchanged with every sample (scalars, recurrent state)")
      ->type_name("NAME=PATH");
  const char* group = "Image folders";
  command.add_option("--image-size", flags.image_size, "H,W to resize images to (default: the model's input size)")
      ->group(group);
  command.add_option("--mean", flags.mean, "Per-channel mean after dividing pixels by 255 (one value or one per channel)")
      ->group(group);
  command.add_option("--std", flags.std, "Per-channel std after dividing pixels by 255 (one value or one per channel)")
      ->group(group);
  command.add_option("--layout", flags.layout, "nchw (default) or nhwc")->group(group);
  command.add_flag("--rgb", flags.rgb, "Channels in RGB order (default)")->group(group);
  command.add_flag("--bgr", flags.bgr, "Channels in BGR order")->group(group);
  command.add_flag("--grayscale", flags.grayscale, "One luma channel")->group(group);
}

DataOptions to_data_options(const DataFlags& flags) {
  DataOptions options;
  for (const std::string& spec : flags.fixed_inputs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw usage_error("--fixed-input expects NAME=FILE, got '" + spec + "'");
  }
  options.fixed_inputs = flags.fixed_inputs;
  ImageOptions& image = options.image;
  if (flags.rgb && flags.bgr) throw usage_error("--rgb and --bgr exclude each other");
  if (flags.grayscale && (flags.rgb || flags.bgr)) throw usage_error("--grayscale excludes --rgb and --bgr");
  image.bgr = flags.bgr;
  image.grayscale = flags.grayscale;
  const int channels = flags.grayscale ? 1 : 3;
  if (!flags.image_size.empty()) {
    auto hw = numbers(flags.image_size, "--image-size");
    if (hw.size() != 2 || hw[0] < 1 || hw[1] < 1 || hw[0] != std::floor(hw[0]) || hw[1] != std::floor(hw[1]) ||
        hw[0] > 65536 || hw[1] > 65536)
      throw usage_error("--image-size expects H,W (two positive integers), got '" + flags.image_size + "'");
    image.size = std::make_pair(static_cast<int64_t>(hw[0]), static_cast<int64_t>(hw[1]));
  }
  if (!flags.mean.empty()) image.mean = channel_values(flags.mean, "--mean", channels);
  if (!flags.std.empty()) {
    image.std = channel_values(flags.std, "--std", channels);
    for (float s : image.std)
      if (s == 0) throw usage_error("--std values must not be 0");
  }
  if (!flags.layout.empty()) {
    if (flags.layout != "nchw" && flags.layout != "nhwc")
      throw usage_error("--layout expects nchw or nhwc, got '" + flags.layout + "'");
    image.nhwc = flags.layout == "nhwc";
  }
  options.image_options_given = !flags.image_size.empty() || !flags.mean.empty() || !flags.std.empty() ||
                                !flags.layout.empty() || flags.rgb || flags.bgr || flags.grayscale;
  return options;
}

}  // namespace edgeq::cli
