// Errors that reach the user. Input-driven failures are thrown as edgeq::Error, carrying a
// category; the CLI catches them once and maps the category to the exit code in kErrorKinds.
// Internal invariants use assert/EDGEQ_CHECK instead and surface as code 70.
#pragma once

#include <span>
#include <stdexcept>
#include <string>

namespace edgeq {

enum class ErrorKind {
  kGateFailed,    // a CI gate failed; outputs were still written
  kUsage,         // bad flag, option value or argument
  kInvalidModel,  // not ONNX, truncated, inconsistent, unsafe external data
  kInvalidData,   // run/calibration/eval data that does not fit the model
  kUnsupported,   // op, opset, dtype or pattern edgeq cannot handle
  kIo,            // a file cannot be read or written
  kInternal,      // a bug in edgeq
};

struct ErrorKindInfo {
  ErrorKind kind;
  int exit_code;
  const char* name;  // stable, used in logs and --log-format json
  const char* meaning;
};

// The public exit-code table (README "Exit codes" is generated from the same facts).
inline constexpr ErrorKindInfo kErrorKinds[] = {
    {ErrorKind::kGateFailed, 1, "gate_failed",
     "a gate failed (--max-accuracy-drop, --min-size-ratio): the model and report were still written"},
    {ErrorKind::kUsage, 2, "usage", "unknown flag, bad option value, missing argument"},
    {ErrorKind::kInvalidModel, 3, "invalid_model",
     "not ONNX, truncated, inconsistent, unsafe external data"},
    {ErrorKind::kInvalidData, 4, "invalid_data",
     "run/calibration/eval inputs that do not fit the model"},
    {ErrorKind::kUnsupported, 5, "unsupported",
     "an op, opset, dtype or pattern edgeq cannot handle"},
    {ErrorKind::kIo, 6, "io", "a file cannot be read or written"},
    {ErrorKind::kInternal, 70, "internal", "internal error (a bug)"},
};

const ErrorKindInfo& error_kind_info(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return error_kind_info(kind_).exit_code; }

 private:
  ErrorKind kind_;
};

// Shorthands used at throw sites: `throw invalid_model(path, "tensor 'W': ...")`.
// Each prefixes the file so every message names it.
Error invalid_model(const std::string& file, const std::string& reason);
Error io_error(const std::string& file, const std::string& reason);
Error usage_error(const std::string& reason);
Error unsupported(const std::string& file, const std::string& reason);

}  // namespace edgeq

// Internal invariant: a failure is a bug in edgeq, reported with exit code 70.
#define EDGEQ_CHECK(cond, msg)                                                          \
  do {                                                                                  \
    if (!(cond))                                                                        \
      throw ::edgeq::Error(::edgeq::ErrorKind::kInternal,                               \
                           std::string("internal error (a bug in edgeq): ") + (msg) + \
                               " [" __FILE__ ":" + std::to_string(__LINE__) + "]");     \
  } while (0)
