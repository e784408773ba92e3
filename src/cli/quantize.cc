// edgeq quantize MODEL --int8 [-o OUT] [--calib DATA ...] [--format qdq|qoperator] ...
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/data_flags.h"
#include "cli/report_flags.h"
#include "common/atomic_file.h"
#include "edgeq/calib/calibrate.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/passes/quantize.h"
#include "edgeq/passes/upgrade_opset.h"
#include "edgeq/report.h"
#include "edgeq/report/render.h"

namespace edgeq::cli {

namespace {

struct QuantizeCliOptions {
  std::string input;
  std::string output;
  bool int8 = false;
  std::string calib;
  DataFlags data;
  std::string method = "minmax";
  double percentile = 99.999;
  int64_t calib_samples = 0;
  std::string format = "qdq";
  bool per_tensor = false;
  std::string weight_type = "s8";
  std::string activation_type = "u8";
  bool symmetric_activations = false;
  bool reduce_range = false;
  std::string exclude_nodes, exclude_op_types, op_types;
  std::string calib_table;
  int threads = 0;
  std::string report;
  std::string report_format = "json";
  EvalFlags eval;  // --eval, --labels, --eval-samples, gates
};

std::string default_output(const std::string& input) {
  std::filesystem::path p(input);
  return (p.parent_path() / (p.stem().string() + ".int8.onnx")).string();
}

std::set<std::string> as_set(const std::string& list) {
  auto items = split_list(list);
  return {items.begin(), items.end()};
}

// The graph-preparation passes quantization relies on: sparse initializers become dense, Constant
// weights become initializers
// (and Casts of FP16 weights are folded), BatchNormalization disappears into Conv weights,
// Identity/Dropout and dead nodes go.
void prepare(Model& model, PassContext& ctx) {
  PassContext prep = ctx;
  prep.log = [](const std::string& line) { spdlog::debug("{}", line); };
  for (const char* name :
       {"densify_sparse", "remove_identity", "fold_constants", "fold_batchnorm", "eliminate_dead_nodes"}) {
    PassResult r = run_pass(name, model, prep);
    if (r.changes > 0) spdlog::info("{}: {}", name, r.summary);
  }
  ctx.warnings = prep.warnings;
}

// Raises the opset to what the requested quantization needs, or falls back to what the opset
// allows (per-tensor weights below 13) and says so; below the minimum it refuses (exit 5).
void ensure_opset(Model& model, QuantizeOptions& q, bool is_static, const std::string& path, PassContext& ctx) {
  const int64_t have = model.opset("").value_or(1);
  const int64_t minimum = is_static ? 10 : 11;
  const int64_t wanted = q.per_channel ? 13 : minimum;
  if (have >= wanted) return;
  OpsetUpgrade up = upgrade_opset(model, wanted, ctx);
  if (up.blocker.empty()) {
    if (model.ir_version < 7) model.ir_version = 7;  // IR 7 is the first to carry opset 13
    std::string line = "upgraded the model from opset " + std::to_string(have) + " to " + std::to_string(wanted) +
                       " (" + std::to_string(up.rewritten) + " nodes rewritten)";
    spdlog::info("{}", line);
    ctx.warnings.push_back(line);
    return;
  }
  if (have >= minimum) {
    std::string line = "per-channel weights need opset 13 and the model (opset " + std::to_string(have) +
                       ") cannot be upgraded: " + up.blocker + "; weights of Conv are quantized per tensor";
    spdlog::warn("{}", line);
    ctx.warnings.push_back(line);
    return;
  }
  // Try the minimum.
  OpsetUpgrade low = upgrade_opset(model, minimum, ctx);
  if (!low.blocker.empty())
    throw unsupported(path, (is_static ? "static" : "dynamic") + std::string(" INT8 needs opset ") +
                                std::to_string(minimum) + " and the model imports opset " + std::to_string(have) +
                                " which edgeq cannot upgrade: " + low.blocker);
  if (model.ir_version < 6) model.ir_version = 6;
  std::string line = "upgraded the model from opset " + std::to_string(have) + " to " + std::to_string(minimum) +
                     "; per-channel weights need 13 (" + up.blocker + "): Conv weights are quantized per tensor";
  spdlog::warn("{}", line);
  ctx.warnings.push_back(line);
}

nlohmann::json summary_json(const QuantizeSummary& s, const QuantizeCliOptions& o, bool is_static,
                            int64_t calib_samples, int qoperator_nodes, int64_t opset_before, int64_t opset_after) {
  nlohmann::json j;
  j["mode"] = is_static ? "static" : "dynamic";
  j["format"] = is_static ? o.format : "integer-ops";
  if (is_static) {
    j["calibration"] = {{"method", o.method}, {"samples", calib_samples}};
    if (o.method == "percentile") j["calibration"]["percentile"] = o.percentile;
  } else {
    j["calibration"] = nullptr;
  }
  j["opset_before"] = opset_before;
  j["opset_after"] = opset_after;
  j["quantized_nodes"] = s.quantized_nodes;
  j["qoperator_nodes"] = qoperator_nodes;
  uint64_t before = 0, after = 0;
  for (const auto& t : s.tensors) {
    before += t.bytes_before;
    after += t.bytes_after;
  }
  j["quantized_tensors"] = s.tensors.size();
  j["quantized_bytes_before"] = before;
  j["quantized_bytes_after"] = after;
  j["activations"] = s.activations.size();
  j["unreached"] = s.unreached;
  j["skipped"] = s.skipped;
  return j;
}

// Checks the options (before any model is read) and returns the quantization they describe.
// `standalone`: `edgeq quantize` itself, whose --eval reads the data flags too (a recipe step's
// data flags describe only its --calib data; compress has its own for --eval).
Transform quantize_transform(const QuantizeCliOptions& o, bool standalone) {
  if (!o.int8) throw usage_error("choose a precision: --int8");
  const bool is_static = !o.calib.empty();
  if (!is_static) {
    if (o.format != "qdq") throw usage_error("--format qoperator needs --calib (static quantization)");
    if (o.method != "minmax" || o.calib_samples > 0 || !o.calib_table.empty())
      throw usage_error("--method, --calib-samples and --calib-table need --calib");
  }
  QuantizeOptions q;
  q.format = o.format == "qoperator" ? QuantFormat::kQOperator : QuantFormat::kQdq;
  q.per_channel = !o.per_tensor;
  q.weight_signed = o.weight_type == "s8";
  q.activation_signed = o.activation_type == "s8";
  q.symmetric_activations = o.symmetric_activations;
  q.reduce_range = o.reduce_range;
  q.exclude_nodes = as_set(o.exclude_nodes);
  q.exclude_op_types = as_set(o.exclude_op_types);
  q.op_types = as_set(o.op_types);
  const auto& mode_ops = is_static ? static_op_types() : dynamic_op_types();
  for (const auto& op : q.op_types)
    if (!mode_ops.count(op)) {
      std::string known;
      for (const auto& m : mode_ops) known += (known.empty() ? "" : ", ") + m;
      throw usage_error("--op-types: " + op + " is not quantized in " + (is_static ? "static" : "dynamic") +
                        " mode (these are: " + known + ")");
    }
  DataOptions data;
  if (is_static) {
    data = to_data_options(o.data);
    data.max_samples = o.calib_samples;
  } else if ((!standalone || o.eval.eval_data.empty()) &&
             (!o.data.fixed_inputs.empty() || !o.data.image_size.empty())) {
    throw usage_error(std::string("data flags (--fixed-input, --image-size, ...) need --calib") +
                      (standalone ? " or --eval" : ""));
  }

  return [o, q, data, is_static](Model& model, StepContext& step) mutable {
    PassContext ctx;
    ctx.threads = step.threads;
    ctx.log = [](const std::string& line) { spdlog::info("{}", line); };
    ctx.warnings = std::move(step.warnings);
    {
      bool quantized_already = false;
      model.graph->for_each_graph([&](const Graph& g) {
        for (const auto& n : g.nodes()) quantized_already |= is_quantized_op(n->domain(), n->op_type());
      });
      if (quantized_already) {
        const std::string line = "the model already holds quantized ops; only its float parts are quantized";
        spdlog::warn("{}", line);
        ctx.warnings.push_back(line);
      }
    }
    const int64_t opset_before = model.opset("").value_or(0);
    prepare(model, ctx);
    ensure_opset(model, q, is_static, step.model_path, ctx);
    // A model with external data may be much larger than memory: quantized weights go to a
    // scratch file (beside the output) and are streamed into the output's data file.
    q.spill_dir = step.spill_dir;

    QuantizeSummary summary;
    int64_t calib_samples = 0;
    int qoperator_nodes = 0;
    if (is_static) {
      const std::set<std::string> tensors = static_calibration_tensors(model, q);
      auto samples = open_samples(model, o.calib, data);
      CalibOptions co;
      co.method = parse_calib_method(o.method);
      co.percentile = o.percentile;
      co.threads = step.threads;
      co.quant_levels = 256;
      spdlog::info("calibrating {} tensors on {} ({})", tensors.size(), samples->describe(), o.method);
      CalibrationTable table = calibrate(model, *samples, tensors, co);
      calib_samples = table.samples;
      if (!o.calib_table.empty()) write_file_atomic(o.calib_table, table.to_tsv());
      summary = quantize_static(model, q, table, ctx);
      if (q.format == QuantFormat::kQOperator) qoperator_nodes = qdq_to_qoperator(model, ctx);
      if (!summary.unreached.empty())
        ctx.warnings.push_back(std::to_string(summary.unreached.size()) +
                               " tensors were never reached by calibration (If/Loop branches) and stay float");
    } else {
      summary = quantize_dynamic(model, q, ctx);
    }
    for (const auto& s : summary.skipped) spdlog::debug("left float: {}", s);
    if (!is_static && summary.quantized_nodes.count("Conv")) {
      // Measured (bench/bench_quantize.sh): ONNX Runtime runs Conv with a dequantized weight,
      // and ConvInteger, slower than the float Conv it can prepack. Say so where it matters.
      const std::string line = "dynamic INT8 stores Conv weights as INT8 but runs Conv in float (smaller file, "
                               "not faster); static INT8 (--calib DATA) makes convolutional models faster";
      spdlog::warn("{}", line);
      ctx.warnings.push_back(line);
    }
    if (summary.tensors.empty())
      ctx.warnings.push_back("nothing was quantized: the model has no " + std::string(is_static ? "static" : "dynamic") +
                             "-quantizable op with float32 inputs and constant weights");

    uint64_t before = 0, after = 0, params = 0;
    for (const auto& t : summary.tensors) {
      before += t.bytes_before;
      after += t.bytes_after;
      uint64_t n = 1;
      for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
      params += n;
    }
    if (params > 0)
      spdlog::info("quantized {} tensors: {} -> {} bytes, {:.2f} bits per weight", summary.tensors.size(), before,
                   after, 8.0 * static_cast<double>(after) / static_cast<double>(params));
    step.warnings = std::move(ctx.warnings);

    StepResult r;
    r.changes = static_cast<int>(summary.tensors.size());
    r.summary = fmt::format("{} INT8 ({}): {} tensors quantized, {} -> {} bytes", is_static ? "static" : "dynamic",
                            is_static ? o.format : "integer-ops", summary.tensors.size(), before, after);
    r.section = "quantization";
    r.data = summary_json(summary, o, is_static, calib_samples, qoperator_nodes, opset_before,
                          model.opset("").value_or(0));
    return r;
  };
}

}  // namespace

void setup_quantize(CLI::App& command, Actions& actions) {
  auto o = std::make_shared<QuantizeCliOptions>();
  command.add_option("model", o->input, "ONNX model to quantize")->required();
  command.add_option("-o,--output", o->output, "Output model (default: <stem>.int8.onnx beside the input)");
  command.add_flag("--int8", o->int8, "8-bit integer quantization (the only precision so far)");
  command.add_option("--calib", o->calib, "Calibration data: static quantization (else dynamic)")->type_name("PATH");
  add_data_flags(command, o->data);
  command.add_option("--method", o->method, "Calibration method")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  command.add_option("--percentile", o->percentile, "Percentile for --method percentile (default 99.999)")
      ->check(CLI::Range(1e-9, 100.0));
  command.add_option("--calib-samples", o->calib_samples, "Use the first N samples (default: all)")
      ->check(CLI::PositiveNumber);
  command.add_option("--format", o->format, "Static output form: qdq (default) or qoperator")
      ->check(CLI::IsMember({"qdq", "qoperator"}));
  command.add_flag("--per-tensor", o->per_tensor, "One scale per weight tensor instead of per output channel");
  command.add_option("--weight-type", o->weight_type, "s8 (symmetric, default) or u8 (asymmetric)")
      ->check(CLI::IsMember({"s8", "u8"}));
  command.add_option("--activation-type", o->activation_type, "Static activations: u8 (default) or s8")
      ->check(CLI::IsMember({"u8", "s8"}));
  command.add_flag("--symmetric-activations", o->symmetric_activations, "Activation ranges symmetric around 0");
  command.add_flag("--reduce-range", o->reduce_range, "7-bit weights (CPUs without VNNI)");
  command.add_option("--exclude-nodes", o->exclude_nodes, "Node names to leave float (comma-separated)");
  command.add_option("--exclude-op-types", o->exclude_op_types, "Op types to leave float");
  command.add_option("--op-types", o->op_types, "Quantize only these op types");
  command.add_option("--calib-table", o->calib_table, "Also write the calibration table (TSV) here")
      ->type_name("PATH");
  command.add_option("--threads", o->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  command.add_option("--report", o->report, "Report file (default: <OUT stem>.report.json)");
  command.add_option("--report-format", o->report_format, kReportFormatHelp)->default_str("json");
  add_eval_flags(command, o->eval);

  actions.transform = [o] { return quantize_transform(*o, /*standalone=*/false); };
  command.callback([o, &run = actions.run] {
    run = [o] {
      const std::vector<std::string> report_formats = parse_report_formats(o->report_format);
      check_eval_flags(o->eval);
      const bool has_eval = !o->eval.eval_data.empty();
      const Transform transform = quantize_transform(*o, /*standalone=*/true);
      const bool is_static = !o->calib.empty();
      DataOptions data;  // for --eval
      if (has_eval) data = to_data_options(o->data);

      nlohmann::json options = {{"int8", true},
                                {"calib", is_static ? nlohmann::json(o->calib) : nlohmann::json(nullptr)},
                                {"format", o->format},
                                {"per_channel", !o->per_tensor},
                                {"weight_type", o->weight_type},
                                {"activation_type", o->activation_type},
                                {"symmetric_activations", o->symmetric_activations},
                                {"reduce_range", o->reduce_range},
                                {"exclude_nodes", split_list(o->exclude_nodes)},
                                {"exclude_op_types", split_list(o->exclude_op_types)},
                                {"op_types", split_list(o->op_types)}};
      if (is_static) {
        options["method"] = o->method;
        if (o->method == "percentile") options["percentile"] = o->percentile;
        options["calib_samples"] = o->calib_samples;
      }
      add_eval_options(options, o->eval);
      ReportBuilder report("quantize", options);
      ModelSource source;
      Model model = load_model(o->input, &source);
      report.set_input(model, source);
      const std::string output = o->output.empty() ? default_output(o->input) : o->output;

      StepContext ctx = input_context(source, output, o->threads);
      const StepResult result = transform(model, ctx);
      for (const auto& w : ctx.warnings) report.add_warning(w);

      const WrittenModel w = evaluate_and_write(model, source, output, o->report, report_formats, report, o->eval, data,
                                                o->threads, [&](nlohmann::json& j) { j[result.section] = result.data; });
      std::cout << "quantized " << o->input << " -> " << w.files.model_path << " (" << w.bytes_in << " -> "
                << w.bytes_out << " bytes, " << fmt::format("{:.2f}", w.ratio()) << "x smaller)\nreport: "
                << w.report_path << "\n";
      return w.print_result(std::cout);
    };
  });
}

}  // namespace edgeq::cli
