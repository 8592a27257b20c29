# Shared by build-image.sh and haproxy/build-image.sh, which source it: `. image-lib.sh NAME` (NAME: the
# script's name in messages). Functions only; it runs nothing.
image_script="$1"

fail() { echo "$image_script: $*" >&2; exit 1; }

# require_docker TAG IF_DOCKER SKIPPED: returns when a Docker daemon answers. Otherwise exits 0 saying so
# (and SKIPPED: what that means) when IF_DOCKER is true outside CI (CI=true), else fails.
require_docker() {
  if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    local why="no Docker daemon answers (docker info failed; start dockerd, or apt-get install docker.io)"
    if $2 && [ "${CI:-}" != "true" ]; then
      echo "$image_script: $why: not building $1; $3" >&2
      exit 0
    fi
    fail "$why"
  fi
}

# ldd_libs FILE...: the shared libraries they link, the dynamic loader included (absolute paths, one a line).
ldd_libs() {
  ldd "$@" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u
}

# copy_libs ROOTFS FILE...: the libraries FILEs link, copied to the same paths under ROOTFS (the loader's
# path is compiled in); fails when one is missing here or the loader is not x86-64 glibc's.
copy_libs() {
  local rootfs="$1" lib
  shift
  if ldd "$@" 2>/dev/null | grep -q 'not found'; then
    fail "$* link libraries this machine lacks: $(ldd "$@" | grep 'not found' | sort -u | tr -s '\t\n' ' ')"
  fi
  for lib in $(ldd_libs "$@"); do
    case "$lib" in "$rootfs"/*) continue ;; esac
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  [ -f "$rootfs/lib64/ld-linux-x86-64.so.2" ] || fail "ldd found no /lib64/ld-linux-x86-64.so.2: only x86-64 glibc hosts are supported"
}

# passwd_files ROOTFS USER: /etc/passwd and /etc/group with root and USER as uid/gid 10001, and /tmp (1777).
passwd_files() {
  mkdir -p "$1/etc" "$1/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:10001:10001:%s:/tmp:/sbin/nologin\n' "$2" "$2" > "$1/etc/passwd"
  printf 'root:x:0:\n%s:x:10001:\n' "$2" > "$1/etc/group"
  chmod 1777 "$1/tmp"
}

# legacy_build TAG LOG ARGS...: docker build ARGS with the legacy builder (it needs no buildx plugin and builds
# FROM a local image without a registry); on failure prints its log and fails naming TAG.
legacy_build() {
  local tag="$1" log="$2"
  shift 2
  if ! DOCKER_BUILDKIT=0 docker build -q "$@" >"$log" 2>&1; then
    cat "$log" >&2
    fail "docker build of $tag failed (log above)"
  fi
}
