#!/usr/bin/env bash
# Delete a kind cluster and check that nothing of it is left: `make kind-down`.
#
#   down.sh CLUSTER KIND-COMMAND...
#
# One trap seen on cgroup v1 machines: runc, with the systemd cgroup driver
# kind's nodes use, freezes a container's cgroup while it updates it. If the
# node's systemd dies mid-way, that container stays FROZEN, its `runc init`
# hangs in D state, and `docker rm -f` of the node never returns ("did not
# receive an exit event"). Thawing every freezer cgroup under the node's
# container first lets the delete finish; on other machines there is nothing
# to thaw.
set -euo pipefail
cluster=$1
shift
kind=("$@")

label=io.x-k8s.kind.cluster=$cluster
nodes=$(docker ps -aq --no-trunc --filter "label=$label")
if [ -z "$nodes" ] && ! "${kind[@]}" get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "kind cluster $cluster: not present"
  exit 0
fi

thaw() {
  local id n=0
  for id in $nodes; do
    for d in /sys/fs/cgroup/freezer/docker/"$id" /sys/fs/cgroup/freezer/system.slice/docker-"$id".scope; do
      [ -d "$d" ] || continue
      while IFS= read -r f; do
        if [ "$(cat "$f")" != THAWED ]; then
          echo THAWED >"$f" && n=$((n + 1))
        fi
      done < <(find "$d" -name freezer.state)
    done
  done
  [ $n = 0 ] || echo "thawed $n frozen cgroups under the node containers"
}

start=$SECONDS
dangling_before=$(docker volume ls -qf dangling=true | wc -l)
thaw
# kind's delete stops the node container; a frozen child can appear while it
# does, so thaw again while it runs and give it a bound.
"${kind[@]}" delete cluster --name "$cluster" &
del=$!
while kill -0 "$del" 2>/dev/null; do
  if [ $((SECONDS - start)) -gt 180 ]; then
    echo "kind delete cluster did not finish in 180 s" >&2
    kill "$del" 2>/dev/null || true
    break
  fi
  thaw
  sleep 1
done
wait "$del" || { echo "kind delete cluster failed" >&2; exit 1; }

# What a cluster leaves if its delete went wrong: node containers, their
# anonymous volumes (/var of each node), the kubeconfig context.
left=()
[ -z "$(docker ps -aq --filter "label=$label")" ] || left+=("containers: $(docker ps -a --filter "label=$label" --format '{{.Names}}' | tr '\n' ' ')")
dangling_after=$(docker volume ls -qf dangling=true | wc -l)
[ "$dangling_after" -le "$dangling_before" ] || left+=("$((dangling_after - dangling_before)) volumes")
for id in $nodes; do
  [ ! -d "/sys/fs/cgroup/freezer/docker/$id" ] || left+=("cgroup of node $id")
done
if command -v kubectl >/dev/null && kubectl config get-contexts -o name 2>/dev/null | grep -qx "kind-$cluster"; then
  left+=("kubeconfig context kind-$cluster")
fi
if [ ${#left[@]} -gt 0 ]; then
  printf 'kind cluster %s: left behind: %s\n' "$cluster" "${left[@]}" >&2
  exit 1
fi
echo "kind cluster $cluster: deleted in $((SECONDS - start)) s, no containers, volumes or contexts left"
