// NumPy .npy / .npz files: the data format users hand to `run`, `--calib`, `--eval`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "edgeq/ir/tensor.h"

namespace edgeq {

// Reads a .npy file (format 1.0–3.0, little-endian, C order). Throws kIo when unreadable and
// kInvalidData when it is not a .npy file or holds a dtype edgeq has no counterpart for.
Tensor read_npy(const std::string& path);
// Parses .npy bytes; `what` names the source in messages.
Tensor parse_npy(const std::string& bytes, const std::string& what);

// Writes a .npy file (format 1.0, the bytes numpy.save writes), atomically.
void write_npy(const std::string& path, const Tensor& tensor);
std::string npy_bytes(const Tensor& tensor);

// Reads every array of a .npz archive (numpy.savez or savez_compressed), in archive order,
// keyed by name without the ".npy" suffix.
std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& path);

}  // namespace edgeq
