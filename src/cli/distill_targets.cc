// edgeq distill-targets TEACHER --data DATA [data flags] [--data-samples N] [--batch B]
//   [--temperature T] [--features name,...] [--top-k K] [--student-width W --student-out PATH]
//   [--threads N] [-o targets.npz]
// Writes the teacher's soft targets over DATA as a .npz (see include/edgeq/passes/distill.h),
// and with --student-width a channel-pruned copy of the teacher to train against them.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/data_flags.h"
#include "common/atomic_file.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/passes/distill.h"

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

      // The student is pruned before any sample runs, so an unprunable teacher fails early.
      std::optional<Model> student_model;
      PruneSummary pruned;
      PassContext ctx;
      ctx.threads = f->threads;
      if (student) {
        student_model.emplace(load_model(f->teacher));
        try {
          pruned = make_student(*student_model, f->student_width, ctx);
        } catch (const Error& e) {  // name the file and the flag, as `edgeq prune` does
          if (e.kind() != ErrorKind::kUnsupported) throw;
          throw Error(e.kind(), f->teacher + ": --student-width: " + e.what());
        }
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

      // Student first, targets last: if the targets cannot be written the student goes too.
      SavedFiles saved;
      if (student) {
        for (const auto& w : ctx.warnings) spdlog::warn("{}", w);
        SaveOptions save;
        save.source_had_external_data = !source.data_files.empty();
        save.protected_paths = source.data_files;
        save.protected_paths.push_back(source.path);
        saved = save_model(*student_model, f->student_out, save);
      }
      try {
        writer.finish();
      } catch (...) {
        if (student) {
          std::error_code ec;
          std::filesystem::remove(saved.model_path, ec);
          if (!saved.data_path.empty()) std::filesystem::remove(saved.data_path, ec);
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
        std::cout << saved.model_bytes + saved.data_bytes << " bytes)\n";
      }
      return 0;
    };
  });
}

}  // namespace edgeq::cli
