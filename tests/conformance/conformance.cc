// Executor conformance: runs ONNX backend test cases (model.onnx + test_data_set_*/input_N.pb,
// output_N.pb) through edgeq's executor and compares with the expected outputs.
//
//   edgeq_conformance [--root DIR]... [--filter SUBSTRING] [--verbose] [--threads N]
//                     [--table docs/conformance.md] [--notes tests/conformance/notes.tsv]
//                     [--expect-pass FILE] [--write-pass FILE]
//
// Floats must agree within |got - want| <= kAtol + kRtol * |want| (the ONNX backend test
// defaults); integers, bools and strings exactly. With --expect-pass, every case listed in FILE
// must pass (the regression gate ctest runs); the table in docs/ is the published record.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "edgeq/data/feeds.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/runtime/executor.h"

namespace fs = std::filesystem;
using namespace edgeq;

namespace {

// The ONNX backend test runner's default tolerances.
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-4;

enum class Outcome { kPass, kFail, kUnsupported };

struct CaseResult {
  std::string name;   // directory name
  std::string suite;  // node, pytorch-converted, ...
  std::string op;     // grouping key for the table
  Outcome outcome;
  std::string detail;
};

RtValue to_rt(const StoredValue& v, const std::string& kind) { return stored_to_runtime(v, kind); }

// Empty string when equal within tolerance, else why not.
std::string compare_tensors(const Tensor& got, const Tensor& want) {
  auto dims_text = [](const std::vector<int64_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
    return s + "]";
  };
  if (got.dtype() != want.dtype())
    return "dtype " + std::string(dtype_name(got.dtype())) + " != " + std::string(dtype_name(want.dtype()));
  if (got.dims() != want.dims()) return "shape " + dims_text(got.dims()) + " != " + dims_text(want.dims());
  if (got.dtype() == DType::kString) return got.strings() == want.strings() ? "" : "strings differ";
  const DTypeInfo& info = dtype_info(got.dtype());
  if (info.is_float && info.bits >= 16 && got.dtype() != DType::kComplex64 && got.dtype() != DType::kComplex128) {
    for (size_t i = 0; i < got.element_count(); ++i) {
      double a = element_as_double(got, i), e = element_as_double(want, i);
      if (std::isnan(a) && std::isnan(e)) continue;
      if (std::isinf(e) && a == e) continue;
      if (!(std::fabs(a - e) <= kAtol + kRtol * std::fabs(e)))
        return "element " + std::to_string(i) + ": " + std::to_string(a) + " != " + std::to_string(e);
    }
    return "";
  }
  auto a = got.bytes(), b = want.bytes();
  if (!std::equal(a.begin(), a.end(), b.begin(), b.end())) return "values differ";
  return "";
}

std::string compare_values(const RtValue& got, const StoredValue& stored, const std::string& declared_kind) {
  RtValue want_value = to_rt(stored, declared_kind);
  if (want_value.kind == RtValue::Kind::kNone)
    return got.kind == RtValue::Kind::kNone ? "" : "expected an empty optional";
  StoredValue want = stored;
  if (want_value.kind == RtValue::Kind::kTensor) want.kind = StoredValue::Kind::kTensor;
  if (want.kind == StoredValue::Kind::kTensorList) {
    if (got.kind != RtValue::Kind::kSequence) return "expected a sequence";
    if (got.sequence.size() != want.tensors.size()) return "sequence length differs";
    for (size_t i = 0; i < got.sequence.size(); ++i)
      if (auto d = compare_tensors(got.sequence[i], want.tensors[i]); !d.empty()) return "item " + std::to_string(i) + ": " + d;
    return "";
  }
  if (got.kind != RtValue::Kind::kTensor) return "expected a tensor";
  return compare_tensors(got.tensor, want.tensors[0]);
}

std::vector<std::string> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(p.string());
  }
  return out;
}

CaseResult run_case(const fs::path& dir, int threads) {
  CaseResult r{dir.filename().string(), dir.parent_path().filename().string(), "", Outcome::kPass, ""};
  try {
    ModelSource source;
    Model model = load_model((dir / "model.onnx").string(), &source);
    std::set<std::string> ops;
    model.graph->for_each_graph([&](const Graph& g) {
      for (const auto& n : g.nodes()) ops.insert((n->domain().empty() ? "" : n->domain() + "::") + n->op_type());
    });
    if (model.graph->nodes().size() == 1) r.op = (*ops.begin());
    Executor executor(model, {threads});
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    for (const auto& set : sets) {
      std::map<std::string, RtValue> feeds;
      const auto& inputs = model.graph->inputs();
      std::vector<Value*> real_inputs;
      for (Value* v : inputs)
        if (!v->is_initializer()) real_inputs.push_back(v);
      auto files = numbered_files(set, "input_");
      for (size_t i = 0; i < files.size(); ++i) {
        StoredValue v = load_value_pb(files[i]);
        std::string name = v.name;
        const Value* declared = nullptr;
        for (Value* in : inputs)
          if (in->name() == name) declared = in;
        if (declared == nullptr && i < real_inputs.size()) declared = real_inputs[i];
        if (declared == nullptr) throw Error(ErrorKind::kInvalidData, files[i] + ": no model input for it");
        feeds[declared->name()] = to_rt(v, declared->info.type_kind);
      }
      auto outputs = executor.run(feeds);
      auto expected = numbered_files(set, "output_");
      if (expected.size() != outputs.size()) {
        r.outcome = Outcome::kFail;
        r.detail = "output count differs";
        return r;
      }
      for (size_t i = 0; i < expected.size(); ++i) {
        StoredValue want = load_value_pb(expected[i]);
        const std::string& kind = model.graph->outputs()[i]->info.type_kind;
        if (auto d = compare_values(outputs[i].second, want, kind); !d.empty()) {
          r.outcome = Outcome::kFail;
          r.detail = set.filename().string() + " output '" + outputs[i].first + "': " + d;
          return r;
        }
      }
    }
  } catch (const Error& e) {
    r.outcome = e.kind() == ErrorKind::kUnsupported ? Outcome::kUnsupported : Outcome::kFail;
    r.detail = e.what();
  } catch (const std::exception& e) {
    r.outcome = Outcome::kFail;
    r.detail = std::string("exception: ") + e.what();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> roots;
  std::string filter, table, expect_pass, write_pass, notes_file;
  bool verbose = false;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::cerr << a << " needs a value\n"; std::exit(2); }
      return argv[++i];
    };
    if (a == "--root") roots.push_back(next());
    else if (a == "--filter") filter = next();
    else if (a == "--table") table = next();
    else if (a == "--expect-pass") expect_pass = next();
    else if (a == "--write-pass") write_pass = next();
    else if (a == "--notes") notes_file = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--verbose") verbose = true;
    else { std::cerr << "unknown argument " << a << "\n"; return 2; }
  }
  if (roots.empty())
    for (const char* s : {"node", "pytorch-converted", "pytorch-operator", "simple"})
      roots.push_back(std::string("/usr/share/libonnx-testdata/data/") + s);

  std::vector<fs::path> cases;
  for (const auto& root : roots)
    for (const auto& e : fs::directory_iterator(root))
      if (fs::exists(e.path() / "model.onnx") && e.path().filename().string().find(filter) != std::string::npos)
        cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());

  std::vector<CaseResult> results;
  for (const auto& c : cases) {
    results.push_back(run_case(c, threads));
    const auto& r = results.back();
    if (verbose || (!filter.empty() && r.outcome != Outcome::kPass))
      std::cout << (r.outcome == Outcome::kPass ? "PASS " : r.outcome == Outcome::kFail ? "FAIL " : "UNSUP ")
                << r.suite << "/" << r.name << (r.detail.empty() ? "" : "  " + r.detail) << "\n";
  }
  // Expanded function-body cases count under the op they expand.
  std::map<std::string, std::string> op_of;
  for (const auto& r : results) op_of[r.suite + "/" + r.name] = r.op;
  for (auto& r : results) {
    if (!r.op.empty()) continue;
    const std::string base = r.name.size() > 9 && r.name.ends_with("_expanded") ? r.name.substr(0, r.name.size() - 9) : "";
    auto it = op_of.find(r.suite + "/" + base);
    r.op = it != op_of.end() && !it->second.empty() ? it->second + " (expanded)" : "(" + r.suite + " models)";
  }

  std::map<std::string, std::array<int, 3>> by_op;
  std::map<std::string, std::array<int, 3>> by_suite;
  for (const auto& r : results) {
    by_op[r.op][static_cast<int>(r.outcome)]++;
    by_suite[r.suite][static_cast<int>(r.outcome)]++;
  }
  for (const auto& [suite, c] : by_suite)
    std::cout << suite << ": " << c[0] << " pass, " << c[1] << " fail, " << c[2] << " unsupported of "
              << c[0] + c[1] + c[2] << "\n";

  // Why a case cannot pass (by nature, or because of the test data), for the table.
  std::map<std::string, std::string> notes;
  if (!notes_file.empty()) {
    std::ifstream in(notes_file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto tab = line.find('\t');
      if (tab != std::string::npos) notes[line.substr(0, tab)] = line.substr(tab + 1);
    }
  }
  if (!table.empty()) {
    std::ofstream out(table);
    out << "# Executor conformance\n\nGenerated by `build/tests/edgeq_conformance --table docs/conformance.md` "
           "from the ONNX backend test data (package libonnx-testdata). Floats agree within "
           "|got - want| <= 1e-4 + 1e-3·|want|; integers, bools and strings exactly.\n\n";
    out << "| suite | pass | fail | unsupported | total | pass rate |\n|---|---|---|---|---|---|\n";
    for (const auto& [suite, c] : by_suite) {
      int total = c[0] + c[1] + c[2];
      out << "| " << suite << " | " << c[0] << " | " << c[1] << " | " << c[2] << " | " << total << " | "
          << std::fixed << std::setprecision(1) << (total ? 100.0 * c[0] / total : 0.0) << " % |\n";
    }
    out << "\n| op | pass | fail | unsupported | status |\n|---|---|---|---|---|\n";
    for (const auto& [op, c] : by_op) {
      const char* status = c[1] == 0 && c[2] == 0 ? "supported" : c[0] == 0 ? "not supported" : "partial";
      out << "| " << op << " | " << c[0] << " | " << c[1] << " | " << c[2] << " | " << status << " |\n";
    }
    out << "\n## Cases that do not pass\n\n| case | outcome | reason |\n|---|---|---|\n";
    for (const auto& r : results) {
      if (r.outcome == Outcome::kPass) continue;
      auto note = notes.find(r.suite + "/" + r.name);
      std::string detail = note != notes.end() ? note->second : r.detail;
      std::replace(detail.begin(), detail.end(), '|', '/');
      std::replace(detail.begin(), detail.end(), '\n', ' ');
      if (detail.size() > 160) detail = detail.substr(0, 160) + "…";
      out << "| " << r.suite << "/" << r.name << " | " << (r.outcome == Outcome::kFail ? "fail" : "unsupported")
          << " | " << detail << " |\n";
    }
  }
  if (!write_pass.empty()) {
    std::ofstream out(write_pass);
    for (const auto& r : results)
      if (r.outcome == Outcome::kPass) out << r.suite << "/" << r.name << "\n";
  }
  int status = 0;
  if (!expect_pass.empty()) {
    std::ifstream in(expect_pass);
    std::set<std::string> passing;
    for (const auto& r : results)
      if (r.outcome == Outcome::kPass) passing.insert(r.suite + "/" + r.name);
    std::string line;
    int expected = 0, regressed = 0;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      ++expected;
      if (!passing.count(line)) {
        ++regressed;
        std::cout << "REGRESSION " << line << "\n";
      }
    }
    std::cout << "conformance gate: " << expected - regressed << " of " << expected << " expected cases pass\n";
    if (regressed > 0 || expected == 0) status = 1;
  }
  return status;
}
