#!/usr/bin/env bash
# The GPU check of issues 17 and 32 / docs/backends.md, in one go, per backend of BACKENDS (default "jax torch": the GPU
# machine has JAX and PyTorch, no TensorFlow): the backend tests on the GPU, ML-100K at the paper's settings for 3 epochs
# (dense and lazy Adam), one ML-1M-shaped epoch (max_seq 327) and the model's step alone; then `make reproduce
# PARAMS=ci`'s runner under the first of BACKENDS. Every figure into $OUT (default reports/bench/gpu-check/).
#
# On a machine without TensorFlow or a package index (the H200 here): first, where pip works,
#   bash scripts/gpu_wheels.sh          # .whl/, about 26 MB
# then, on the GPU machine, from the repository root with .whl/ beside it:
#   bash scripts/gpu_check.sh           # about 6-8 minutes on one H200 (estimate; see docs/backends.md)
# QUICK=1 runs every step on tiny synthetic data (minutes on a CPU): how this script is checked without a GPU.
# BUDGET=540 ends it within 9 minutes (one device call, of a session's 15 minutes): steps in order of need, the rest
# skipped and recorded as such.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-reports/bench/gpu-check}
mkdir -p "$OUT"
: > "$OUT/steps.jsonl"
START=$(date +%s)
if [ -d .whl ] && ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "installing .whl/ failed"; exit 1; }
  export PYTHONPATH=/tmp/site JUPYTER_PATH=/tmp/site/share/jupyter  # pip --target puts nbconvert's templates there
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
DATA=${DATA:-/tmp/arerec-gpu/Data}
MODELS=${MODELS:-/tmp/arerec-gpu/Model}
# ML-100K without a network: the recbole wheel carried in .whl/ is where the kit's fallback looks first
mkdir -p "$DATA/downloads" && cp -n .whl/recbole-1.2.1-py3-none-any.whl "$DATA/downloads/" 2>/dev/null
if [ "${QUICK:-0}" = 1 ]; then
  ML100K=(--params params/ci.yaml --data_path "$DATA")
  ML1M=(--params params/ci.yaml --data_path "$DATA/ml-1m-shape" --synthetic_ratings 6000 --max_seq 30)
  TESTS=(tests/model/test_optimizers.py tests/train/test_batches.py)
  TORCH_TESTS=(tests/model/test_lazy_torch.py tests/train/test_checkpoints.py)
  SHAPE=tiny
else
  ML100K=(--params params/base.yaml --data_path "$DATA")
  ML1M=(--params params/base.yaml --dataset synthetic --data_path "$DATA/ml-1m-shape" --synthetic_users 6040
        --synthetic_items 3706 --synthetic_ratings 1000209 --max_seq 327)
  TESTS=(tests/model tests/train tests/evaluate)
  TORCH_TESTS=(tests/model/test_lazy_torch.py tests/model/test_layers.py tests/train/test_loop.py
               tests/train/test_table_l2.py)
  SHAPE=ml-1m
fi

BUDGET=${BUDGET:-100000}  # seconds for the whole script: a step gets at most what is left (less 20 s for the record)
step() {  # step NAME LIMIT_S COMMAND...: run it, log it, record its exit status and seconds; skipped once BUDGET is spent
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s)
  local left=$(( BUDGET - (t0 - START) - 20 ))
  if [ "$left" -lt 15 ]; then
    echo "== $name skipped: the budget of $BUDGET s is spent"
    echo "{\"step\": \"$name\", \"rc\": null, \"skipped\": true, \"seconds\": 0}" >> "$OUT/steps.jsonl"
    return
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  echo "== $name ($(( t0 - START )) s in, limit $limit s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$OUT/$name.log"
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(( $(date +%s) - t0 )), \"limit\": $limit}" >> "$OUT/steps.jsonl"
}

# In order of what a short lease most needs: each backend's device listing, ML-100K epochs and step; the ci runner;
# then the ML-1M-shaped epoch and the tests, per backend. With BUDGET set, what does not fit is skipped and recorded.
BACKENDS=${BACKENDS:-jax torch}
tag_of() { [ "$1" = jax ] || echo "-$1"; }  # JAX's files keep their names; PyTorch's carry -torch
for backend in $BACKENDS; do
  tag=$(tag_of "$backend")
  if [ "$backend" = jax ]; then
    step devices 60 python3 -c "import jax, keras; print(jax.devices(), 'jax', jax.__version__, 'keras', keras.__version__)"
  else
    step "devices$tag" 60 env KERAS_BACKEND=torch python3 -c "import torch, keras; print(torch.__version__, \
torch.cuda.is_available(), [torch.cuda.get_device_name(n) for n in range(torch.cuda.device_count())], keras.__version__)"
  fi
  step "ml100k$tag" 150 env KERAS_BACKEND="$backend" python3 -m arerec.bench.epochs --variants "$backend:dense" \
    "$backend:lazy" --epochs 3 --model_path "$MODELS" "${ML100K[@]}" --out "$OUT/gpu-ml-100k-epochs$tag.json"
  step "step_bench$tag" 60 env KERAS_BACKEND="$backend" python3 -m arerec.bench.backends --shape "$SHAPE" \
    --out "$OUT/gpu-step$tag.json"
done
python3 -m arerec.report.kernel > /dev/null 2>&1
step reproduce_ci 300 env KERAS_BACKEND="${BACKENDS%% *}" python3 -m arerec report run --params ci \
  --reports_dir /tmp/arerec-gpu/reports --set data_path="$DATA" --set model_path="$MODELS"
for backend in $BACKENDS; do
  tag=$(tag_of "$backend")
  step "ml1m$tag" 240 env KERAS_BACKEND="$backend" python3 -m arerec.bench.epochs --variants "$backend:lazy" \
    --epochs 1 --model_path "$MODELS" "${ML1M[@]}" --out "$OUT/gpu-ml-1m-shape-epoch$tag.json"
  if [ "$backend" = jax ]; then
    step tests 150 python3 -m pytest -q -p no:cacheprovider -x "${TESTS[@]}"
  else
    step "tests$tag" 150 env KERAS_BACKEND=torch python3 -m pytest -q -p no:cacheprovider -x "${TORCH_TESTS[@]}"
  fi
done
python3 - "$OUT" "$START" <<'PY'
import json, platform, sys, time
from pathlib import Path
out, start = Path(sys.argv[1]), float(sys.argv[2])
steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line.strip()]
record = {"steps": steps, "wall_s": time.time() - start, "python": platform.python_version()}
try:
    import jax, keras
    record.update(devices=[f"{d.platform}:{d.device_kind}" for d in jax.devices()], jax=jax.__version__,
                  keras=keras.__version__)
except Exception as exc:  # noqa: BLE001 - the record says what was missing
    record["devices_error"] = repr(exc)
try:
    import torch
    record.update(torch=torch.__version__, torch_cuda=[torch.cuda.get_device_name(n)
                                                       for n in range(torch.cuda.device_count())])
except Exception as exc:  # noqa: BLE001
    record["torch_error"] = repr(exc)
for name in [f"gpu-{kind}{tag}.json" for tag in ("", "-torch")
             for kind in ("ml-100k-epochs", "ml-1m-shape-epoch", "step")]:
    path = out / name
    if path.is_file():
        data = json.loads(path.read_text())
        record[name[:-5]] = data.get("summary", {k: v for k, v in data.items() if not k.endswith("_runs_s")})
(out / "gpu-check.json").write_text(json.dumps(record, indent=1))
print(json.dumps({k: v for k, v in record.items() if k in ("steps", "wall_s", "devices")}, indent=1))
PY
# PACK=1: the step logs and benchmarks' JSON move into one archive beside gpu-check.json (the device tool returns at
# most 8 files)
if [ "${PACK:-0}" = 1 ]; then
  ( cd "$OUT" && files=$(ls | grep -v -x -e gpu-check.json -e gpu-check-files.tgz) \
    && tar czf gpu-check-files.tgz $files && rm -f $files )
fi
