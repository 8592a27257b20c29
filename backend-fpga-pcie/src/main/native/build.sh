#!/bin/sh
# The one native build of backend-fpga-pcie, run by Maven (generate-resources) as
#   build.sh <module dir> <target dir>
# It builds into <target dir>/native/:
#   libxrt_coreutil.so.2 (+ libxrt_coreutil.so): the host-emulation XRT library (src/main/native/xrt-emu);
#   shiftformer-emu.xclbin: the HLS kernel source (src/main/hls/*.cpp) plus its emulation glue
#     (src/main/native/kernel-emu/*.cpp) as a shared object the emulation loads as an "xclbin";
#   shiftformer-synth-emu.xclbin: the same with -D__SYNTHESIS__ against the test stand-in <ap_int.h>;
#   xrt-test-kernels.xclbin: the binding's test kernels (src/test/native/*.cpp).
# Every src/main/hls/*.cpp must first compile cleanly as plain C++17 (-Wall -Werror): a warning fails the
# build. The kernel includes <hls_stream.h>: src/main/native/kernel-emu holds the project's stand-in for it
# (Vitis uses its own), so that directory is on every kernel compile's include path. Without a C++ compiler it prints one line, records the reason in native/SKIPPED and exits 0; the
# tests that need the library then skip and say why.
# Environment: CXX (default g++), CXXFLAGS (extra flags, appended).
set -eu

module=${1:?usage: build.sh <module dir> <target dir>}
target=${2:?usage: build.sh <module dir> <target dir>}
out="$target/native"
cxx=${CXX:-g++}
mkdir -p "$out"
rm -f "$out/SKIPPED"

if ! command -v "$cxx" >/dev/null 2>&1; then
  reason="no C++ compiler ('$cxx' not found; install g++ or set CXX): the host-emulation XRT library was not built"
  # no stale library from an earlier build may stand in for this one
  rm -f "$out/libxrt_coreutil.so.2" "$out/libxrt_coreutil.so" "$out/shiftformer-emu.xclbin" "$out/shiftformer-synth-emu.xclbin" \
    "$out/xrt-test-kernels.xclbin"
  echo "$reason" > "$out/SKIPPED"
  echo "[shiftformer native] $reason; the tests that need it will be skipped"
  exit 0
fi

emu="$module/src/main/native/xrt-emu"
hls="$module/src/main/hls"
glue="$module/src/main/native/kernel-emu"
tests="$module/src/test/native"
# stale <output> <inputs...>: true when the output is missing or older than an input (or than this script).
stale() {
  target_file=$1
  shift
  [ -e "$target_file" ] || return 0
  for input in "$0" "$@"; do
    [ "$input" -nt "$target_file" ] && return 0
  done
  return 1
}

# The emulation library exports only the XRT C API (exports.map); an emulated xclbin exports everything,
# so kernel sources need no visibility attributes for xrt_emu_kernels().
flags="-std=c++17 -O2 -Wall -Wextra -Werror -fPIC -fvisibility=hidden ${CXXFLAGS:-}"
xclbin_flags="-std=c++17 -O2 -Wall -Werror -Wno-unknown-pragmas -fPIC ${CXXFLAGS:-}"

# The HLS source is plain C++ first: each file on its own, warnings are errors.
mkdir -p "$out/hls-check"
for f in "$hls"/*.cpp; do
  [ -e "$f" ] || continue
  obj="$out/hls-check/$(basename "$f" .cpp).o"
  # shellcheck disable=SC2046 # the header list is split on purpose
  if stale "$obj" "$f" $(ls "$hls"/*.h "$hls"/*.hpp "$glue"/*.h 2>/dev/null); then
    "$cxx" -std=c++17 -Wall -Werror -Wno-unknown-pragmas -I "$hls" -I "$glue" -c "$f" -o "$obj"
  fi
done

if stale "$out/libxrt_coreutil.so.2" "$emu"/*.cpp "$emu"/*.h "$emu/exports.map"; then
  "$cxx" $flags -shared -Wl,-soname,libxrt_coreutil.so.2 -Wl,--no-undefined -Wl,--version-script="$emu/exports.map" \
    -o "$out/libxrt_coreutil.so.2" "$emu/xrt_emu.cpp" -ldl -pthread
fi
ln -sf libxrt_coreutil.so.2 "$out/libxrt_coreutil.so"

sources=""
for f in "$hls"/*.cpp "$glue"/*.cpp; do
  [ -e "$f" ] && sources="$sources $f"
done
# shellcheck disable=SC2086,SC2046 # word splitting of the source lists is intended (paths have no blanks)
if [ -n "$sources" ] && stale "$out/shiftformer-emu.xclbin" $sources "$emu/xrt_emu_kernel.h" \
    $(ls "$hls"/*.h "$hls"/*.hpp "$glue"/*.h 2>/dev/null); then
  "$cxx" $xclbin_flags -shared -I "$hls" -I "$glue" -I "$emu" -o "$out/shiftformer-emu.xclbin" $sources
elif [ -z "$sources" ]; then
  echo "[shiftformer native] no src/main/hls or src/main/native/kernel-emu sources yet: shiftformer-emu.xclbin not built"
fi

# The same kernel with its __SYNTHESIS__ branches (ap_uint<512> words, word-wise port access) compiled
# against a stand-in <ap_int.h> (src/test/native/hls-mock), so the tests run those branches bit for bit too.
mock="$module/src/test/native/hls-mock"
# shellcheck disable=SC2086,SC2046 # word splitting of the source lists is intended (paths have no blanks)
if [ -n "$sources" ] && [ -d "$mock" ] && stale "$out/shiftformer-synth-emu.xclbin" $sources "$emu/xrt_emu_kernel.h" \
    "$mock"/*.h $(ls "$hls"/*.h "$hls"/*.hpp "$glue"/*.h 2>/dev/null); then
  "$cxx" $xclbin_flags -D__SYNTHESIS__ -I "$mock" -shared -I "$hls" -I "$glue" -I "$emu" -o "$out/shiftformer-synth-emu.xclbin" $sources
fi

tsources=""
for f in "$tests"/*.cpp; do
  [ -e "$f" ] && tsources="$tsources $f"
done
# shellcheck disable=SC2086
if [ -n "$tsources" ] && stale "$out/xrt-test-kernels.xclbin" $tsources "$emu/xrt_emu_kernel.h"; then
  "$cxx" $xclbin_flags -Wextra -shared -I "$emu" -o "$out/xrt-test-kernels.xclbin" $tsources
fi
echo "[shiftformer native] $out/libxrt_coreutil.so.2 up to date, built with $("$cxx" --version | head -n 1)"
