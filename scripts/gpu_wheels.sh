#!/usr/bin/env bash
# Wheels the GPU check (scripts/gpu_check.sh) needs on a machine that has JAX with CUDA, numpy, pandas, scipy,
# scikit-learn, matplotlib, seaborn, h5py, pyyaml and tqdm, but no TensorFlow, no Keras and no package index.
# Run here (with pip and the network): it fills .whl/ (ignored by git; about 34 MB) with cp312 builds of Keras,
# papermill, nbconvert, ipykernel, pytest, scikit-surprise, Optuna, pydantic, their dependencies and recbole's wheel, which
# carries ML-100K. Wheels of packages the machine already has are removed: two versions of one stop the install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PLATFORMS=""
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1 manylinux_2_24 manylinux_2_26 \
           manylinux_2_31 manylinux_2_34 manylinux_2_35; do
  PLATFORMS+=" --platform ${tag}_x86_64"
done
OPTS="--only-binary=:all: --python-version 3.12 --implementation cp $PLATFORMS -d .whl"
mkdir -p .whl
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
$PYTHON -m pip download -q $OPTS "keras==3.15.*" "filelock==4.3.*" "papermill==2.7.*" "nbconvert==7.17.*" "ipykernel==7.4.*" \
  "pytest==9.2.*" "scikit-surprise==1.1.5" "optuna==5.0.*" "pydantic==2.14.*"
$PYTHON -m pip download -q --no-deps $OPTS "recbole==1.2.1"  # its own dependencies include torch, which is there
# already on the machine (and pulled in again by the resolver): numpy, scipy, h5py, pyyaml, ml_dtypes, tzdata, joblib
rm -f .whl/numpy-* .whl/scipy-* .whl/h5py-* .whl/pyyaml-* .whl/PyYAML-* .whl/ml_dtypes-* .whl/tzdata-* .whl/joblib-*
du -sh .whl
