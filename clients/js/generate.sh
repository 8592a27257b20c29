#!/usr/bin/env bash
# Regenerates the committed TypeScript of the protocol schema for the JavaScript client.
#
#   clients/js/generate.sh            (from any directory)
#
# Input: proto/src/main/fbs/stream.fbs (the same schema the Java code is generated from).
# Output: clients/js/src/generated/stream_generated.ts, one file (--ts-flat-files) whose only import is
# the `flatbuffers` package, so that tsc's ES-module output runs on Node as it is (flatc 2.0.8's
# one-file-per-type mode writes extensionless relative imports, which Node's ES-module loader rejects).
# `npm run build` (run by `npm install` and `npm test`) compiles it to build/generated.
#
# Only flatc 2.0.8 is accepted, the version that proto/generate.sh uses: its output matches the
# flatbuffers npm package pinned in package.json (2.0.7, the last 2.0.x release on the registry).
# test/generated.test.js reruns flatc and fails when the committed file differs.
set -euo pipefail

readonly REQUIRED_FLATC_VERSION="2.0.8"

js_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fbs_dir="$(cd "${js_dir}/../../proto/src/main/fbs" && pwd)"
out_dir="${js_dir}/src/generated"
flatc="${FLATC:-flatc}"

die() {
    echo "generate.sh: $*" >&2
    exit 1
}

command -v "${flatc}" >/dev/null 2>&1 \
    || die "flatc not found (looked for '${flatc}'); install it with: apt-get install flatbuffers-compiler (version ${REQUIRED_FLATC_VERSION})"
version_line="$("${flatc}" --version 2>&1 || true)"
[[ "${version_line}" == "flatc version ${REQUIRED_FLATC_VERSION}" ]] \
    || die "need flatc ${REQUIRED_FLATC_VERSION}, '${flatc} --version' says: ${version_line:-nothing}"

rm -rf "${out_dir}"
mkdir -p "${out_dir}"
# A relative schema path and a fixed working directory: nothing about the caller leaks into the output.
cd "${fbs_dir}"
"${flatc}" --ts --ts-flat-files -o "${out_dir}" stream.fbs || die "flatc failed on ${fbs_dir}/stream.fbs"
echo "generate.sh: ${fbs_dir}/stream.fbs -> $(cd "${out_dir}" && ls)"
