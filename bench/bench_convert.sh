#!/usr/bin/env bash
# Benchmark `edgeq convert` on a ~3 GB model against a plain `cp` of the same
# files, and measure its peak memory.
#
# Targets:  convert wall time / cp wall time        <= 1.5
#           convert peak RSS / model bytes          <= 0.15
#           (model bytes = big.onnx + big.onnx.data)
#
# Environment (all optional):
#   BENCH_DIR   where the model and scratch outputs live   (default /tmp/edgeq-bench)
#   EDGEQ       edgeq binary                                (default <repo>/build/edgeq)
#   EDGEQ_ARGS  extra arguments appended to `edgeq convert` (default none; word-split)
#   BENCH_GB    model size in GiB when generating it        (default 3)
#   RUNS        timed runs of each command, after a warm-up (default 3)
#   PYTHON      python with onnx + numpy                    (default /usr/bin/python3, else python3)
#   CP_FLAGS    flags for the baseline cp (default none; --reflink=never on btrfs/xfs)
#
# Exit status: 0 both targets met, 1 a target missed, 2 setup or edgeq failure.
# See bench/README.md.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/edgeq-bench}"
EDGEQ="${EDGEQ:-$ROOT/build/edgeq}"
EDGEQ_ARGS="${EDGEQ_ARGS:-}"
BENCH_GB="${BENCH_GB:-3}"
RUNS="${RUNS:-3}"
TIME_BIN=/usr/bin/time
WALL_TARGET=1.5
RSS_TARGET=0.15

die() { echo "bench_convert: $*" >&2; exit 2; }

# ---------------------------------------------------------------- checks
[[ -x "$TIME_BIN" ]] || die "$TIME_BIN not found (Debian package 'time': apt-get install time)"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
if [[ "$EDGEQ" != */* ]]; then
    EDGEQ="$(command -v "$EDGEQ" || true)"
fi
[[ -n "$EDGEQ" && -x "$EDGEQ" ]] || die "edgeq binary not found or not executable: ${EDGEQ:-<empty>} (build it, or set EDGEQ)"
EDGEQ="$(cd "$(dirname "$EDGEQ")" && pwd)/$(basename "$EDGEQ")"

if [[ -z "${PYTHON:-}" ]]; then
    for p in /usr/bin/python3 python3; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import onnx, numpy' >/dev/null 2>&1; then
            PYTHON="$p"; break
        fi
    done
fi

# Time source: bash 5's $EPOCHREALTIME (microseconds), else date.
now() {
    if [[ -n "${EPOCHREALTIME:-}" ]]; then echo "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { # median of the arguments
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
file_size() { stat -c %s "$1"; }
# %.0f, not %d: mawk's %d saturates at 2^31-1.
dir_size() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s }'; }

# ---------------------------------------------------------------- model
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
MODEL="$BENCH_DIR/big.onnx"
DATA="$BENCH_DIR/big.onnx.data"
STAMP="$BENCH_DIR/big.gb"

if [[ ! -f "$MODEL" || ! -f "$DATA" || "$(cat "$STAMP" 2>/dev/null || true)" != "$BENCH_GB" ]]; then
    [[ -n "${PYTHON:-}" ]] || die "no python with onnx and numpy found (apt-get install python3-onnx python3-numpy, or set PYTHON)"
    echo "== generating a ${BENCH_GB} GiB model in $BENCH_DIR"
    rm -f "$MODEL" "$DATA" "$STAMP"
    "$PYTHON" "$ROOT/tools/gen_big_model.py" "$BENCH_DIR" --gb "$BENCH_GB" || die "model generation failed"
    echo "$BENCH_GB" > "$STAMP"
fi
MODEL_BYTES=$(( $(file_size "$MODEL") + $(file_size "$DATA") ))

# Room for one copy (cp) or one converted model at a time, plus slack.
need_kb=$(( MODEL_BYTES / 1024 + 1024 * 1024 ))
avail_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
(( avail_kb >= need_kb )) || die "not enough disk in $BENCH_DIR: need ~$(( need_kb / 1024 )) MiB free, have $(( avail_kb / 1024 )) MiB"

# Baseline: plain `cp`. On ext4, GNU cp (coreutils >= 9) copies with
# copy_file_range, inside the kernel, about 2x faster than a read/write loop
# (cp --reflink=never). On btrfs/xfs plain cp would clone extents without
# copying any bytes, so there the default is --reflink=never.
if [[ -z "${CP_FLAGS+set}" ]]; then
    case "$(stat -f -c %T "$BENCH_DIR")" in
        btrfs|xfs) CP_FLAGS="--reflink=never" ;;
        *) CP_FLAGS="" ;;
    esac
fi

CP_DIR="$BENCH_DIR/cp_copy"
OUT_DIR="$BENCH_DIR/convert_out"
OUT="$OUT_DIR/big.conv.onnx"
TIME_LOG="$BENCH_DIR/convert.time.txt"
RUN_LOG="$BENCH_DIR/convert.log"
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() { rm -rf "$CP_DIR" "$OUT_DIR"; }
trap cleanup EXIT

# ---------------------------------------------------------------- runs
# Page cache cannot be dropped here, so each command runs once untimed first
# (both then read a warm cache). `sync` before each run flushes the previous
# run's dirty pages so runs do not throttle each other.

run_cp() { # prints wall seconds
    rm -rf "$CP_DIR"; mkdir -p "$CP_DIR"; sync
    local t0 t1
    t0=$(now)
    # shellcheck disable=SC2086  # CP_FLAGS is meant to be word-split
    cp $CP_FLAGS "$MODEL" "$DATA" "$CP_DIR/"
    t1=$(now)
    rm -rf "$CP_DIR"
    elapsed "$t0" "$t1"
}

LAST_RSS_KB=0
LAST_OUT_BYTES=0
run_convert() { # prints wall seconds; sets LAST_RSS_KB and LAST_OUT_BYTES
    rm -rf "$OUT_DIR"; mkdir -p "$OUT_DIR"; sync
    local t0 t1 rc=0
    t0=$(now)
    # shellcheck disable=SC2086  # EDGEQ_ARGS is meant to be word-split
    "$TIME_BIN" -v -o "$TIME_LOG" "$EDGEQ" convert "$MODEL" -o "$OUT" $EDGEQ_ARGS \
        >"$RUN_LOG" 2>&1 || rc=$?
    t1=$(now)
    if (( rc != 0 )); then
        echo "bench_convert: '$EDGEQ convert' exited with $rc; its output:" >&2
        tail -n 30 "$RUN_LOG" >&2
        exit 2
    fi
    [[ -s "$OUT" ]] || { echo "bench_convert: $OUT was not written" >&2; exit 2; }
    LAST_RSS_KB=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$TIME_LOG")
    [[ "$LAST_RSS_KB" =~ ^[0-9]+$ ]] || { echo "bench_convert: cannot read peak RSS from $TIME_LOG" >&2; exit 2; }
    LAST_OUT_BYTES=$(dir_size "$OUT_DIR")
    rm -rf "$OUT_DIR"
    elapsed "$t0" "$t1"
}

echo "== model: $MODEL ($MODEL_BYTES bytes with big.onnx.data)"
echo "== baseline: cp${CP_FLAGS:+ $CP_FLAGS} big.onnx big.onnx.data $CP_DIR/"
echo "== edgeq: $EDGEQ convert big.onnx -o $OUT${EDGEQ_ARGS:+ $EDGEQ_ARGS}"
WALL_FILE="$BENCH_DIR/convert.wall"
echo "== warm-up"
w=$(run_cp);      echo "   cp      ${w} s"
w=$(run_convert); echo "   convert ${w} s"
cp_times=()
conv_times=()
max_rss_kb=0
out_bytes=0
for (( i = 1; i <= RUNS; i++ )); do
    t=$(run_cp)
    cp_times+=("$t")
    # Not $(run_convert): that would run in a subshell and lose LAST_*.
    run_convert > "$WALL_FILE"
    t2=$(cat "$WALL_FILE")
    conv_times+=("$t2")
    if (( LAST_RSS_KB > max_rss_kb )); then max_rss_kb=$LAST_RSS_KB; fi
    out_bytes=$LAST_OUT_BYTES
    printf '   run %d: cp %s s, convert %s s, convert peak RSS %d MiB\n' \
        "$i" "$t" "$t2" $(( LAST_RSS_KB / 1024 ))
done
rm -f "$WALL_FILE"

cp_med=$(median "${cp_times[@]}")
conv_med=$(median "${conv_times[@]}")
rss_bytes=$(( max_rss_kb * 1024 ))

read -r wall_ratio rss_ratio wall_ok rss_ok < <(awk \
    -v c="$conv_med" -v p="$cp_med" -v r="$rss_bytes" -v m="$MODEL_BYTES" \
    -v wt="$WALL_TARGET" -v rt="$RSS_TARGET" 'BEGIN {
        wr = (p > 0) ? c / p : 1e9; rr = r / m
        printf "%.3f %.4f %s %s\n", wr, rr, (wr <= wt) ? "PASS" : "FAIL", (rr <= rt) ? "PASS" : "FAIL" }')

echo "== results (median of $RUNS runs; peak RSS = max over runs)"
printf '   cp wall            %8s s\n' "$cp_med"
printf '   convert wall       %8s s\n' "$conv_med"
printf '   convert peak RSS   %8d MiB\n' $(( max_rss_kb / 1024 ))
printf '   model bytes        %12d\n' "$MODEL_BYTES"
printf '   output bytes       %12d (%s of input)\n' "$out_bytes" \
    "$(awk -v o="$out_bytes" -v m="$MODEL_BYTES" 'BEGIN { printf "%.1f%%", 100 * o / m }')"
printf '   convert/cp wall    %8s  (target <= %s)  %s\n' "$wall_ratio" "$WALL_TARGET" "$wall_ok"
printf '   peak RSS/model     %8s  (target <= %s) %s\n' "$rss_ratio" "$RSS_TARGET" "$rss_ok"
echo "RESULT wall_ratio=$wall_ratio wall=$wall_ok rss_ratio=$rss_ratio rss=$rss_ok"

[[ "$wall_ok" == PASS && "$rss_ok" == PASS ]] || exit 1
exit 0
