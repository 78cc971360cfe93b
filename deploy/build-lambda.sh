#!/usr/bin/env bash
# Build the Lambda package for deploy/scheduled-scan.yaml: phantomkeys and its
# dependencies as Linux wheels for the Lambda runtime, zipped.
#
#   deploy/build-lambda.sh [SOURCE] [OUT.zip]
#
# SOURCE is what pip installs: "phantomkeys" (PyPI, the default), "." (this
# checkout) or a wheel file. Upload OUT.zip (default phantomkeys-lambda.zip) to
# the CodeBucket/CodeKey you give the stack.
set -euo pipefail

source_spec="${1:-phantomkeys}"
out="${2:-phantomkeys-lambda.zip}"
python_version="${LAMBDA_PYTHON:-3.12}"
platform="${LAMBDA_PLATFORM:-manylinux2014_x86_64}"   # manylinux2014_aarch64 for arm64

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ -d "$source_spec" ]; then  # a checkout: build its wheel first (pure Python)
  python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/wheel" "$source_spec"
  source_spec="$(ls "$work"/wheel/*.whl)"
fi

python3 -m pip install --quiet --target "$work/package" \
  --platform "$platform" --implementation cp --python-version "$python_version" \
  --only-binary=:all: "$source_spec"
# The Lambda runtime ships boto3/botocore, but pinning the versions phantomkeys
# was tested with is safer than relying on the runtime's, so they stay in.
find "$work/package" -name '__pycache__' -type d -prune -exec rm -rf {} +
(cd "$work/package" && zip -qr9 "$work/out.zip" .)
mv "$work/out.zip" "$out"
echo "built $out ($(du -h "$out" | cut -f1))"
