// prune_magnitude: the registered pass form of prune() with its default options — unstructured
// magnitude pruning to 50 % over all eligible weights together (global scope), first and last
// layers and layers under 256 parameters left dense. `edgeq prune` calls prune() with the user's
// options instead. Zeroing weights changes what the model computes: this pass is lossy by design.
#include <cstdio>

#include "edgeq/passes/prune.h"
#include "passes/passes.h"

namespace edgeq::passes {

PassResult prune_magnitude(Model& model, PassContext& ctx) {
  const PruneSummary s = prune(model, PruneOptions{}, ctx);
  int pruned = 0;
  for (const PrunedLayer& l : s.layers) pruned += l.pruned;
  char line[160];
  std::snprintf(line, sizeof line, "pruned %d weights to %.1f%% zeros (%lld of %lld parameters)", pruned,
                100.0 * s.sparsity, static_cast<long long>(s.zeros), static_cast<long long>(s.eligible_params));
  return {pruned, line};
}

}  // namespace edgeq::passes
