// edgeq compress MODEL --recipe RECIPE.json [-o OUT] [--eval DATA [--labels L]] [gates]
//   [--report FILE] [--report-format json,md,html] [--threads N]
//
// A recipe is a list of steps run in order on one model in memory, then one save and one report
// (schema: docs/recipe.schema.json). A step is a model-transforming command with its options
// spelled as on its command line — {"command": "prune", "options": {"pattern": "2:4"}} runs
// exactly what `edgeq prune MODEL --pattern 2:4` runs between loading and saving — or a
// registered pass, {"pass": "fold_batchnorm"}. Each command step is parsed by the command's own
// CLI11 setup (command_table()), so option names, values and checks are the command's; its
// transformation is the function its `run` calls (Actions::transform). Every step is parsed and
// checked before the model is read, so a typo in step 3 fails before step 1 runs.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "cli/data_flags.h"
#include "cli/report_flags.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/passes/pass.h"
#include "edgeq/report.h"
#include "edgeq/report/render.h"

namespace edgeq::cli {

namespace {

using nlohmann::json;

struct CompressOptions {
  std::string input;
  std::string output;
  std::string recipe;
  int threads = 0;
  std::string report;
  std::string report_format = "json";
  DataFlags data;  // for --eval
  EvalFlags eval;  // --eval, --labels, --eval-samples, gates
};

// Options every model-writing command has that compress sets once for the whole recipe: where
// the model and report go, evaluation and gates, threads. A step may not set them.
const std::set<std::string> kCompressOwned = {
    "output", "report",       "report-format",  "threads",           "eval",
    "labels", "eval-samples", "min-size-ratio", "max-accuracy-drop", "help"};

// Option type names that mark a path (set by the commands' setup): resolved against the recipe's
// folder. "NAME=PATH" resolves the part after the first '='.
constexpr const char* kPathType = "PATH";
constexpr const char* kNamedPathType = "NAME=PATH";

const std::set<std::string> kRecipeKeys = {"$schema", "name", "description", "steps"};
const std::set<std::string> kStepKeys = {"command", "pass", "options"};

struct Step {
  int index = 0;                  // 1-based
  std::string command;            // a command step, or
  std::string pass;               // a pass step
  json options = json::object();  // as written in the recipe
  std::vector<std::string> argv;  // command steps: the options as command-line words
  Transform transform;

  std::string label() const {
    return "step " + std::to_string(index) + " (" + (command.empty() ? "pass " + pass : command) +
           ")";
  }
};

struct Recipe {
  std::string path;
  json name, description;  // null when absent
  std::vector<Step> steps;
};

std::string default_output(const std::string& input) {
  std::filesystem::path p(input);
  return (p.parent_path() / (p.stem().string() + ".compressed.onnx")).string();
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The commands a step may name: those whose setup declares a transform.
std::vector<std::string> step_commands() {
  std::vector<std::string> names;
  for (const CommandSpec& spec : command_table()) {
    CLI::App scratch;
    Actions actions;
    spec.setup(scratch, actions);
    if (actions.transform) names.emplace_back(spec.name);
  }
  return names;
}

std::string pass_names() {
  std::vector<std::string> names;
  for (const PassInfo& p : registered_passes()) names.emplace_back(p.name);
  return joined(names);
}

std::string resolve_path(const std::string& value, const std::filesystem::path& base) {
  std::filesystem::path p(value);
  if (value.empty() || p.is_absolute() || base.empty()) return value;
  return (base / p).lexically_normal().string();
}

// One recipe value as the word(s) after `--key=` (a list: one word per item for an option that
// repeats, one comma-joined word otherwise).
std::vector<std::string> option_words(const CLI::Option& opt, const json& value,
                                      const std::filesystem::path& base, const std::string& where) {
  auto scalar = [&](const json& v) -> std::string {
    std::string text;
    if (v.is_string()) {
      text = v.get<std::string>();
    } else if (v.is_number()) {
      text = v.dump();  // shortest text that reads back as the same double
    } else {
      throw usage_error(where + ": a list item must be a string or a number, got " + v.dump());
    }
    if (opt.get_type_name() == kPathType) return resolve_path(text, base);
    if (opt.get_type_name() == kNamedPathType) {
      const size_t eq = text.find('=');
      if (eq != std::string::npos)
        return text.substr(0, eq + 1) + resolve_path(text.substr(eq + 1), base);
    }
    return text;
  };
  if (value.is_object() || value.is_null())
    throw usage_error(where + ": expects a string, number, true/false (flags) or a list, got " +
                      value.dump());
  if (value.is_boolean())
    throw usage_error(where + ": takes a value, not " + value.dump() +
                      " (only flags take true/false)");
  if (!value.is_array()) return {scalar(value)};
  if (value.empty()) throw usage_error(where + ": an empty list; omit the option instead");
  std::vector<std::string> items;
  for (const json& v : value) items.push_back(scalar(v));
  if (opt.get_items_expected_max() > 1) return items;
  std::string text;
  for (const auto& s : items) text += (text.empty() ? "" : ",") + s;
  return {text};
}

// Parses one command step with the command's own options and checks (nothing is read but
// small option files such as a prune schedule).
void plan_command_step(Step& step, const std::string& where, const std::filesystem::path& base) {
  const auto& table = command_table();
  auto spec = std::find_if(table.begin(), table.end(),
                           [&](const CommandSpec& s) { return step.command == s.name; });
  if (spec == table.end())
    throw usage_error(where + ": unknown command '" + step.command + "' (steps are the commands " +
                      joined(step_commands()) + ", or {\"pass\": NAME})");
  CLI::App app{"", step.command};
  Actions actions;
  spec->setup(app, actions);
  if (!actions.transform)
    throw usage_error(where + ": '" + step.command +
                      "' cannot be a step: it does not work on the model (steps are "
                      "the commands " +
                      joined(step_commands()) + ", or {\"pass\": NAME})");

  // The model, output, report, evaluation and threads come from compress itself; an eval step
  // has its own data, labels and sample count.
  std::set<std::string> owned_names = kCompressOwned;
  if (step.command == "eval")
    for (const char* name : {"labels", "eval-samples"}) owned_names.erase(name);
  for (CLI::Option* opt : app.get_options()) {
    bool owned = !opt->nonpositional();
    for (const auto& name : opt->get_lnames()) owned |= owned_names.count(name) > 0;
    if (owned) opt->required(false);
  }

  std::vector<std::string> words;  // in order, for the report
  std::vector<std::string> args;   // --key=value form, so that values starting with '-' stay values
  for (auto it = step.options.begin(); it != step.options.end(); ++it) {
    const std::string& key = it.key();
    const std::string at = where + ": option '" + key + "'";
    if (!key.empty() && key[0] == '-')
      throw usage_error(at + ": write option names without dashes, as \"" +
                        key.substr(key.find_first_not_of('-')) + "\"");
    const CLI::Option* opt =
        key.empty() || key == "help" ? nullptr : app.get_option_no_throw("--" + key);
    if (opt == nullptr || owned_names.count(key) > 0) {  // (help: unknown; it is not a setting)
      if (opt != nullptr)
        throw usage_error(at + ": --" + key +
                          " is an option of compress itself (output, report, evaluation, gates, "
                          "threads are set once for the whole recipe), not of a step");
      std::vector<std::string> known;
      for (const CLI::Option* o : app.get_options())
        for (const auto& name : o->get_lnames())
          if (!owned_names.count(name)) known.push_back(name);
      throw usage_error(at + ": '" + step.command + "' has no option --" + key +
                        " (its options: " + joined(known) + ")");
    }
    const json& value = it.value();
    if (opt->get_expected_max() == 0) {  // a flag
      if (!value.is_boolean())
        throw usage_error(at + ": --" + key + " is a flag: give true or false");
      if (value.get<bool>()) {
        words.push_back("--" + key);
        args.push_back("--" + key);
      }
      continue;
    }
    for (const std::string& word : option_words(*opt, value, base, at)) {
      words.push_back("--" + key);
      words.push_back(word);
      args.push_back("--" + key + "=" + word);
    }
  }
  std::vector<std::string> reversed(args.rbegin(),
                                    args.rend());  // CLI11 reads the vector from the back
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw usage_error(where + ": " + e.what());
  }
  step.argv = std::move(words);
  try {
    step.transform = actions.transform();
  } catch (const Error& e) {
    throw Error(e.kind(), where + ": " + e.what());
  }
}

void plan_pass_step(Step& step, const std::string& where) {
  if (find_pass(step.pass) == nullptr)
    throw usage_error(where + ": unknown pass '" + step.pass +
                      "' (registered passes: " + pass_names() + ")");
  if (!step.options.empty())
    throw usage_error(
        where +
        ": passes take no options (for options use the command, e.g. {\"command\": \"prune\", "
        "\"options\": {...}})");
  const std::string name = step.pass;
  step.transform = [name](Model& model, StepContext& step_ctx) {
    PassContext ctx;
    ctx.threads = step_ctx.threads;
    ctx.log = [](const std::string& line) { spdlog::debug("{}", line); };
    const PassResult r = run_pass(name, model, ctx);
    spdlog::info("{}: {}", name, r.summary);
    for (const auto& w : ctx.warnings) {
      spdlog::warn("{}: {}", name, w);
      step_ctx.warnings.push_back(name + ": " + w);
    }
    StepResult out;
    out.changes = r.changes;
    out.summary = r.summary;
    return out;
  };
}

// Reads and checks the whole recipe and plans every step.
Recipe read_recipe(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path, "cannot read the recipe");
  std::stringstream text;
  text << in.rdbuf();
  json j;
  try {
    j = json::parse(text.str());
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    const size_t bracket = what.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] "
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    throw usage_error(path + ": the recipe is not valid JSON: " + what);
  }
  if (!j.is_object()) throw usage_error(path + ": a recipe is a JSON object {\"steps\": [...]}");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kRecipeKeys.count(it.key()))
      throw usage_error(path + ": unknown key '" + it.key() +
                        "' (a recipe has steps, and optionally name, "
                        "description, $schema)");
  Recipe recipe;
  recipe.path = path;
  for (const char* key : {"name", "description", "$schema"})
    if (j.contains(key) && !j[key].is_string())
      throw usage_error(path + ": '" + key + "' must be a string");
  recipe.name = j.value("name", json(nullptr));
  recipe.description = j.value("description", json(nullptr));
  if (!j.contains("steps") || !j["steps"].is_array() || j["steps"].empty())
    throw usage_error(path + ": 'steps' must be a non-empty list of steps");

  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  int index = 0;
  for (const json& s : j["steps"]) {
    Step step;
    step.index = ++index;
    const std::string where = path + ": step " + std::to_string(step.index);
    if (!s.is_object())
      throw usage_error(
          where +
          ": a step is an object, {\"command\": NAME, \"options\": {...}} or {\"pass\": NAME}");
    for (auto it = s.begin(); it != s.end(); ++it)
      if (!kStepKeys.count(it.key()))
        throw usage_error(where + ": unknown key '" + it.key() +
                          "' (a step has command or pass, and options)");
    if (s.contains("command") == s.contains("pass"))
      throw usage_error(where + ": a step names exactly one of 'command' or 'pass'");
    const char* kind = s.contains("command") ? "command" : "pass";
    if (!s[kind].is_string() || s[kind].get<std::string>().empty())
      throw usage_error(where + ": '" + kind + "' must be a non-empty string");
    if (s.contains("options")) {
      if (!s["options"].is_object())
        throw usage_error(where + ": 'options' must be an object {\"name\": value}");
      step.options = s["options"];
    }
    if (s.contains("command")) {
      step.command = s["command"].get<std::string>();
      plan_command_step(step, where + " (" + step.command + ")", base);
    } else {
      step.pass = s["pass"].get<std::string>();
      plan_pass_step(step, where + " (pass " + step.pass + ")");
    }
    recipe.steps.push_back(std::move(step));
  }
  return recipe;
}

}  // namespace

void setup_compress(CLI::App& command, Actions& actions) {
  auto o = std::make_shared<CompressOptions>();
  command.add_option("model", o->input, "ONNX model to compress")->required();
  command.add_option("--recipe", o->recipe, "Recipe: JSON list of steps (docs/recipe.schema.json)")
      ->required()
      ->type_name(kPathType);
  command.add_option("-o,--output", o->output,
                     "Output model (default: <stem>.compressed.onnx beside the input)");
  command.add_option("--threads", o->threads, "Threads for every step (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--report", o->report, "Report file (default: <OUT stem>.report.json)");
  command.add_option("--report-format", o->report_format, kReportFormatHelp)->default_str("json");
  add_eval_flags(command, o->eval);
  add_data_flags(command, o->data);

  command.callback([o, &run = actions.run] {
    run = [o] {
      const std::vector<std::string> report_formats = parse_report_formats(o->report_format);
      check_eval_flags(o->eval);
      const bool has_eval = !o->eval.eval_data.empty();
      if (!has_eval && (!o->data.fixed_inputs.empty() || !o->data.image_size.empty()))
        throw usage_error(
            "data flags of compress (--fixed-input, --image-size, ...) describe --eval data and "
            "need "
            "--eval (calibration data flags go in the quantize step's options)");
      const DataOptions data = has_eval ? to_data_options(o->data) : DataOptions{};
      Recipe recipe = read_recipe(o->recipe);

      json options = {{"recipe", o->recipe}, {"threads", o->threads}};
      add_eval_options(options, o->eval);
      ReportBuilder report("compress", options);
      ModelSource source;
      Model model = load_model(o->input, &source);
      report.set_input(model, source);
      const std::string output = o->output.empty() ? default_output(o->input) : o->output;

      StepContext ctx = input_context(source, output, o->threads);
      for (const auto& w : ctx.warnings) report.add_warning(w);  // the steps' own are added labelled

      const int n = static_cast<int>(recipe.steps.size());
      std::vector<StepResult> results;
      json entries = json::array();
      for (const Step& step : recipe.steps) {
        std::string line = step.command.empty() ? "pass " + step.pass : step.command;
        for (const auto& w : step.argv) line += " " + w;
        spdlog::info("step {}/{}: {}", step.index, n, line);
        const size_t first_warning = ctx.warnings.size();
        const auto start = std::chrono::steady_clock::now();
        StepResult r;
        try {
          r = step.transform(model, ctx);
        } catch (const Error& e) {
          throw Error(e.kind(), recipe.path + ": " + step.label() + ": " + e.what());
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        json entry = {{"step", step.index}};
        if (step.command.empty()) {
          entry["pass"] = step.pass;
        } else {
          entry["command"] = step.command;
        }
        entry["options"] = step.options;
        if (!step.command.empty()) entry["argv"] = step.argv;
        entry["summary"] = r.summary;
        entry["changes"] = r.changes;
        json warnings = json::array();
        for (size_t i = first_warning; i < ctx.warnings.size(); ++i) {
          warnings.push_back(ctx.warnings[i]);
          report.add_warning(step.label() + ": " + ctx.warnings[i]);
        }
        entry["warnings"] = warnings;
        entry["section"] = r.section.empty() ? json(nullptr) : json(r.section);
        // A step with no section of its own (eval) keeps what it measured in its entry.
        if (r.section.empty() && !r.data.is_null()) entry["result"] = r.data;
        entry["seconds"] = seconds;
        entries.push_back(std::move(entry));
        results.push_back(std::move(r));
      }
      // A section written by two steps: the report's section is the last step's; the earlier
      // step keeps its own under `result` in its recipe entry.
      std::map<std::string, size_t> last_writer;
      for (size_t i = 0; i < results.size(); ++i)
        if (!results[i].section.empty()) last_writer[results[i].section] = i;
      for (size_t i = 0; i < results.size(); ++i)
        if (!results[i].section.empty() && last_writer[results[i].section] != i)
          entries[i]["result"] = results[i].data;
      json recipe_section = {{"path", recipe.path},
                             {"name", recipe.name},
                             {"description", recipe.description},
                             {"steps", std::move(entries)}};

      SaveOptions save;
      save.external = ctx.external_data;
      const WrittenModel w = evaluate_and_write(model, source, output, o->report, report_formats, report, o->eval, data,
                                                o->threads,
                                                [&](json& j) {
                                                  j["recipe"] = recipe_section;
                                                  for (const auto& [name, i] : last_writer) j[name] = results[i].data;
                                                },
                                                save);
      std::cout << "compressed " << o->input << " -> " << w.files.model_path << " (" << n
                << (n == 1 ? " step; " : " steps; ") << w.bytes_in << " -> " << w.bytes_out << " bytes, "
                << fmt::format("{:.2f}", w.ratio()) << "x smaller)\nreport: " << w.report_path << "\n";
      return w.print_result(std::cout);
    };
  });
}

}  // namespace edgeq::cli
