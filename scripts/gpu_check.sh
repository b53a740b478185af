#!/usr/bin/env bash
# The GPU check: run the gpu image's LAMMPS on a machine with an NVIDIA GPU, no network
# and no container engine, from the bundle `make gpu-bundle` makes (<= 64 MiB).
#
#   scripts/gpu_check.sh BUNDLE.tar.xz [OUTDIR]      (OUTDIR default ./gpu-check)
#
# Reports (OUTDIR/gpu_check.txt, also on stdout):
#   - GPU name, driver, memory, compute capability (nvidia-smi);
#   - `lmp -h` accelerator lines of the bundled build;
#   - the polymer benchmark (LAMMPS bench/in.chain, bead-spring, lj units: tau/day and
#     timesteps/s) and the all-atom rhodopsin one (bench/in.rhodo, real units: ns/day),
#     each replicated to 64,000 and 192,000 atoms (2x1x1, 3x2x1), with `-sf gpu`;
#   - mean GPU utilisation during the 192,000-atom chain run (nvidia-smi, every 0.5 s);
#   - the runner's overhead against plain `lmp` on the same run at its default chunk length;
#   - SIGTERM to the runner -> exit 75 (checkpointed) -> a second run resumes -> exit 0.
# Exits 3 without an NVIDIA GPU and driver, 1 when a check fails, 0 otherwise.
#
# GPU_CHECK_CUDA_STUB_DIR=DIR (a folder with a libcuda.so.1 stub, e.g. Debian's): no GPU
# needed; checks only that the bundle runs here -- `lmp -h`, `import lammps`, and the
# runner's SIGTERM -> 75 -> resume -> 0 on a CPU run -- which is what can be checked
# on a machine without a GPU.
set -euo pipefail

bundle=${1:?usage: gpu_check.sh BUNDLE.tar.xz [OUTDIR]}
out=$(mkdir -p "${2:-gpu-check}" && cd "${2:-gpu-check}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
report="$out/gpu_check.txt"
: > "$report"
say() { echo "$*" | tee -a "$report"; }
fail() { say "FAIL: $*"; exit 1; }

# --- a GPU and its driver, or a clear refusal ------------------------------------------
stub=${GPU_CHECK_CUDA_STUB_DIR:-}
if [ -n "$stub" ]; then
  libcuda="$stub/libcuda.so.1"
  [ -e "$libcuda" ] || { say "gpu_check: no libcuda.so.1 in GPU_CHECK_CUDA_STUB_DIR=$stub"; exit 3; }
  say "gpu_check: no-GPU self-test with the stub $libcuda (nothing runs on a GPU)"
elif ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  say "gpu_check: no NVIDIA GPU here (nvidia-smi missing or it lists no GPU): nothing to check"
  exit 3
fi
libcuda=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 .*x86-64/ {print $NF; exit}')
if [ -z "$libcuda" ]; then
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/lib/wsl/lib; do
    [ -e "$d/libcuda.so.1" ] && libcuda="$d/libcuda.so.1" && break
  done
fi
[ -n "$libcuda" ] || { say "gpu_check: the NVIDIA driver's libcuda.so.1 is not installed"; exit 3; }
say "date: $(date -u +%FT%TZ)  host: $(uname -n)  cpus: $(nproc)"
[ -n "$stub" ] || say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader | head -1)"
say "libcuda: $libcuda"

# --- the bundle -------------------------------------------------------------------------
root="$out/root"
rm -rf "$root" && mkdir -p "$root"
tar -C "$root" -xJf "$bundle"
pyver=$(cat "$root/PYTHON")
loader=$(readlink -f "$root/usr/lib64/ld-linux-x86-64.so.2" 2>/dev/null || true)
case "$loader" in "$root"/*) ;; *) loader="$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ;; esac
libpath="$root/opt/lammps/lib:$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu:$(dirname "$libcuda")"
# Open MPI (singleton) finds its plugins under the bundle; glibc is the bundle's own.
export OPAL_PREFIX="$root/usr" PMIX_INSTALL_PREFIX="$root/usr/lib/x86_64-linux-gnu/pmix2" OMPI_MCA_btl=self
export OMP_NUM_THREADS=1
run_lmp() { "$loader" --library-path "$libpath" "$root/opt/lammps/bin/lmp" "$@"; }
site=$(find "$root/opt/lmpspot/lib" -maxdepth 2 -name site-packages | head -1)
run_py() {
  PYTHONHOME="$root/usr" PYTHONPATH="$repo/src:$root/opt/lammps/python:$site" \
    "$loader" --library-path "$libpath" "$root/usr/bin/$pyver" "$@"
}
built=$(cat "$root/GPU_ARCH" 2>/dev/null || echo unknown)
say "bundle built for: $built"
if [ -z "$stub" ]; then  # an sm_XY cubin runs on compute capability X.Z, Z >= Y
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' ')
  want=${built#sm_}
  if [ "${cap%.*}" != "${want%?}" ] || [ "${cap#*.}" -lt "${want: -1}" ]; then
    # The fatbins also hold compute_XY PTX, which the driver JIT-compiles for this GPU.
    say "WARNING: the bundle's SASS is for $built, this GPU has compute capability $cap: the kernels"
    say "  run JIT-compiled from the bundle's PTX (slower first start, untuned); for numbers that"
    say "  stand for a production image build one with image_gpu_arch: sm_${cap/./}"
  fi
fi
run_lmp -h > "$out/lmp-h.txt" || fail "lmp -h did not run from the bundle"
grep -E "GPU package API|GPU package precision|^OS:|^Compiler|Accelerator" "$out/lmp-h.txt" | tee -a "$report" || true
grep -q "GPU package API: CUDA" "$out/lmp-h.txt" || fail "the bundled lmp has no GPU package with CUDA"
run_py -c "import lammps; l = lammps.lammps(cmdargs=['-log', 'none', '-screen', 'none']); print('import lammps:', l.version(), l.has_package('GPU')); l.close()" \
  | tee -a "$report" || fail "import lammps failed in the bundled Python"
mkdir -p "$out/in"
cp "$root"/opt/lmpspot-bench/* "$out/in/"
gpu_args=(--lammps-arg=-sf --lammps-arg=gpu --lammps-arg=-pk --lammps-arg=gpu --lammps-arg=1)
sig_size=(--var x 2 --var y 1 --var z 1)
sig_steps=20000
if [ -n "$stub" ]; then  # CPU: the runner only, the 32,000-atom chain, fewer steps
  gpu_args=()
  sig_size=(--var x 1 --var y 1 --var z 1)
  sig_steps=1500
fi

perf() { grep -E "^Performance:" "$1" | tail -1 | sed 's/^Performance: //'; }
bench() {  # NAME INPUT X Y Z STEPS -> a line in the report; leaves the log as NAME.log
  local name=$1 input=$2 steps=$6
  sed "s/^run .*/run ${steps}/" "$out/in/$input" > "$out/in/$name.in"
  (cd "$out/in" && run_lmp -sf gpu -pk gpu 1 -var x "$3" -var y "$4" -var z "$5" \
     -in "$name.in" -log "$out/$name.log" -screen none) || fail "$name: lmp failed (see $out/$name.log)"
  local atoms
  atoms=$(awk '/^Loop time of/ {print $NF; exit}' "$out/$name.log")
  say "$name: $atoms atoms, $steps steps: $(perf "$out/$name.log")"
}

sigterm_resume() {  # SIGTERM -> 75 -> resume -> 0 on the chain input
  sed "s/^run .*/run ${sig_steps}/" "$out/in/in.chain.scaled" > "$out/in/long.in"
  rm -rf "$out/sig-wd"
  local args=(-m lmpspot.cli run "$out/in/long.in" --job-id sig --workdir "$out/sig-wd" --interval 600
    --progress-every 2 "${sig_size[@]}" "${gpu_args[@]}")
  run_py "${args[@]}" 2> "$out/sig1.err" &
  local pid=$! rc=0 step
  for _ in $(seq 1 300); do grep -q "step [0-9]*/" "$out/sig1.err" 2>/dev/null && break; sleep 1; done
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  [ "$rc" = 75 ] || fail "SIGTERM: exit $rc, expected 75 (see $out/sig1.err)"
  step=$(grep -o "checkpoint [0-9]* at step [0-9]*" "$out/sig1.err" | tail -1 | awk '{print $NF}')
  rc=0
  run_py "${args[@]}" 2> "$out/sig2.err" || rc=$?
  [ "$rc" = 0 ] || fail "resume: exit $rc, expected 0 (see $out/sig2.err)"
  grep -q "resuming at step $step" "$out/sig2.err" || fail "the second run did not resume at step $step"
  say "SIGTERM -> exit 75 (checkpoint at step $step) -> resumed at step $step -> exit 0"
}
if [ -n "$stub" ]; then
  sigterm_resume
  say "OK (no-GPU self-test)"
  exit 0
fi

# --- throughput -------------------------------------------------------------------------
bench chain-64k in.chain.scaled 2 1 1 2000
nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 500 > "$out/util.txt" &
smi=$!
bench chain-192k in.chain.scaled 3 2 1 2000
kill "$smi" 2>/dev/null || true
wait "$smi" 2>/dev/null || true
say "gpu utilisation during chain-192k: mean $(awk '{s+=$1; n++} END {if (n) printf "%.0f%% over %d samples", s/n, n}' "$out/util.txt")"
bench rhodo-64k in.rhodo.scaled 2 1 1 500
bench rhodo-192k in.rhodo.scaled 3 2 1 500

# --- runner overhead: the same chain run, plain lmp vs lmpspot run -----------------------
steps=5000
sed "s/^run .*/run ${steps}/" "$out/in/in.chain.scaled" > "$out/in/overhead.in"
t0=$(date +%s.%N)
(cd "$out/in" && run_lmp -sf gpu -pk gpu 1 -var x 3 -var y 2 -var z 1 -in overhead.in \
   -log "$out/plain.log" -screen none) || fail "plain lmp failed"
t1=$(date +%s.%N)
rm -rf "$out/runner-wd"
run_py -m lmpspot.cli run "$out/in/overhead.in" --job-id overhead --workdir "$out/runner-wd" --interval 600 \
  --progress-every 0 --var x 3 --var y 2 --var z 1 "${gpu_args[@]}" 2> "$out/runner.err" \
  || fail "lmpspot run failed (see $out/runner.err)"
t2=$(date +%s.%N)
say "$(awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$steps" 'BEGIN {
  p = b - a; r = c - b
  printf "runner overhead (chain 192k, %d steps, default chunk length): plain lmp %.1f s, lmpspot run %.1f s, %+.1f%%", n, p, r, 100 * (r - p) / p }')"
grep -E "checkpoint [0-9]+ at step" "$out/runner.err" | tail -1 | sed 's/^/  runner: /' | tee -a "$report" || true

# --- SIGTERM -> 75 -> resume -> 0 (chain 64k) --------------------------------------------
sigterm_resume
say "OK"
