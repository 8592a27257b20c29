#!/bin/sh
# The one native build of backend-fpga-pcie, run by Maven (generate-resources) as
#   build.sh <module dir> <target dir>
# It builds into <target dir>/native/:
#   libxrt_coreutil.so.2 (+ libxrt_coreutil.so): the host-emulation XRT library (src/main/native/xrt-emu);
#   shiftformer-emu.xclbin: the HLS kernel source (src/main/hls/*.cpp) plus its emulation glue
#     (src/main/native/kernel-emu/*.cpp) as a shared object the emulation loads as an "xclbin";
#   xrt-test-kernels.xclbin: the binding's test kernels (src/test/native/*.cpp).
# Every src/main/hls/*.cpp must first compile cleanly as plain C++17 (-Wall -Werror): a warning fails the
# build. Without a C++ compiler it prints one line, records the reason in native/SKIPPED and exits 0; the
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
  echo "$reason" > "$out/SKIPPED"
  echo "[shiftformer native] $reason; the tests that need it will be skipped"
  exit 0
fi

emu="$module/src/main/native/xrt-emu"
hls="$module/src/main/hls"
glue="$module/src/main/native/kernel-emu"
tests="$module/src/test/native"
flags="-std=c++17 -O2 -Wall -Wextra -Werror -fPIC -fvisibility=hidden ${CXXFLAGS:-}"

# The HLS source is plain C++ first: each file on its own, warnings are errors.
mkdir -p "$out/hls-check"
for f in "$hls"/*.cpp; do
  [ -e "$f" ] || continue
  "$cxx" -std=c++17 -Wall -Werror -Wno-unknown-pragmas -I "$hls" -c "$f" \
    -o "$out/hls-check/$(basename "$f" .cpp).o"
done

"$cxx" $flags -shared -Wl,-soname,libxrt_coreutil.so.2 -Wl,--no-undefined -Wl,--version-script="$emu/exports.map" \
  -o "$out/libxrt_coreutil.so.2" "$emu/xrt_emu.cpp" -ldl -pthread
ln -sf libxrt_coreutil.so.2 "$out/libxrt_coreutil.so"

sources=""
for f in "$hls"/*.cpp "$glue"/*.cpp; do
  [ -e "$f" ] && sources="$sources $f"
done
if [ -n "$sources" ]; then
  # shellcheck disable=SC2086 # word splitting of the source list is intended (paths have no blanks)
  "$cxx" $flags -Wno-unknown-pragmas -shared -I "$hls" -I "$emu" -o "$out/shiftformer-emu.xclbin" $sources
else
  echo "[shiftformer native] no src/main/hls or src/main/native/kernel-emu sources yet: shiftformer-emu.xclbin not built"
fi

tsources=""
for f in "$tests"/*.cpp; do
  [ -e "$f" ] && tsources="$tsources $f"
done
if [ -n "$tsources" ]; then
  # shellcheck disable=SC2086
  "$cxx" $flags -shared -I "$emu" -o "$out/xrt-test-kernels.xclbin" $tsources
fi
echo "[shiftformer native] built $out/libxrt_coreutil.so.2 with $("$cxx" --version | head -n 1)"
