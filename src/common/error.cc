#include "edgeq/error.h"

namespace edgeq {

const ErrorKindInfo& error_kind_info(ErrorKind kind) {
  for (const auto& info : kErrorKinds)
    if (info.kind == kind) return info;
  return kErrorKinds[std::size(kErrorKinds) - 1];
}

Error invalid_model(const std::string& file, const std::string& reason) {
  return Error(ErrorKind::kInvalidModel, file + ": invalid model: " + reason);
}

Error io_error(const std::string& file, const std::string& reason) {
  return Error(ErrorKind::kIo, file + ": " + reason);
}

Error usage_error(const std::string& reason) { return Error(ErrorKind::kUsage, reason); }

Error unsupported(const std::string& file, const std::string& reason) {
  return Error(ErrorKind::kUnsupported, file + ": unsupported: " + reason);
}

}  // namespace edgeq
