#!/usr/bin/env bash
# The GPU check, in one go, from the repository root of a copy carried to a GPU machine:
#   (a) install the carried wheels (.whl/, made by bench/prepare_gpu_carry.sh) into /tmp/site,
#   (b) run the GPU tests (pytest -m gpu),
#   (c) benchmark xpnn (CuPy) against PyTorch eager / torch.compile (bench/gpu_bench.py),
#   (d) print a short Markdown summary LAST; with $OUT set, it and the JSON land there too.
# Expects Python 3.12 with numpy, torch, cupy-cuda13x and pytest installed, no internet,
# and Fashion-MNIST's four .gz files in .data/fashion-mnist/. Finishes in under 7 minutes:
# every step runs under `timeout`, and the benchmark gets what the tests left of the budget.
#
# A GPU with an empty CuPy kernel cache compiles about a hundred kernels (NVRTC) on first use,
# which can take minutes: the tests get 240 s. The compiled kernels are packed into
# $OUT/cupy_cache.tgz; carry that file back as .cupy_cache.tgz and the next run (on a fresh
# machine) starts with them instead of compiling again.
#
#   bash bench/gpu_check.sh
set -uo pipefail

TOTAL_BUDGET_S=400         # everything, with margin below 7 minutes
PYTEST_TIMEOUT_S=240       # room for a cold kernel cache
BENCH_MIN_S=60             # the benchmark's deadline never goes below this
export CUPY_CACHE_DIR="${CUPY_CACHE_DIR:-$HOME/.cupy/kernel_cache}"

started=$SECONDS
report_dir="${OUT:-bench/results}"
mkdir -p "$report_dir"

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4
python3 --version

echo "== (a) wheels from .whl/ into /tmp/site"
if compgen -G ".whl/*.whl" >/dev/null; then
    timeout 60 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/site .whl/*.whl
    echo "pip exit $?: $(ls .whl)"
else
    echo "no .whl/*.whl here: run bench/prepare_gpu_carry.sh before carrying the tree"
fi
export PYTHONPATH="/tmp/site:$PWD"
python3 -c 'import numpy, cupy, torch, array_api_compat, xpnn
print("numpy", numpy.__version__, "| cupy", cupy.__version__, "| torch", torch.__version__,
      "| array-api-compat", array_api_compat.__version__, "| GPUs", cupy.cuda.runtime.getDeviceCount())' \
    || echo "an import failed (see above)"

if [ -f .cupy_cache.tgz ]; then
    mkdir -p "$CUPY_CACHE_DIR" && tar xzf .cupy_cache.tgz -C "$CUPY_CACHE_DIR" \
        && echo "kernel cache: $(ls "$CUPY_CACHE_DIR" | wc -l) files from .cupy_cache.tgz"
fi

echo "== (b) GPU tests (timeout ${PYTEST_TIMEOUT_S} s)"
timeout "$PYTEST_TIMEOUT_S" python3 -m pytest -m gpu -q -p no:cacheprovider tests \
    >"$report_dir/pytest_gpu.txt" 2>&1
pytest_rc=$?
tail -n 30 "$report_dir/pytest_gpu.txt"
pytest_summary=$(tail -n 1 "$report_dir/pytest_gpu.txt")
[ "$pytest_rc" -eq 124 ] && pytest_summary="timed out after ${PYTEST_TIMEOUT_S} s"

deadline=$(( TOTAL_BUDGET_S - (SECONDS - started) - 25 ))
[ "$deadline" -lt "$BENCH_MIN_S" ] && deadline=$BENCH_MIN_S
echo "== (c) benchmark (deadline ${deadline} s)"
rm -f "$report_dir/gpu_bench.md"
timeout $(( deadline + 20 )) python3 bench/gpu_bench.py --data .data/fashion-mnist \
    --deadline-s "$deadline" --out "$report_dir" >/dev/null  # its table is printed below
bench_rc=$?

if [ -n "${OUT:-}" ] && [ -d "$CUPY_CACHE_DIR" ]; then
    tar czf "$OUT/cupy_cache.tgz" -C "$CUPY_CACHE_DIR" . \
        && echo "kernel cache: $(ls "$CUPY_CACHE_DIR" | wc -l) files packed into \$OUT/cupy_cache.tgz"
fi

echo "== (d) summary"
{
    echo "## GPU check ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(( SECONDS - started )) s)"
    echo
    echo "- pytest -m gpu: exit ${pytest_rc}; ${pytest_summary}"
    echo "- gpu_bench.py: exit ${bench_rc}$([ "$bench_rc" -eq 124 ] && echo ' (timed out)')"
    echo
    if [ -f "$report_dir/gpu_bench.md" ]; then
        cat "$report_dir/gpu_bench.md"
    else
        echo "(no benchmark table: gpu_bench.py finished no run)"
    fi
} >"$report_dir/gpu_check.md"
cat "$report_dir/gpu_check.md"
