// Flags that describe samples (DESIGN.md's data rules), shared by every command that reads
// many samples: calibrate, quantize, eval, distill-targets, and prune / compress for --eval. The
// sample count flag is each command's own (--calib-samples, --eval-samples).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "edgeq/data/samples.h"

namespace edgeq::cli {

struct DataFlags {
  std::vector<std::string> fixed_inputs;  // NAME=FILE
  std::string image_size;                 // "H,W"
  std::string mean;                       // "a[,b,c]"
  std::string std;
  std::string layout;                     // nchw | nhwc
  bool rgb = false, bgr = false, grayscale = false;
};

// Declares --fixed-input, --image-size, --mean, --std, --layout, --rgb, --bgr, --grayscale.
void add_data_flags(CLI::App& command, DataFlags& flags);

// Checks the values and builds the options; throws kUsage (exit 2) for malformed ones.
DataOptions to_data_options(const DataFlags& flags);

}  // namespace edgeq::cli
