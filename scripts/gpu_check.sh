#!/usr/bin/env bash
# The GPU run of issue #27, as one prepared call on a machine with a CUDA GPU:
#   1. the CUDA tests (pytest -m cuda), the symmetric Triton kernel against cuBLAS among them;
#   2. spectral-la bench --device cuda: ns, exact and peers suites; the peers suite's symmetric-product
#      rows at 4096×4096 and 4096×16384 in bf16 and fp32 (Triton symmetric product vs the same iteration
#      with cuBLAS products, vs torch.optim.Muon's step and Emerging-Optimizers' step on the same input).
# Results go to $OUT (default benchmarks/gpu) as JSON and a log; copy the tables into benchmarks/RESULTS.md.
# Uses $PYTHON (default: .venv/bin/python if it has a CUDA torch, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ] && .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        PY=.venv/bin/python
    else
        PY=python3
    fi
fi
"$PY" -c "import torch, sys; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA GPU'); sys.exit(0 if torch.cuda.is_available() else 3)"
"$PY" -c "import triton; print('triton', triton.__version__)" || echo "triton not importable: the symmetric rows fall back to cuBLAS products (column 'products')"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
    echo "## pytest -m cuda"
    "$PY" -m pytest -q -p no:cacheprovider -m cuda tests || true
    for suite in ns exact peers; do
        echo "## bench $suite"
        "$PY" -m spectral_la.benchmarks --device cuda --suite "$suite" --storage-dtypes bf16 fp32 --min-run-time 0.2 \
            --sizes 1024 4096 --symmetric-shapes 4096x4096 4096x16384 --json "$OUT/gpu_$suite.json" || true
    done
} 2>&1 | tee "$OUT/gpu_check.log"
