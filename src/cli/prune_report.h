// The report's `pruning` section (docs/report.schema.json), written by `edgeq prune`, a prune
// step of `edgeq compress` and the student of `edgeq distill-targets --student-width`.
#pragma once

#include <nlohmann/json.hpp>

#include <vector>

#include "edgeq/passes/prune.h"
#include "passes/prune/prune_storage.h"

namespace edgeq::cli {

nlohmann::json pruning_json(const PruneOptions& options, const PruneSummary& summary,
                            const std::vector<pruning::WeightStorage>& storage, bool sparse_storage);

}  // namespace edgeq::cli
