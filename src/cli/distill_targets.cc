// edgeq distill-targets TEACHER --data DATA [data flags] [--data-samples N] [--batch B]
//   [--temperature T] [--features name,...] [--top-k K] [--student-width W --student-out PATH]
//   [--threads N] [-o targets.npz]
// Writes the teacher's soft targets over DATA as a .npz (see include/edgeq/passes/distill.h),
// and with --student-width a channel-pruned copy of the teacher to train against them, with its
// report <student stem>.report.json (size, the `pruning` section of the channel pruning and a
// `distillation` section naming the targets it goes with).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/data_flags.h"
#include "cli/prune_report.h"
#include "common/atomic_file.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/passes/distill.h"
#include "edgeq/report.h"
#include "passes/prune/prune_storage.h"

namespace edgeq::cli {

namespace {

struct DistillFlags {
  std::string teacher;
  std::string data;
  DataFlags data_flags;
  int64_t samples = 0;
  int64_t batch = 32;
  double temperature = 1.0;
  std::string features;
  int64_t top_k = 0;
  double student_width = 0;
  std::string student_out;
  int threads = 0;
  std::string output;
};

std::string default_output(const std::string& teacher) {
  std::filesystem::path p(teacher);
  return (p.parent_path() / (p.stem().string() + ".targets.npz")).string();
}

int64_t weight_params(const Model& model) {
  int64_t params = 0;
  for (const WeightInfo& w : collect_weights(model)) params += static_cast<int64_t>(w.params);
  return params;
}

// The report's `pruning` section for make_student's channel pruning: what `edgeq prune --pattern
// channel --scope global --norm l1 --sparsity 1-W` reports. Width 1 prunes nothing: no layers,
// params unchanged.
nlohmann::json student_pruning_json(double width, const PruneSummary& s,
                                     const std::vector<pruning::WeightStorage>& storage, int64_t params) {
  PruneOptions o;
  o.pattern = PrunePattern::kChannel;
  o.sparsity = 1.0 - width;
  nlohmann::json j = pruning_json(o, s, storage, /*sparse_storage=*/false);
  if (s.layers.empty()) j["params_before"] = j["params_after"] = params;
  return j;
}

// The report's `distillation` section: the targets the student goes with.
nlohmann::json distillation_json(const std::string& targets, const DistillSummary& s,
                                 const DistillOptions& o, double width) {
  nlohmann::json arrays = nlohmann::json::array();
  for (const DistillArray& a : s.arrays)
    arrays.push_back({{"name", a.name},
                      {"kind", a.kind},
                      {"tensor", a.tensor.empty() ? nlohmann::json(nullptr)
                                                  : nlohmann::json(a.tensor)},
                      {"dtype", a.dtype},
                      {"shape", a.shape}});
  return {{"targets", targets},          {"samples", s.samples},
          {"temperature", o.temperature}, {"outputs", s.outputs},
          {"top_k", o.top_k},             {"features", o.features},
          {"student_width", width},       {"arrays", std::move(arrays)}};
}

}  // namespace

void setup_distill_targets(CLI::App& command, Action& run) {
  auto f = std::make_shared<DistillFlags>();
  command.add_option("teacher", f->teacher, "Teacher ONNX model")->required();
  command
      .add_option("--data", f->data,
                  "Samples: .npy, .npz, .pb, or a folder (feeds, test sets, images)")
      ->required();
  add_data_flags(command, f->data_flags);
  command
      .add_option("--data-samples", f->samples,
                  "Use the first N samples (rows on axis 0; default all)")
      ->check(CLI::PositiveNumber);
  command
      .add_option("--batch", f->batch,
                  "Samples per run when the model's batch axis is free (default 32)")
      ->check(CLI::PositiveNumber);
  command.add_option("--temperature", f->temperature,
                     "T in probs = softmax(logits / T) (default 1)");
  command.add_option(
      "--features", f->features,
      "Intermediate tensors to write as feat_<name> (comma-separated main-graph tensor names)");
  command.add_option("--top-k", f->top_k, "Also write topk_indices / topk_probs [N, K]")
      ->check(CLI::PositiveNumber);
  command.add_option("--student-width", f->student_width,
                     "Fraction of channels the student keeps, in (0, 1]; needs --student-out");
  command.add_option(
      "--student-out", f->student_out,
      "Write the teacher channel-pruned to --student-width here (the student's starting point)");
  command
      .add_option("--threads", f->threads,
                  "Threads (default: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  command.add_option("-o,--output", f->output,
                     "Targets file (default: <teacher stem>.targets.npz beside it)");

  CLI::App* cmd = &command;
  command.callback([f, cmd, &run] {
    const bool width_given = cmd->count("--student-width") > 0;
    run = [f, width_given] {
      const bool student = width_given || !f->student_out.empty();
      if (student && (!width_given || f->student_out.empty()))
        throw usage_error(
            "--student-width W and --student-out PATH go together: give both or neither");
      if (student && !(f->student_width > 0.0 && f->student_width <= 1.0))
        throw usage_error("--student-width must be in (0, 1], the fraction of channels kept (got " +
                          fmt::format("{}", f->student_width) + ")");
      const std::string output = f->output.empty() ? default_output(f->teacher) : f->output;
      if (same_file(output, f->teacher))
        throw usage_error("-o " + output + " is the teacher model itself");
      if (student && (same_file(f->student_out, f->teacher) || same_file(f->student_out, output)))
        throw usage_error("--student-out " + f->student_out +
                          " is the teacher or the targets file");

      DistillOptions o;
      o.temperature = f->temperature;
      o.features = split_list(f->features);
      o.top_k = f->top_k;
      o.threads = f->threads;
      o.teacher_path = f->teacher;
      DataOptions data = to_data_options(f->data_flags);
      data.max_samples = f->samples;
      data.batch = f->batch;

      ModelSource source;
      Model teacher = load_model(f->teacher, &source);
      for (const auto& w : source.warnings) spdlog::warn("{}", w);
      check_distill_options(teacher, o);
      const nlohmann::json data_samples =
          f->samples > 0 ? nlohmann::json(f->samples) : nlohmann::json(nullptr);
      ReportBuilder report("distill-targets", {{"data", f->data},
                                               {"data_samples", data_samples},
                                               {"batch", f->batch},
                                               {"temperature", o.temperature},
                                               {"features", o.features},
                                               {"top_k", o.top_k},
                                               {"student_width", f->student_width},
                                               {"targets", output}});
      if (student) {
        report.set_input(teacher, source);
        for (const auto& w : source.warnings) report.add_warning(w);
      }

      // The student is pruned before any sample runs, so an unprunable teacher fails early.
      std::optional<Model> student_model;
      PruneSummary pruned;
      std::vector<pruning::WeightStorage> storage;
      PassContext ctx;
      ctx.threads = f->threads;
      if (student) {
        student_model.emplace(load_model(f->teacher));
        try {
          // A teacher written by `prune --sparse-storage`: channel pruning sees dense weights
          // only, so its sparse weights become dense first (the student is stored dense).
          const PassResult densified = run_pass("densify_sparse", *student_model, ctx);
          if (densified.changes > 0) spdlog::info("student: {}", densified.summary);
          pruned = make_student(*student_model, f->student_width, ctx);
        } catch (const Error& e) {  // name the file and the flag, as `edgeq prune` does
          if (e.kind() != ErrorKind::kUnsupported) throw;
          throw Error(e.kind(), f->teacher + ": --student-width: " + e.what());
        }
        // Dense, sparse and zstd bytes of each pruned weight, as `edgeq prune` reports them.
        storage = pruning::measure_and_store(*student_model, pruned, /*sparse_storage=*/false, ctx);
      }

      NpzWriter writer(output);
      auto samples = open_samples(teacher, f->data, data);
      spdlog::info("running the teacher over {}", samples->describe());
      std::vector<std::string> warnings;
      DistillSummary summary = write_distill_targets(teacher, *samples, o, writer, warnings);
      for (const auto& w : warnings) spdlog::warn("{}", w);
      for (const auto& a : summary.arrays) {
        std::string shape;
        for (int64_t d : a.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        spdlog::info("{} [{}] {}{}", a.name, shape, a.dtype,
                     a.tensor.empty() ? "" : " <- " + a.tensor);
      }

      // Student and its report first, targets last: if the targets cannot be written the
      // student and its report go too.
      SavedFiles saved;
      const std::string report_path = student ? default_report_path(f->student_out) : std::string();
      if (student) {
        for (const auto& w : warnings) report.add_warning(w);
        for (const auto& w : ctx.warnings) {
          spdlog::warn("{}", w);
          report.add_warning(w);
        }
        SaveOptions save;
        save.source_had_external_data = !source.data_files.empty();
        save.protected_paths = source.data_files;
        save.protected_paths.push_back(source.path);
        save.protected_paths.push_back(output);
        const nlohmann::json pruning_section =
            student_pruning_json(f->student_width, pruned, storage, weight_params(teacher));
        const nlohmann::json distillation_section =
            distillation_json(output, summary, o, f->student_width);
        saved = save_model_and_report(*student_model, f->student_out, save, report_path,
                                      [&](const SavedFiles& files) {
                                        report.set_output(*student_model, files);
                                        nlohmann::json j = report.finish();
                                        j["pruning"] = pruning_section;
                                        j["distillation"] = distillation_section;
                                        return j;
                                      });
      }
      try {
        writer.finish();
      } catch (...) {
        if (student) {
          std::error_code ec;
          std::filesystem::remove(saved.model_path, ec);
          if (!saved.data_path.empty()) std::filesystem::remove(saved.data_path, ec);
          std::filesystem::remove(report_path, ec);
        }
        throw;
      }

      std::cout << "distill-targets: " << f->teacher << " -> " << output << " (" << summary.samples
                << " samples, T=" << fmt::format("{}", o.temperature) << ", "
                << summary.arrays.size() + 1 << " arrays)\n";
      if (student) {
        std::cout << "student: " << saved.model_path << " (width "
                  << fmt::format("{}", f->student_width) << ", ";
        if (pruned.params_before > 0)
          std::cout << pruned.params_before << " -> " << pruned.params_after << " weights, ";
        else
          std::cout << "the teacher unchanged, ";
        std::cout << saved.model_bytes + saved.data_bytes << " bytes)\nreport: " << report_path
                  << "\n";
      }
      return 0;
    };
  });
}

}  // namespace edgeq::cli
