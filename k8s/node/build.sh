#!/usr/bin/env bash
# Build a kind node image for Kubernetes v1.34.0 from what this machine can
# reach: the Go module proxy and Debian's packages. `make kind-image` runs it.
#
# kind's own image (kindest/node) cannot be pulled where no container
# registry is reachable, and `kind build node-image` fetches images too. This
# script does what that image is made of, step by step:
#
#   1. rootfs     a Debian bookworm root made with debootstrap (systemd,
#                 containerd, runc, CNI plugins, iptables), plus kind's base
#                 files from the kind module the repository pins
#   2. binaries   every Kubernetes component built from k8s.io/kubernetes
#                 (components/kubernetes), etcd, CoreDNS, local-path-
#                 provisioner and crictl from their modules, and this
#                 folder's capshim and pause
#   3. images     the component images kubeadm and kind ask for, tagged
#                 exactly as they ask (`kubeadm config images list`, kind's
#                 sandbox and storage images), FROM scratch where possible
#   4. node       the node image, with those images preloaded into its
#                 containerd, tagged $NODE_IMAGE
#
# Every step records the hash of its inputs and is skipped, saying so, when
# they did not change. A cold build took 23.5 minutes here on 2 cores (12 of
# them compiling Kubernetes); see docs/kubernetes.md for the disk it needs.
#
# Needs: go, docker (an engine that can run a privileged container: see
# engine.sh), debootstrap, and root (debootstrap and chroot).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# The caches live outside the clone, like Go's: a fresh clone on a machine
# that built the node image once skips every step.
cache=${KIND_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/event-driven-bayes/kind-node}
NODE_IMAGE=${NODE_IMAGE:-event-driven-bayes/kind-node:v1.34.0}
K8S_VERSION=v1.34.0
# kubeadm v1.34.0 asks for etcd 3.6.4-0 and CoreDNS v1.12.1. etcd is built at
# that version; CoreDNS at v1.14.3, the oldest the module proxy serves, under
# the tag kubeadm expects (its Corefile and flags are unchanged since).
ETCD_MODULE_VERSION=v3.6.4
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the node runs besides Kubernetes: kind's base image installs the same
# list (images/base/Dockerfile), with Debian's containerd, runc and CNI
# plugins in place of the ones kind compiles.
NODE_PACKAGES=systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps

bin=$cache/bin
mkdir -p "$bin" "$cache/stamps"

log() { printf '%s kind-image: %s\n' "$(date +%H:%M:%S)" "$*"; }

# hash_of prints a short hash of its arguments' contents (files) or text.
hash_of() {
  for x in "$@"; do
    if [ -f "$x" ]; then cat "$x"; else printf '%s\n' "$x"; fi
  done | sha256sum | cut -c1-16
}

# fresh NAME HASH: true when step NAME already ran with inputs HASH.
fresh() { [ "$(cat "$cache/stamps/$1" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$cache/stamps/$1"; }

# kind's own files (base image, storage manifest) come from the kind module
# k8s/tools pins; download it if this machine has not yet.
kind_version=$(cd "$repo/k8s/tools" && go list -m -f '{{.Version}}' sigs.k8s.io/kind)
kind_dir=$(cd "$repo/k8s/tools" && go mod download -json "sigs.k8s.io/kind@$kind_version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[ -d "$kind_dir/images/base/files" ] || { echo "kind module $kind_version: no images/base/files in '$kind_dir'" >&2; exit 1; }

# ---- 1. the node's root filesystem ---------------------------------------
rootfs_hash=$(hash_of "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$NODE_PACKAGES" "$here/rootfs.sh" "$kind_version" "$here/node/10-edb-ptp.conflist")
rootfs_tar=$cache/rootfs-$rootfs_hash.tar
if [ -f "$rootfs_tar" ]; then
  log "rootfs: up to date ($(du -h "$rootfs_tar" | cut -f1))"
else
  command -v debootstrap >/dev/null || { echo "debootstrap not found: apt-get install -y debootstrap" >&2; exit 1; }
  rm -f "$cache"/rootfs-*.tar
  root=$cache/rootfs
  rm -rf "$root"
  log "rootfs: debootstrap $DEBIAN_SUITE with $NODE_PACKAGES"
  start=$SECONDS
  debootstrap --variant=minbase --include="$NODE_PACKAGES" "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR" >"$cache/debootstrap.log" 2>&1 ||
    { tail -30 "$cache/debootstrap.log" >&2; exit 1; }
  "$here/rootfs.sh" "$root" "$kind_dir/images/base/files" "$here/node/10-edb-ptp.conflist" >>"$cache/debootstrap.log" 2>&1 ||
    { tail -30 "$cache/debootstrap.log" >&2; exit 1; }
  tar -C "$root" --numeric-owner -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$root"
  log "rootfs: made in $((SECONDS - start)) s ($(du -h "$rootfs_tar" | cut -f1))"
fi

# ---- 2. binaries --------------------------------------------------------
# The components compile in a build cache of their own, removed once every
# binary is built: Kubernetes and the rest leave gigabytes of compiled
# packages that nothing else reuses, and the stamps, not that cache, are what
# lets a second run skip the builds. A failed build keeps it, so a retry goes
# on from where it stopped.
components_gocache=$cache/gocache
# build NAME DIR LDFLAGS [OUT=]PACKAGE...: the packages of the module in DIR
# (GOWORK=off) into $bin, in one go build so they share compiled packages;
# skipped when the module's go.mod/go.sum, the flags, the packages and the
# Go version are those of the last build and every binary is there. OUT=
# names a binary whose package path does not (etcd's main package is its
# module root: it would be called v3); it takes a build of its own.
build() {
  local name=$1 dir=$2 ldflags=$3; shift 3
  local pkgs=() outs=() a
  for a in "$@"; do
    if [[ $a == *=* ]]; then outs+=("${a%%=*}"); pkgs+=("${a#*=}"); else outs+=("${a##*/}"); pkgs+=("$a"); fi
  done
  local out=$bin/
  if [[ $1 == *=* ]]; then
    [ $# = 1 ] || { echo "build $name: OUT= takes one package" >&2; exit 1; }
    out=$bin/${outs[0]}
  fi
  local h
  h=$(hash_of "$dir/go.mod" "$dir/go.sum" "$ldflags" "${pkgs[@]}" "$(go version)")
  local missing=0
  for a in "${outs[@]}"; do [ -x "$bin/$a" ] || missing=1; done
  if [ $missing = 0 ] && fresh "bin-$name" "$h"; then
    log "$name: up to date"
    return
  fi
  log "$name: building ${outs[*]}"
  local start=$SECONDS
  (cd "$dir" && GOCACHE=$components_gocache GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out" "${pkgs[@]}")
  log "$name: built in $((SECONDS - start)) s"
  stamp "bin-$name" "$h"
}

k8s_ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  # kubeadm refuses to run without its own version; kubelet and the control
  # plane report it.
  k8s_ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean"
done
build kubernetes "$here/components/kubernetes" "$k8s_ldflags" \
  k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy
build etcd "$here/components/etcd" "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_MODULE_VERSION" \
  etcd=go.etcd.io/etcd/server/v3
build coredns "$here/components/coredns" "" github.com/coredns/coredns
build local-path "$here/components/localpath" "" github.com/rancher/local-path-provisioner
build crictl "$here/components/crictl" "" sigs.k8s.io/cri-tools/cmd/crictl
# capshim and pause are small: go build's cache makes this a no-op when
# nothing changed.
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/" ./cmd/capshim ./cmd/pause)
if [ -d "$components_gocache" ]; then
  log "components' build cache removed: $(du -sh "$components_gocache" | cut -f1)"
  rm -rf "$components_gocache"
fi

# ---- 3. images -----------------------------------------------------------
# image TAG DOCKERFILE-BODY FILE...: docker build with FILEs (names in $bin,
# or absolute paths) in the context; skipped when TAG carries the same
# inputs hash in its label.
image() {
  local tag=$1 body=$2; shift 2
  local paths=() f h
  for f in "$@"; do
    if [ "${f#/}" = "$f" ]; then paths+=("$bin/$f"); else paths+=("$f"); fi
  done
  # A base other than scratch is an input too: its id joins the hash.
  local from
  from=$(sed -n '1s/^FROM \(\S*\).*/\1/p' <<<"$body")
  [ "$from" = scratch ] || from=$(docker image inspect -f '{{.Id}}' "$from")
  h=$(hash_of "$body" "$from" "$(sha256sum "${paths[@]}" | cut -c1-64)")
  if [ "$(docker image inspect -f '{{index .Config.Labels "edb.inputs"}}' "$tag" 2>/dev/null)" = "$h" ]; then
    return
  fi
  local ctx
  ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  for f in "${paths[@]}"; do cp -l "$f" "$ctx/" 2>/dev/null || cp "$f" "$ctx/"; done
  printf '%s\nLABEL edb.inputs=%s\n' "$body" "$h" >"$ctx/Dockerfile"
  # The classic builder: FROM scratch with ADD of a tar, no BuildKit needed.
  if ! DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >"$ctx.log" 2>&1; then
    cat "$ctx.log" >&2
    exit 1
  fi
  rm -f "$ctx.log"
  rm -rf "$ctx"
  log "image $tag: built"
}

# The root filesystem as an image: the node and kube-proxy build on it.
rootfs_image=$NODE_IMAGE-rootfs
image "$rootfs_image" "FROM scratch
ADD $(basename "$rootfs_tar") /" "$rootfs_tar"

# What kubeadm itself will ask for, so no tag can be wrong.
mapfile -t kubeadm_images < <("$bin/kubeadm" config images list --kubernetes-version "$K8S_VERSION")
[ ${#kubeadm_images[@]} -gt 0 ] || { echo "kubeadm config images list printed nothing" >&2; exit 1; }
kind_sandbox=$(sed -n 's/^\s*sandbox_image\s*=\s*"\(.*\)"/\1/p' "$kind_dir/images/base/files/etc/containerd/config.toml")
storage_src=$kind_dir/pkg/build/nodeimage/const_storage.go
constval() { (cd "$here" && go run ./cmd/constval "$storage_src" "$1"); }
provisioner_image=$(constval storageProvisionerImage)
helper_image=$(constval storageHelperImage)

scratch_bin() { # TAG BINARY: the binary on PATH in an otherwise empty image
  image "$1" "FROM scratch
COPY $2 /usr/local/bin/$2
ENV PATH=/usr/local/bin" "$2"
}
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "a static /bin/busybox is needed: apt-get install -y busybox-static" >&2
  exit 1
fi

images=()
for ref in "${kubeadm_images[@]}" "$kind_sandbox"; do
  case "$ref" in
    */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:*)
      name=${ref##*/}
      scratch_bin "$ref" "${name%%:*}" ;;
    */etcd:*) scratch_bin "$ref" etcd ;;
    */coredns:*)
      # kubeadm's CoreDNS Deployment runs the image's entrypoint with -conf.
      image "$ref" 'FROM scratch
COPY coredns /coredns
ENTRYPOINT ["/coredns"]' coredns ;;
    */pause:*)
      image "$ref" 'FROM scratch
COPY pause /pause
ENTRYPOINT ["/pause"]' pause ;;
    */kube-proxy:*)
      # kube-proxy programs iptables: it needs the iptables commands of the
      # node's own root filesystem.
      image "$ref" "FROM $rootfs_image
COPY kube-proxy /usr/local/bin/kube-proxy" kube-proxy ;;
    *) echo "kubeadm asks for an image this script does not build: $ref" >&2; exit 1 ;;
  esac
  images+=("$ref")
done
# kind's default storage: local-path-provisioner and its helper pod's image
# (which runs sh, mkdir and rm).
image "$provisioner_image" 'FROM scratch
COPY local-path-provisioner /usr/local/bin/local-path-provisioner
ENV PATH=/usr/local/bin' local-path-provisioner
image "$helper_image" 'FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin' "$busybox"
images+=("$provisioner_image" "$helper_image")
log "component images: ${images[*]}"

# ---- 4. the node image ---------------------------------------------------
# kind reads /kind/version and applies /kind/manifests/default-cni.yaml and
# default-storage.yaml. The CNI is the static conflist in the root
# filesystem, so its manifest is an empty ConfigMap; storage is kind's own
# manifest, taken from the kind module.
manifests=$(mktemp -d "$cache/manifests.XXXXXX")
constval defaultStorageManifest >"$manifests/default-storage.yaml"
cat >"$manifests/default-cni.yaml" <<'YAML'
# The node's network is the static ptp conflist in /etc/cni/net.d (made by
# k8s/node/build.sh): kindnetd's image cannot be fetched here.
apiVersion: v1
kind: ConfigMap
metadata:
  name: edb-static-cni
  namespace: kube-system
data:
  conflist: /etc/cni/net.d/10-edb-ptp.conflist
YAML
echo "$K8S_VERSION" >"$manifests/version"
base_image=$NODE_IMAGE-base
image "$base_image" "FROM $rootfs_image
COPY kubelet kubeadm kubectl /usr/bin/
COPY crictl capshim /usr/local/bin/
COPY version /kind/version
COPY default-cni.yaml default-storage.yaml /kind/manifests/
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [\"/usr/local/bin/entrypoint\", \"/sbin/init\"]" \
  kubelet kubeadm kubectl crictl capshim "$manifests/version" "$manifests/default-cni.yaml" "$manifests/default-storage.yaml"
rm -rf "$manifests"

# The preload: the component images into the node's containerd, as `kind
# build node-image` does (it cannot run here: it fetches images, and
# Debian's ctr lacks a flag it passes).
node_hash=$(hash_of "$(docker image inspect -f '{{.Id}}' "$base_image")" \
  "$(for r in "${images[@]}"; do docker image inspect -f '{{.Id}}' "$r"; done)")
if [ "$(docker image inspect -f '{{index .Config.Labels "edb.node"}}' "$NODE_IMAGE" 2>/dev/null)" = "$node_hash" ]; then
  log "node image $NODE_IMAGE: up to date"
  exit 0
fi
log "node image: preloading ${#images[@]} images"
start=$SECONDS
node=edb-kind-node-build-$$
trap 'docker rm -f "$node" >/dev/null 2>&1 || true' EXIT
# containerd needs mounts: privileged, through capshim where the engine
# needs it (engine.sh).
docker run -d --name "$node" --privileged --entrypoint sleep "$base_image" infinity >/dev/null
docker exec "$node" sh -c 'containerd >/var/log/containerd-preload.log 2>&1 &'
for _ in $(seq 60); do docker exec "$node" ctr version >/dev/null 2>&1 && break; sleep 0.5; done
docker save "${images[@]}" | docker exec -i "$node" ctr -n k8s.io images import --all-platforms --no-unpack --digests - >/dev/null
docker exec "$node" ctr -n k8s.io images ls -q | sort >"$cache/preloaded.txt"
for r in "${images[@]}"; do
  grep -qx "$r" "$cache/preloaded.txt" || grep -qx "docker.io/$r" "$cache/preloaded.txt" ||
    { echo "preload: $r missing from the node's containerd:" >&2; cat "$cache/preloaded.txt" >&2; exit 1; }
done
# Stop containerd and wait until it has exited (a zombie: sleep, PID 1
# here, does not reap), so its database is complete before the commit.
docker exec "$node" sh -c 'pid=$(pgrep -x containerd); kill "$pid"
  while [ -e "/proc/$pid" ] && [ "$(awk "/^State/ {print \$2}" "/proc/$pid/status")" != Z ]; do sleep 0.2; done
  rm -f /var/log/containerd-preload.log'
docker commit \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
  --change "LABEL edb.node=$node_hash" \
  "$node" "$NODE_IMAGE" >/dev/null
log "node image $NODE_IMAGE: made in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$NODE_IMAGE" | numfmt --to=iec))"
