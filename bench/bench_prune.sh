#!/usr/bin/env bash
# Benchmark `edgeq prune --pattern channel` (issue #5: "Channel pruning with S = 0.25 leaves
# <= 80 % of the weights, a smaller file and lower ORT latency"). Not run by CI.
#
# For both Fashion-MNIST models (the CNN also after fold_batchnorm), pruned with S = 0.25:
#   ONNX Runtime latency FP32 ÷ channel-pruned, batch 256, 1 thread (tests/ort/latency.mjs runs
#   the models interleaved, so machine noise hits both)                        bar > 1.0
#   file size dense ÷ pruned                                                    bar > 1.0
#   weights kept (pruned ÷ dense, initializers + Constant tensors)              printed
#   ORT top-1 of the dense and the pruned model on the 10 000 test images       printed
#     (no fine-tuning: the drop is what pruning alone costs)
#
# Environment (all optional):
#   EDGEQ      edgeq binary                      (default <repo>/build/edgeq)
#   BENCH_DIR  scratch folder                    (default /tmp/edgeq-bench-prune)
#   LAT_RUNS   timed ORT runs per model          (default 30, after 5 warm-ups)
#   SPARSITY   fraction of channels removed      (default 0.25)
#
# Exit status: 0 every bar met, 1 a bar missed, 2 setup or edgeq failure. The last line is
# machine-readable: RESULT name=value ...
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDGEQ="${EDGEQ:-$ROOT/build/edgeq}"
BENCH_DIR="${BENCH_DIR:-/tmp/edgeq-bench-prune}"
LAT_RUNS="${LAT_RUNS:-30}"
LAT_WARMUP=5
SPARSITY="${SPARSITY:-0.25}"
PY=/usr/bin/python3
LATENCY="$ROOT/tests/ort/latency.mjs"
ACCURACY="$ROOT/tests/ort/accuracy.mjs"
BATCH=256

die() { echo "bench_prune: $*" >&2; exit 2; }

[[ -x "$EDGEQ" ]] || die "edgeq binary not found: $EDGEQ (build it, or set EDGEQ)"
EDGEQ="$(cd "$(dirname "$EDGEQ")" && pwd)/$(basename "$EDGEQ")"
[[ -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ]] || die "run tools/setup.sh first (tests/ort/node_modules)"
[[ -d /usr/share/datasets/fashion-mnist ]] || die "apt-get install dataset-fashion-mnist (tools/setup.sh)"
[[ "$LAT_RUNS" =~ ^[1-9][0-9]*$ ]] || die "LAT_RUNS must be a positive integer"
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
export TMPDIR="$BENCH_DIR/ort-tmp"  # onnxruntime-node leaves debug files in TMPDIR
rm -rf "$TMPDIR"; mkdir -p "$TMPDIR"

json_field() {  # json_field 'EXPR over o' < JSON
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const o = JSON.parse(s); console.log(eval(process.argv[1])); })' "$1"
}
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 1e9 }'; }
weights() {  # weights MODEL: element count of initializers and Constant tensors
    $PY - "$1" <<'EOF'
import sys
import numpy as np
import onnx
m = onnx.load(sys.argv[1])
dims = [t.dims for t in m.graph.initializer]
dims += [a.t.dims for n in m.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
print(sum(int(np.prod(d)) if len(d) else 1 for d in dims))
EOF
}

table=()
result_line=()
missed=0
record() {  # record METRIC VALUE BAR-TEXT OK(0/1|-)
    local verdict=info
    if [[ $4 != - ]]; then verdict=PASS; (( $4 )) || { verdict=FAIL; missed=1; }; fi
    table+=("$(printf '%-40s %10s  %-6s %s' "$1" "$2" "$3" "$verdict")")
    local key
    key=$(tr -cs 'A-Za-z0-9' '_' <<< "$1")
    result_line+=("${key%_}=$2")
}

W="$BENCH_DIR/fmnist"
mkdir -p "$W"
[[ -f "$W/test.npz" ]] || $PY "$ROOT/tools/export_fmnist_test.py" "$W/test.npz" --count "$BATCH" --images-only > /dev/null
[[ -f "$W/test_labeled.npz" ]] || $PY "$ROOT/tools/export_fmnist_test.py" "$W/test_labeled.npz" > /dev/null
"$EDGEQ" prepare "$ROOT/models/fmnist_cnn.onnx" --passes fold_batchnorm -o "$W/fmnist_cnn_folded.onnx" \
    > "$W/prepare.log" 2>&1 || die "edgeq prepare failed: $(tail -n 5 "$W/prepare.log")"

echo "== channel pruning S = $SPARSITY; ORT latency batch $BATCH, 1 thread, $LAT_RUNS interleaved runs after $LAT_WARMUP warm-ups"
for c in "cnn|$ROOT/models/fmnist_cnn.onnx" "cnn_folded|$W/fmnist_cnn_folded.onnx" \
         "transformer|$ROOT/models/fmnist_transformer.onnx"; do
    IFS='|' read -r label dense <<< "$c"
    out="$W/$label.channel.onnx"
    "$EDGEQ" prune "$dense" --pattern channel --sparsity "$SPARSITY" -o "$out" > "$W/$label.log" 2>&1 ||
        die "edgeq prune failed for $label: $(tail -n 5 "$W/$label.log")"
    node "$LATENCY" --data "$W/test.npz" --batch "$BATCH" --threads 1 --runs "$LAT_RUNS" --warmup "$LAT_WARMUP" \
        "$dense" "$out" > "$W/latency_$label.json" 2> "$W/latency_$label.err" ||
        die "latency.mjs failed for $label: $(grep -v W:onnxruntime "$W/latency_$label.err" | head -c 1000)"
    read -r d_ms p_ms r pr < <(json_field \
        '[o.models[0].median_ms, o.models[1].median_ms, o.models[1].ratio, o.models[1].paired_ratio].join(" ")' \
        < "$W/latency_$label.json")
    db=$(stat -c %s "$dense"); pb=$(stat -c %s "$out")
    dw=$(weights "$dense"); pw=$(weights "$out")
    sr=$(ratio "$db" "$pb")
    kept=$(ratio "$pw" "$dw")
    printf '   %-12s dense %8.3f ms, pruned %8.3f ms: fp32÷pruned %s (paired %s); %d -> %d bytes; weights %d -> %d\n' \
        "$label" "$d_ms" "$p_ms" "$r" "$pr" "$db" "$pb" "$dw" "$pw"
    ok=0; gt "$r" 1.0 && ok=1
    record "latency dense/pruned $label" "$r" "> 1.0" "$ok"
    ok=0; gt "$sr" 1.0 && ok=1
    record "file size dense/pruned $label" "$sr" "> 1.0" "$ok"
    record "weights kept $label" "$kept" "-" -
    node "$ACCURACY" --model "$out" --reference "$dense" --data "$W/test_labeled.npz" \
        > "$W/accuracy_$label.json" 2> "$W/accuracy_$label.err" ||
        die "accuracy.mjs failed for $label: $(grep -v W:onnxruntime "$W/accuracy_$label.err" | head -c 1000)"
    read -r t_dense t_pruned < <(json_field '[o.reference_top1, o.top1].join(" ")' < "$W/accuracy_$label.json")
    printf '   %-12s top-1 dense %s, pruned %s (%s test images)\n' "$label" "$t_dense" "$t_pruned" \
        "$(json_field 'o.samples' < "$W/accuracy_$label.json")"
    record "top1 dense $label" "$t_dense" "-" -
    record "top1 pruned $label" "$t_pruned" "-" -
done

echo "== results"
printf '%-40s %10s  %-6s %s\n' metric value bar verdict
printf '%s\n' "${table[@]}"
echo "RESULT ${result_line[*]}"
exit "$missed"
