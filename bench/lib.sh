# shellcheck shell=bash disable=SC2154
# Shared by the benchmark scripts (sourced): a work directory removed on exit,
# background processes stopped on exit, free ports, waiting for a listener,
# dendrited nodes and their rings, CPU and memory of a process.
# Expects $script (the caller's name, for messages); dendrite_node and
# wait_ring also expect $build (the build directory). KEEP_LOGS=DIR keeps the
# logs of the work directory there; LOG_LEVEL sets the nodes' (warn).
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$work"/*.log "$KEEP_LOGS"/ 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
# A TCP port on 127.0.0.1 free right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits (bounded: 10 s) until something listens on 127.0.0.1:PORT, else exits 1.
wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$script: nothing listens on port $1" >&2; exit 1
}
# Stops background process PID (SIGTERM, then waits) and forgets it.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}
# dendrite_node NAME PORT HTTP_PORT [JOIN_PORT]: starts dendrited from $build with
# 3 vnodes, replicas 2, dtable and metrics (on HTTP_PORT), log level $LOG_LEVEL; its
# log is $work/NAME.log, its pid $node_pid. Returns once its port listens. dtable's
# "storage" is $STORAGE (JSON; default in memory, like a Redis without
# persistence); the node runs in $work, so on-disk data goes under it. With
# $CURVE_KEYS (a directory made by curve_keys), the node speaks CURVE with the
# pair in $CURVE_KEYS/PORT/ and the lists there. With $RESP_PORT, the node also
# runs the resp plugin (Redis protocol) on 127.0.0.1:$RESP_PORT.
dendrite_node() {
  local name="$1" port="$2" http="$3" join="${4:-}"
  local joins="[]" storage="${STORAGE:-}"
  [ -n "$join" ] && joins="[\"127.0.0.1:$join\"]"
  [ -n "$storage" ] || storage='{"engine": "memory"}'
  local security='{}' k="${CURVE_KEYS:-}"
  [ -n "$k" ] && security="{\"curve\": {\"secret_key_file\": \"$k/$port/secret.key\",
    \"public_key_file\": \"$k/$port/public.key\", \"nodes\": [\"$k/nodes.txt\"],
    \"clients\": [\"$k/client/public.key\"]}}"
  local resp=""
  [ -n "${RESP_PORT:-}" ] && resp=", {\"name\": \"resp\", \"config\": {\"listen\": \"127.0.0.1:$RESP_PORT\"}}"
  cat >"$work/$name.json" <<JSON
{"listen": "127.0.0.1:$port", "join": $joins, "vnodes": 3, "replicas": 2, "security": $security,
 "log": {"level": "${LOG_LEVEL:-warn}"},
 "plugins": [{"name": "dtable", "config": {"storage": $storage}},
             {"name": "metrics", "config": {"listen": "127.0.0.1:$http"}}$resp]}
JSON
  (cd "$work" && exec "$build/bin/dendrited" --config "$work/$name.json") 2>>"$work/$name.log" &
  node_pid=$!
  pids+=("$node_pid")
  wait_port "$port"
}
# curve_keys DIR PORT...: a key pair per node port (DIR/PORT/) and for the
# clients (DIR/client/), and DIR/nodes.txt listing each node's key and
# address. Exports DENDRITE_CURVE_SECRET_KEY_FILE and DENDRITE_CURVE_NODES,
# so dendrite-cli and dendrite-bench speak CURVE from then on.
curve_keys() {
  local dir="$1" p
  shift
  mkdir -p "$dir"
  : >"$dir/nodes.txt"
  for p in "$@"; do
    echo "$("$build/bin/dendrite-cli" keygen "$dir/$p") 127.0.0.1:$p" >>"$dir/nodes.txt"
  done
  "$build/bin/dendrite-cli" keygen "$dir/client" >/dev/null
  export DENDRITE_CURVE_SECRET_KEY_FILE="$dir/client/secret.key"
  export DENDRITE_CURVE_NODES="$dir/nodes.txt"
}
# wait_ring VNODES PORT...: waits (bounded: 60 s) until every node walks the same
# ring of VNODES vnodes, else exits 1.
wait_ring() {
  local want="$1" rings count p
  shift
  for _ in $(seq 120); do
    rings=$(for p in "$@"; do "$build/bin/dendrite-cli" --node "127.0.0.1:$p" ring 2>/dev/null | md5sum; done | sort -u | wc -l || true)
    count=$("$build/bin/dendrite-cli" --node "127.0.0.1:$1" ring 2>/dev/null | grep -c '"id"' || true)
    [ "$rings" = 1 ] && [ "$count" = "$want" ] && return 0
    sleep 0.5
  done
  echo "$script: the ring of ports $* did not settle on $want vnodes within 60 s" >&2; exit 1
}
# Resident memory of PID in KiB; CPU seconds (user + system) PID has used.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / hz}' "/proc/$1/stat"; }
