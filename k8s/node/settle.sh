#!/usr/bin/env bash
# settle.sh KUBECTL CONTEXT: wait until a new kind cluster's own workloads
# run (kube-proxy, CoreDNS, the local-path provisioner), so that the chart
# installed next finds its volumes and names.
#
# The provisioner starts as soon as the node is Ready, often before
# kube-proxy has routed the API server's service address (10.96.0.1); its
# first request then fails (here: a TLS error from whatever answers that
# address off the cluster) and it exits. Kubernetes restarts it with a
# back-off that doubles up to 5 minutes, long enough to run out a helm
# --wait. Once kube-proxy runs, a provisioner that has crashed is restarted
# at once instead of waiting out its back-off.
set -euo pipefail
kubectl=$1 context=$2
k() { "$kubectl" --context "$context" "$@"; }
start=$SECONDS
k -n kube-system rollout status daemonset/kube-proxy --timeout=180s
k -n kube-system rollout status deployment/coredns --timeout=180s
restarts=$(k -n local-path-storage get pods -l app=local-path-provisioner \
  -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{" "}{.status.containerStatuses[0].ready}{"\n"}{end}')
if echo "$restarts" | grep -qv ' true$'; then
  echo "local-path-provisioner not ready (restarts, ready: $(echo "$restarts" | tr '\n' ' ')): restarting it now that kube-proxy runs"
  k -n local-path-storage delete pods -l app=local-path-provisioner --wait=false
fi
k -n local-path-storage rollout status deployment/local-path-provisioner --timeout=180s
echo "kind cluster: kube-proxy, CoreDNS and the volume provisioner running after $((SECONDS - start)) s"
