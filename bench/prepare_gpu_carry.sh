#!/usr/bin/env bash
# Put what the offline GPU machine needs beside the tree, from the repository root (both
# folders are git-ignored; carry them with the working tree):
#   .data/fashion-mnist/  the four Fashion-MNIST IDX .gz files (from the system copy)
#   .whl/                 the array-api-compat wheel for Python 3.12 (pure Python)
#
#   bash bench/prepare_gpu_carry.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_SOURCE="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
COMPAT_VERSION="1.16.0"
PYTHON="${PYTHON:-python3}"

mkdir -p .data/fashion-mnist .whl
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
            t10k-labels-idx1-ubyte; do
    if [ ! -f "$DATA_SOURCE/$name.gz" ]; then
        echo "missing $DATA_SOURCE/$name.gz (install dataset-fashion-mnist, or set" \
             "FASHION_MNIST_DIR to a folder holding the four .gz files)" >&2
        exit 2
    fi
    cp "$DATA_SOURCE/$name.gz" .data/fashion-mnist/
done
echo "data: $(ls .data/fashion-mnist | tr '\n' ' ')"

download() {
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .whl "$@" \
        "array-api-compat==$COMPAT_VERSION"
}
if ! download --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any; then
    echo "pip download with --platform flags failed; retrying without them" >&2
    download
fi
echo "wheels: $(ls .whl | tr '\n' ' ')"
