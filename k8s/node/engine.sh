#!/usr/bin/env bash
# A Docker engine that can run kind's privileged node containers.
#
#   engine.sh ensure   use the engine that answers if it runs a privileged
#                      container; otherwise start (or restart) our own
#                      dockerd with capshim as its runtime
#   engine.sh start    start our own dockerd if no engine answers (what
#                      .ci/run uses), with capshim when the probe needs it
#   engine.sh stop     stop the dockerd this script started, if any
#
# kind starts its nodes with --privileged, which asks for every capability.
# A machine whose own capability bounding set lacks some (here
# CAP_SYS_RESOURCE) makes runc fail with "unable to apply caps". capshim
# (cmd/capshim) removes exactly the missing ones. It is registered only with
# a dockerd this script starts itself: an engine someone else runs is never
# reconfigured, and on an ordinary machine nothing here changes the stock
# kind path.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${KIND_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/event-driven-bayes/kind-node}
state=$cache/dockerd
mkdir -p "$state"
pidfile=$state/dockerd.pid
probe_image=edb-standin/privileged-probe:v1

say() { printf 'engine: %s\n' "$*" >&2; }

ours() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

wait_engine() {
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  say "dockerd did not answer within 60 s; its log:"
  tail -20 "$state/dockerd.log" >&2
  return 1
}

start_ours() { # [shim]
  local args=()
  if [ "${1:-}" = shim ]; then
    (cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$cache/bin/capshim" ./cmd/capshim)
    args=(--add-runtime "edb-capshim=$cache/bin/capshim" --default-runtime edb-capshim)
  fi
  dockerd --pidfile "$pidfile" "${args[@]}" >"$state/dockerd.log" 2>&1 &
  wait_engine
}

stop_ours() {
  ours || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  rm -f "$pidfile"
}

# probe runs a privileged container and prints runc's error if it fails.
probe() {
  if ! docker image inspect "$probe_image" >/dev/null 2>&1; then
    [ -x /bin/busybox ] || { say "/bin/busybox not found: apt-get install -y busybox-static"; return 2; }
    tar -C / -cf - bin/busybox | docker import --change 'ENTRYPOINT ["/bin/busybox"]' - "$probe_image" >/dev/null
  fi
  docker run --rm --privileged "$probe_image" true 2>&1 >/dev/null
}

ensure() {
  if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || { say "no Docker engine answers and dockerd is not installed (apt-get install -y docker.io)"; exit 1; }
    say "no Docker engine answers: starting dockerd (log: $state/dockerd.log)"
    start_ours
  fi
  local err
  if err=$(probe); then
    if [ "$(docker info -f '{{.DefaultRuntime}}')" = edb-capshim ]; then
      say "privileged containers run on this engine through capshim (this machine lacks: $(missing_caps))"
    else
      say "privileged containers run on this engine: stock kind path"
    fi
    return 0
  fi
  if ! grep -q 'apply caps' <<<"$err"; then
    say "a privileged container fails on this engine, and not for a missing capability:"
    printf '%s\n' "$err" >&2
    exit 1
  fi
  say "a privileged container fails here: $(grep -o 'unable to apply caps[^"]*' <<<"$err" | head -1)"
  say "this machine's capability bounding set lacks: $(missing_caps)"
  if [ "$(docker info -f '{{.DefaultRuntime}}')" = edb-capshim ]; then
    say "and the engine already runs capshim: giving up"
    exit 1
  fi
  if ! ours; then
    say "the engine that answers is not one this script started, so it is left alone."
    say "Stop it and run 'make kind-up' again (a dockerd with capshim is then started), or start yours with"
    say "  dockerd --add-runtime edb-capshim=$cache/bin/capshim --default-runtime edb-capshim"
    exit 1
  fi
  say "restarting our dockerd with capshim as its runtime (it drops exactly those capabilities)"
  stop_ours
  start_ours shim
  if err=$(probe); then
    say "privileged containers run through capshim"
  else
    say "a privileged container still fails through capshim:"
    printf '%s\n' "$err" >&2
    exit 1
  fi
}

missing_caps() {
  (cd "$here" && go run ./cmd/capshim --capshim-missing)
}

case "${1:-}" in
  ensure) ensure ;;
  start)
    if docker info >/dev/null 2>&1; then
      say "a Docker engine answers already: using it"
    else
      ensure
    fi ;;
  stop) stop_ours ;;
  *) echo "usage: $0 ensure|start|stop" >&2; exit 2 ;;
esac
