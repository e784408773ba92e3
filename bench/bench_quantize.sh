#!/usr/bin/env bash
# Benchmark `edgeq quantize --int8` (issue #4). Not run by CI.
#
#   (a) ONNX Runtime latency FP32 ÷ INT8, batch 256, 1 thread (tests/ort/latency.mjs: runs
#       interleaved FP32, INT8, FP32, INT8, ... so machine noise hits both):
#         static INT8 CNN (QDQ, QOperator)          bar >= 1.0, goal 2.0
#         dynamic INT8 transformer                  bar >= 1.0, goal 1.5
#         static INT8 transformer (QDQ, QOperator)  bar >= 1.0
#   (b) quantize wall time of each of those (median of QRUNS runs)
#   (c) calibration peak RSS with --calib-samples 1000 ÷ with 100, both models   bar <= 1.1
#   (d) dynamic INT8 of the ~3 GiB external-data transformer (tools/gen_big_model.py):
#         quantize peak RSS ÷ model bytes (big.onnx + big.onnx.data)            bar <= 0.15
#         quantize wall ÷ `cp` of the same files (median of RUNS, interleaved)    bar <= 1.5
#       and the output must keep its weights in external data.
#
# Environment (all optional):
#   EDGEQ       edgeq binary                                 (default <repo>/build/edgeq)
#   BENCH_DIR   scratch folder, big model included            (default /tmp/edgeq-bench-quantize)
#   LAT_RUNS    timed ORT runs per model in (a)               (default 30, after 5 warm-ups)
#   QRUNS       timed quantize runs per case in (b)           (default 3)
#   RUNS        timed cp/quantize runs in (d)                 (default 3, after one warm-up each)
#   BENCH_GB    big model size in GiB                          (default 3)
#   SKIP_BIG=1  skip (d) (it needs ~7 GB of disk and ~1 min)
#   CP_FLAGS    flags for the baseline cp (default none; --reflink=never on btrfs/xfs)
#
# Exit status: 0 every bar met, 1 a bar missed, 2 setup or edgeq failure. Goals are printed but
# do not change the status. The last line is machine-readable: RESULT name=value ...
# See bench/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDGEQ="${EDGEQ:-$ROOT/build/edgeq}"
BENCH_DIR="${BENCH_DIR:-/tmp/edgeq-bench-quantize}"
LAT_RUNS="${LAT_RUNS:-30}"
LAT_WARMUP=5
QRUNS="${QRUNS:-3}"
RUNS="${RUNS:-3}"
BENCH_GB="${BENCH_GB:-3}"
SKIP_BIG="${SKIP_BIG:-0}"
PY=/usr/bin/python3
TIME_BIN=/usr/bin/time
LATENCY="$ROOT/tests/ort/latency.mjs"
BATCH=256
# Bars and goals from issue #4.
LATENCY_BAR=1.0
GOAL_STATIC_CNN=2.0
GOAL_DYNAMIC_TRANSFORMER=1.5
CALIB_RSS_BAR=1.1
BIG_RSS_BAR=0.15
BIG_WALL_BAR=1.5

die() { echo "bench_quantize: $*" >&2; exit 2; }

[[ -x "$TIME_BIN" ]] || die "$TIME_BIN not found (Debian package 'time')"
[[ -x "$EDGEQ" ]] || die "edgeq binary not found: $EDGEQ (build it, or set EDGEQ)"
EDGEQ="$(cd "$(dirname "$EDGEQ")" && pwd)/$(basename "$EDGEQ")"
[[ -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ]] || die "run tools/setup.sh first (tests/ort/node_modules)"
[[ -d /usr/share/datasets/fashion-mnist ]] || die "apt-get install dataset-fashion-mnist (tools/setup.sh)"
for v in LAT_RUNS QRUNS RUNS; do [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"; done
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
# onnxruntime-node leaves debug files (mat-debug-PID.log) in TMPDIR: keep them in one folder.
export TMPDIR="$BENCH_DIR/ort-tmp"
rm -rf "$TMPDIR"; mkdir -p "$TMPDIR"

# Helpers in the style of bench_convert.sh.
now() { if [[ -n "${EPOCHREALTIME:-}" ]]; then echo "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 1e9 }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
dir_size() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s }'; }
json_field() {  # json_field 'EXPR over o' < JSON
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const o = JSON.parse(s); console.log(eval(process.argv[1])); })' "$1"
}

# Result rows: "metric|value|bar|verdict".
table=()
result_line=()
missed=0
record() {  # record METRIC VALUE BAR-TEXT OK(0/1) [GOAL-TEXT GOAL-OK]
    local verdict=PASS
    (( $4 )) || { verdict=FAIL; missed=1; }
    if [[ $# -ge 6 ]]; then verdict="$verdict, goal $5 $( (( $6 )) && echo met || echo 'not met')"; fi
    table+=("$(printf '%-44s %10s  %-8s %s' "$1" "$2" "$3" "$verdict")")
    local key
    key=$(tr -cs 'A-Za-z0-9' '_' <<< "$1")
    result_line+=("${key%_}=$2")
}

# LAST_WALL (s) and LAST_RSS_KB of one edgeq run under /usr/bin/time.
LAST_WALL=0
LAST_RSS_KB=0
timed_edgeq() {  # timed_edgeq LOG ARGS...
    local log=$1 t0 t1 rc=0
    shift
    t0=$(now)
    "$TIME_BIN" -v -o "$log.time" "$EDGEQ" "$@" > "$log" 2>&1 || rc=$?
    t1=$(now)
    if (( rc != 0 )); then
        echo "bench_quantize: 'edgeq $*' exited with $rc; its output:" >&2
        tail -n 20 "$log" >&2
        exit 2
    fi
    LAST_WALL=$(elapsed "$t0" "$t1")
    LAST_RSS_KB=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$log.time")
}

# ---------------------------------------------------------------- data
echo "== data: Fashion-MNIST test images (latency input) and 1000 training images (calibration)"
W="$BENCH_DIR/fmnist"
mkdir -p "$W"
[[ -f "$W/test.npz" ]] || $PY "$ROOT/tools/export_fmnist_test.py" "$W/test.npz" --count "$BATCH" --images-only > /dev/null
[[ -f "$W/calib.npz" ]] || $PY "$ROOT/tools/export_fmnist_test.py" "$W/calib.npz" --split train --count 1000 --images-only > /dev/null

# ---------------------------------------------------------------- (a) + (b)
# label | model | options
cases=(
  "cnn_static_qdq|cnn|--calib $W/calib.npz"
  "cnn_static_qoperator|cnn|--calib $W/calib.npz --format qoperator"
  "transformer_dynamic|transformer|"
  "transformer_static_qdq|transformer|--calib $W/calib.npz"
  "transformer_static_qoperator|transformer|--calib $W/calib.npz --format qoperator"
)
echo "== (b) quantize wall time, median of $QRUNS runs"
for c in "${cases[@]}"; do
    IFS='|' read -r label m opts <<< "$c"
    walls=()
    for (( i = 0; i < QRUNS; i++ )); do
        # shellcheck disable=SC2086  # opts is a list of words
        timed_edgeq "$W/$label.log" quantize "$ROOT/models/fmnist_$m.onnx" --int8 -o "$W/$label.onnx" $opts
        walls+=("$LAST_WALL")
    done
    w=$(median "${walls[@]}")
    printf '   %-30s %8s s  peak RSS %6d MiB  %8d -> %8d bytes\n' "$label" "$w" $(( LAST_RSS_KB / 1024 )) \
        "$(stat -c %s "$ROOT/models/fmnist_$m.onnx")" "$(stat -c %s "$W/$label.onnx")"
    table+=("$(printf '%-44s %10s  %-8s %s' "quantize wall s $label" "$w" "-" "info")")
done

echo "== (a) ORT latency, batch $BATCH, 1 thread, $LAT_RUNS interleaved runs after $LAT_WARMUP warm-ups"
for m in cnn transformer; do
    models=("$ROOT/models/fmnist_$m.onnx")
    labels=()
    for c in "${cases[@]}"; do
        IFS='|' read -r label mm _ <<< "$c"
        [[ $mm == "$m" ]] || continue
        # A model ORT cannot load or run is a failed bar, and is left out of the timing group.
        if ! node "$LATENCY" --data "$W/test.npz" --batch "$BATCH" --runs 1 --warmup 0 "$W/$label.onnx" \
                > /dev/null 2> "$W/$label.ort.err"; then
            echo "   $label: ORT cannot run it: $(grep -v W:onnxruntime "$W/$label.ort.err" | head -c 400)"
            record "latency fp32/int8 $label" "n/a" ">= $LATENCY_BAR" 0
            continue
        fi
        models+=("$W/$label.onnx"); labels+=("$label")
    done
    (( ${#labels[@]} )) || continue
    node "$LATENCY" --data "$W/test.npz" --batch "$BATCH" --threads 1 --runs "$LAT_RUNS" --warmup "$LAT_WARMUP" \
        "${models[@]}" > "$W/latency_$m.json" 2> "$W/latency_$m.err" ||
        die "latency.mjs failed for $m: $(grep -v W:onnxruntime "$W/latency_$m.err" | head -c 1000)"
    fp32_ms=$(json_field 'o.models[0].median_ms' < "$W/latency_$m.json")
    printf '   %-30s median %8.3f ms\n' "fp32_$m" "$fp32_ms"
    for k in "${!labels[@]}"; do
        label=${labels[$k]}
        idx=$((k + 1))
        read -r med p10 p90 r pr < <(json_field \
            "[\"median_ms\",\"p10_ms\",\"p90_ms\",\"ratio\",\"paired_ratio\"].map((f) => o.models[$idx][f]).join(\" \")" \
            < "$W/latency_$m.json")
        printf '   %-30s median %8.3f ms (p10 %.3f, p90 %.3f)  fp32÷int8 %s (paired %s)\n' \
            "$label" "$med" "$p10" "$p90" "$r" "$pr"
        ok=0; ge "$r" "$LATENCY_BAR" && ok=1
        case $label in
            cnn_static_*) g=0; ge "$r" "$GOAL_STATIC_CNN" && g=1
                record "latency fp32/int8 $label" "$r" ">= $LATENCY_BAR" "$ok" "$GOAL_STATIC_CNN" "$g" ;;
            transformer_dynamic) g=0; ge "$r" "$GOAL_DYNAMIC_TRANSFORMER" && g=1
                record "latency fp32/int8 $label" "$r" ">= $LATENCY_BAR" "$ok" "$GOAL_DYNAMIC_TRANSFORMER" "$g" ;;
            *) record "latency fp32/int8 $label" "$r" ">= $LATENCY_BAR" "$ok" ;;
        esac
    done
done

# ---------------------------------------------------------------- (c)
echo "== (c) calibration peak RSS, --calib-samples 100 vs 1000"
for m in cnn transformer; do
    declare -A rss=()
    for n in 100 1000; do
        timed_edgeq "$W/calib_$m.$n.log" quantize "$ROOT/models/fmnist_$m.onnx" --int8 --calib "$W/calib.npz" \
            --calib-samples "$n" -o "$W/calib_$m.$n.onnx"
        rss[$n]=$LAST_RSS_KB
        printf '   %-12s %5d samples: peak RSS %8d KiB, wall %s s\n' "$m" "$n" "$LAST_RSS_KB" "$LAST_WALL"
    done
    r=$(ratio "${rss[1000]}" "${rss[100]}")
    ok=0; ge "$CALIB_RSS_BAR" "$r" && ok=1
    record "calib peak RSS 1000/100 $m" "$r" "<= $CALIB_RSS_BAR" "$ok"
done

# ---------------------------------------------------------------- (d)
if [[ "$SKIP_BIG" == 1 ]]; then
    echo "== (d) skipped (SKIP_BIG=1)"
else
    MODEL="$BENCH_DIR/big.onnx"
    DATA="$BENCH_DIR/big.onnx.data"
    STAMP="$BENCH_DIR/big.gb"
    if [[ ! -f "$MODEL" || ! -f "$DATA" || "$(cat "$STAMP" 2>/dev/null || true)" != "$BENCH_GB" ]]; then
        echo "== generating a ${BENCH_GB} GiB model in $BENCH_DIR"
        rm -f "$MODEL" "$DATA" "$STAMP"
        $PY "$ROOT/tools/gen_big_model.py" "$BENCH_DIR" --gb "$BENCH_GB" > /dev/null || die "model generation failed"
        echo "$BENCH_GB" > "$STAMP"
    fi
    MODEL_BYTES=$(( $(stat -c %s "$MODEL") + $(stat -c %s "$DATA") ))
    need_kb=$(( MODEL_BYTES / 1024 + 1024 * 1024 ))
    avail_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
    (( avail_kb >= need_kb )) || die "not enough disk in $BENCH_DIR: need ~$(( need_kb / 1024 )) MiB free"
    if [[ -z "${CP_FLAGS+set}" ]]; then
        case "$(stat -f -c %T "$BENCH_DIR")" in btrfs|xfs) CP_FLAGS="--reflink=never" ;; *) CP_FLAGS="" ;; esac
    fi
    CP_DIR="$BENCH_DIR/cp_copy"
    OUT_DIR="$BENCH_DIR/quantize_out"
    OUT="$OUT_DIR/big.int8.onnx"
    # shellcheck disable=SC2317  # invoked by the EXIT trap
    cleanup() { rm -rf "$CP_DIR" "$OUT_DIR"; }
    trap cleanup EXIT
    run_cp() {
        rm -rf "$CP_DIR"; mkdir -p "$CP_DIR"; sync
        local t0 t1
        t0=$(now)
        # shellcheck disable=SC2086  # CP_FLAGS is meant to be word-split
        cp $CP_FLAGS "$MODEL" "$DATA" "$CP_DIR/"
        t1=$(now)
        rm -rf "$CP_DIR"
        elapsed "$t0" "$t1"
    }
    run_quantize() {  # sets LAST_WALL, LAST_RSS_KB; leaves the output for inspection
        rm -rf "$OUT_DIR"; mkdir -p "$OUT_DIR"; sync
        timed_edgeq "$BENCH_DIR/quantize_big.log" quantize "$MODEL" --int8 -o "$OUT"
    }
    echo "== (d) dynamic INT8 of $MODEL ($MODEL_BYTES bytes with big.onnx.data) vs cp${CP_FLAGS:+ $CP_FLAGS}"
    w=$(run_cp); echo "   warm-up cp       ${w} s"
    run_quantize; echo "   warm-up quantize ${LAST_WALL} s, peak RSS $(( LAST_RSS_KB / 1024 )) MiB"
    # The output must keep external data: big.int8.onnx small, its weights in a data file beside it.
    $PY - "$OUT" <<'EOF' || die "the INT8 output does not keep external data (see above)"
import os, sys
import onnx
path = sys.argv[1]
m = onnx.load(path, load_external_data=False)
ext = [t for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
locs = {e.value for t in ext for e in t.external_data if e.key == "location"}
int8 = [t for t in m.graph.initializer if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)]
print(f"   output: {os.path.getsize(path)} bytes of protobuf, {len(ext)} external tensors in {sorted(locs)}, "
      f"{len(int8)} int8 tensors")
if not ext or not all(os.path.isfile(os.path.join(os.path.dirname(path), l)) for l in locs):
    sys.exit("no external data, or its file is missing")
if not int8:
    sys.exit("no INT8 tensor in the output")
EOF
    out_bytes=$(dir_size "$OUT_DIR")
    cp_times=(); q_times=(); max_rss=0
    for (( i = 1; i <= RUNS; i++ )); do
        t=$(run_cp); cp_times+=("$t")
        run_quantize; q_times+=("$LAST_WALL")
        (( LAST_RSS_KB > max_rss )) && max_rss=$LAST_RSS_KB
        printf '   run %d: cp %s s, quantize %s s, peak RSS %d MiB\n' "$i" "$t" "$LAST_WALL" $(( LAST_RSS_KB / 1024 ))
    done
    cp_med=$(median "${cp_times[@]}")
    q_med=$(median "${q_times[@]}")
    printf '   output %d bytes (%.1f%% of the input)\n' "$out_bytes" "$(awk -v o="$out_bytes" -v m="$MODEL_BYTES" 'BEGIN { print 100 * o / m }')"
    wr=$(ratio "$q_med" "$cp_med")
    rr=$(awk -v r="$max_rss" -v m="$MODEL_BYTES" 'BEGIN { printf "%.4f", r * 1024 / m }')
    ok=0; ge "$BIG_WALL_BAR" "$wr" && ok=1
    record "big dynamic wall quantize/cp" "$wr" "<= $BIG_WALL_BAR" "$ok"
    ok=0; ge "$BIG_RSS_BAR" "$rr" && ok=1
    record "big dynamic peak RSS/model bytes" "$rr" "<= $BIG_RSS_BAR" "$ok"
fi

echo "== results"
printf '%-44s %10s  %-8s %s\n' metric value bar verdict
printf '%s\n' "${table[@]}"
echo "RESULT ${result_line[*]}"
exit "$missed"
