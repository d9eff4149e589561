#!/usr/bin/env bash
# A standalone Flink 1.19 cluster on this machine, with Beam's Flink job server in front of
# it and Python SDK worker pools beside its TaskManagers, the way a real cluster runs Beam
# Python pipelines: a JobManager, N TaskManagers (separate JVMs), and an EXTERNAL SDK
# environment (worker pools run by clipindex's own venv).
#
#   tools/engines/flink.sh start     # idempotent: starts what is not running, waits until ready
#   tools/engines/flink.sh status    # what runs, and the flags to give `clipindex index`
#   tools/engines/flink.sh stop      # everything it started, SDK workers included
#   tools/engines/flink.sh kill-taskmanager N   # SIGKILL TaskManager N (failure tests)
#   tools/engines/flink.sh fetch     # only fetch/resolve what start needs (CI warm-up)
#
# Then:
#   clipindex index --input 'clips/**' --output OUT --runner PortableRunner \
#     --job_endpoint localhost:8099 --environment_type EXTERNAL --environment_config sdk-pool:50000
#
# What it uses (all cached under $CLIPINDEX_CACHE/engines, nothing in the repository):
# - the job server's classpath: tools/engines/flink/pom.xml resolved by Maven (Beam 2.70.0's
#   beam-runners-flink-1.19; the job-server jar itself is not served here);
# - Flink 1.19.3's bin/ and lib/ (flink-dist) from PyPI's apache-flink and
#   apache-flink-libraries (tools/engines/pyflink.txt), in a venv of their own;
# - one SDK worker pool per TaskManager, run by clipindex's venv ($CLIPINDEX_VENV, default
#   .venv; its bin first on PATH, as the pool starts each SDK worker as plain `python`).
# The EXTERNAL environment names one address, SDK_POOL_HOST:WORKER_POOL_PORT, which every
# TaskManager dials; as on Kubernetes (a pool sidecar per TaskManager pod), each must reach
# its own pool (a shared pool mixes up the TaskManagers' workers: tools/engines/worker_pool.py
# says why). TaskManager i resolves SDK_POOL_HOST through a hosts file of its own
# (-Djdk.net.hosts.file) to 127.0.0.(10+i), where its pool listens (worker_pool.py: Beam's
# worker_pool_main servicer bound to one address).
#
# Env (defaults): FLINK_RPC_PORT 6123, FLINK_REST_PORT 8081, JOB_PORT 8099, ARTIFACT_PORT 8098,
#   EXPANSION_PORT 8097, WORKER_POOL_PORT 50000, SDK_POOL_HOST sdk-pool, TASKMANAGERS 2, SLOTS 2 (per TaskManager),
#   TM_MEMORY 1280m, JM_MEMORY 1024m, RESTART_ATTEMPTS 5 (3 s apart),
#   ENGINES_RUN (state: config, pids, logs; default $CLIPINDEX_CACHE/engines/run/flink),
#   CLIPINDEX_VENV, PYFLINK_PYTHON (a CPython 3.8-3.11 for the PyFlink venv; default: found).
# Exit: 0 done; 1 failed to start (see the log named); 2 bad setup (port taken, no venv);
#   3 cannot be had on this machine (no java/mvn, Maven cannot resolve the jars).
set -euo pipefail
ENGINE=flink
source "$(dirname "$0")/common.sh"

RUN="${ENGINES_RUN:-$CACHE/run/flink}"
FLINK_RPC_PORT=${FLINK_RPC_PORT:-6123}
FLINK_REST_PORT=${FLINK_REST_PORT:-8081}
JOB_PORT=${JOB_PORT:-8099}
ARTIFACT_PORT=${ARTIFACT_PORT:-8098}
EXPANSION_PORT=${EXPANSION_PORT:-8097}
WORKER_POOL_PORT=${WORKER_POOL_PORT:-50000}
SDK_POOL_HOST=${SDK_POOL_HOST:-sdk-pool}
TASKMANAGERS=${TASKMANAGERS:-2}
SLOTS=${SLOTS:-2}
TM_MEMORY=${TM_MEMORY:-1280m}
JM_MEMORY=${JM_MEMORY:-1024m}
RESTART_ATTEMPTS=${RESTART_ATTEMPTS:-5}
CONF="$RUN/conf"

# --- Flink's files: PyPI's apache-flink (bin/) and apache-flink-libraries (lib/) ---------
pyflink_python() {
  local candidate
  for candidate in "${PYFLINK_PYTHON:-}" python3.11 python3.10 python3.9 python3.8 python3; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(not (3, 8) <= sys.version_info[:2] <= (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  die "no CPython 3.8-3.11 for PyFlink 1.19's files (set PYFLINK_PYTHON)" 3
}

flink_home() {  # print FLINK_HOME (the installed pyflink package: bin/, lib/, conf/)
  local reqs="$ENGINES_DIR/pyflink.txt" key venv home python
  key=$(sha256sum "$reqs" | cut -c1-12)
  venv="$CACHE/pyflink-$key"
  if [ ! -f "$venv/.complete" ]; then
    python=$(pyflink_python)
    say "installing Flink 1.19's files from PyPI into $venv (once, ~230 MB)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # --no-deps: only the files are used; PyFlink's own dependencies (an old Beam) are not.
    if ! "$venv/bin/python" -m pip install -q --no-deps --require-hashes -r "$reqs" >"$venv.log" 2>&1; then
      die "pip could not install $reqs (see $venv.log): $(tail -n1 "$venv.log")" 3
    fi
    touch "$venv/.complete"
  fi
  home=$(echo "$venv"/lib/python3*/site-packages/pyflink)
  ls "$home"/lib/flink-dist-*.jar >/dev/null 2>&1 || die "no flink-dist jar in $home/lib" 1
  echo "$home"
}

write_conf() {
  local home="$1"
  mkdir -p "$CONF" "$RUN/log" "$RUN/tmp" "$RUN/pids" "$RUN/artifacts"
  cp "$home"/conf/log4j*.properties "$CONF/"
  local i
  for ((i = 1; i <= TASKMANAGERS; i++)); do  # TaskManager i's own SDK worker pool
    printf '127.0.0.1 localhost %s\n::1 localhost\n%s %s\n' "$(hostname)" "$(pool_ip "$i")" "$SDK_POOL_HOST" \
      >"$CONF/hosts-tm$i"
  done
  # Flink 1.19's config.yaml (standard YAML). Everything on 127.0.0.1; modest memory.
  cat >"$CONF/config.yaml" <<EOF
env:
  java:
    opts:
      all: $JAVA17_OPENS
  log:
    dir: $RUN/log
  pid:
    dir: $RUN/pids
jobmanager:
  bind-host: 127.0.0.1
  rpc:
    address: 127.0.0.1
    port: $FLINK_RPC_PORT
  memory:
    process:
      size: $JM_MEMORY
  execution:
    failover-strategy: region
taskmanager:
  bind-host: 127.0.0.1
  host: 127.0.0.1
  numberOfTaskSlots: $SLOTS
  memory:
    process:
      size: $TM_MEMORY
    managed:
      fraction: 0.1
    # Beam's batch translation deploys every stage at once: more network buffers than the
    # 64 MB default ("Insufficient number of network buffers: required 512, but only 477").
    network:
      min: 128m
      max: 128m
rest:
  address: 127.0.0.1
  bind-address: 127.0.0.1
  port: $FLINK_REST_PORT
parallelism:
  default: $SLOTS
cluster:
  evenly-spread-out-slots: true  # a job of parallelism 2 uses both TaskManagers
restart-strategy:
  type: fixed-delay
  fixed-delay:
    attempts: $RESTART_ATTEMPTS
    delay: 3 s
metrics:
  fetcher:
    update-interval: 1000  # REST job metrics (tests wait on them)
heartbeat:
  interval: 2000
  timeout: 15000
io:
  tmp:
    dirs: $RUN/tmp
web:
  tmpdir: $RUN/tmp
EOF
}

pool_ip() { echo "127.0.0.$((10 + $1))"; }

flink_env() {  # the environment Flink's scripts read
  export FLINK_CONF_DIR="$CONF" FLINK_LOG_DIR="$RUN/log" FLINK_PID_DIR="$RUN/pids"
}

rest() { curl -fsS --max-time 5 "http://127.0.0.1:$FLINK_REST_PORT$1"; }

registered_taskmanagers() {
  rest /taskmanagers 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["taskmanagers"]))' \
    2>/dev/null || echo 0
}

# flink-daemon.sh writes one pid file per FLINK_IDENT_STRING: jm, tm1, tm2, ...
daemon_pid() {  # daemon_pid IDENT SERVICE
  local f="$RUN/pids/flink-$1-$2.pid" pid
  [ -f "$f" ] || return 1
  pid=$(tail -n1 "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Each start_* launches what is not running (checking its ports first); wait_ready then waits
# for all of them: the JVMs start side by side (a TaskManager retries until the JobManager
# answers), about 25 s on 2 cores instead of 60 one after the other.
start_jobmanager() {
  local home="$1"
  daemon_pid jm standalonesession >/dev/null && return
  port_free_or_die "$FLINK_RPC_PORT" "JobManager RPC, FLINK_RPC_PORT"
  port_free_or_die "$FLINK_REST_PORT" "JobManager REST, FLINK_REST_PORT"
  FLINK_IDENT_STRING=jm "$home/bin/jobmanager.sh" start >>"$RUN/log/scripts.log" 2>&1 9>&-
  daemon_pid jm standalonesession >/dev/null || die "the JobManager did not start (see $RUN/log)"
  STARTED+=(jobmanager)
}

start_taskmanagers() {
  local home="$1" i
  for ((i = 1; i <= TASKMANAGERS; i++)); do
    daemon_pid "tm$i" taskexecutor >/dev/null && continue
    rm -f "$RUN/pids/flink-tm$i-taskexecutor.pid"  # one TaskManager per ident: a dead one is forgotten
    # taskmanager.sh computes the JVM's memory flags with a JVM of its own (seconds): in parallel.
    FLINK_IDENT_STRING="tm$i" FLINK_ENV_JAVA_OPTS_TM="-Djdk.net.hosts.file=$CONF/hosts-tm$i" \
      "$home/bin/taskmanager.sh" start >>"$RUN/log/scripts.log" 2>&1 9>&- &
    STARTED+=("taskmanager$i")
  done
  wait
}

start_worker_pools() {
  local i
  for ((i = 1; i <= TASKMANAGERS; i++)); do
    alive "pool$i" >/dev/null && continue
    start_worker_pool "pool$i" "$(pool_ip "$i"):$WORKER_POOL_PORT"
    STARTED+=("pool$i")
  done
}

wait_ready() {
  local i pid
  pid=$(daemon_pid jm standalonesession) || die "the JobManager exited (see $RUN/log/flink-jm-*.log)"
  wait_port "$FLINK_REST_PORT" 120 "the JobManager (log: $RUN/log/flink-jm-standalonesession-0-*.log)" "$pid"
  for ((i = 0; i < 600; i++)); do
    [ "$(registered_taskmanagers)" -ge "$TASKMANAGERS" ] && break
    sleep 0.2
  done
  [ "$(registered_taskmanagers)" -ge "$TASKMANAGERS" ] \
    || die "only $(registered_taskmanagers) of $TASKMANAGERS TaskManagers registered within 120 s (see $RUN/log)"
  for ((i = 1; i <= TASKMANAGERS; i++)); do
    pid=$(alive "pool$i") || die "SDK worker pool $i exited (see $RUN/log/pool$i.log)"
    wait_port "$WORKER_POOL_PORT" 60 "SDK worker pool $i (log: $RUN/log/pool$i.log)" "$pid" "$(pool_ip "$i")"
  done
  pid=$(alive jobserver) || die "the job server exited (see $RUN/log/jobserver.log)"
  wait_port "$JOB_PORT" 120 "the job server (log: $RUN/log/jobserver.log)" "$pid"
}

start_job_server() {
  local cp="$1"
  alive jobserver >/dev/null && return
  port_free_or_die "$JOB_PORT" "job server, JOB_PORT"
  port_free_or_die "$ARTIFACT_PORT" "artifact service, ARTIFACT_PORT"
  port_free_or_die "$EXPANSION_PORT" "expansion service, EXPANSION_PORT"
  # shellcheck disable=SC2086
  launch jobserver "$RUN/log/jobserver.log" java -Xmx768m $JAVA17_OPENS \
    -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS -cp "$cp" \
    org.apache.beam.runners.flink.FlinkJobServerDriver \
    --flink-master="127.0.0.1:$FLINK_REST_PORT" --flink-conf-dir="$CONF" \
    --job-host=127.0.0.1 --job-port="$JOB_PORT" --artifact-port="$ARTIFACT_PORT" \
    --expansion-port="$EXPANSION_PORT" --artifacts-dir="$RUN/artifacts"
  STARTED+=(jobserver)
}

fetch() {
  need_java_maven
  JOB_SERVER_CP=$(classpath "$ENGINES_DIR/flink/pom.xml" flink-job-server)
  FLINK_HOME=$(flink_home)
}

cmd_start() {
  local started=$SECONDS
  fetch
  clipindex_venv >/dev/null
  mkdir -p "$RUN"
  exec 9>"$RUN/.lock"
  flock 9  # two starts at once: the second waits, then finds everything running
  write_conf "$FLINK_HOME"
  flink_env
  STARTED=()
  start_jobmanager "$FLINK_HOME"
  start_taskmanagers "$FLINK_HOME"
  start_worker_pools
  start_job_server "$JOB_SERVER_CP"
  wait_ready
  if [ ${#STARTED[@]} = 0 ]; then
    say "already running"
  else
    say "started ${STARTED[*]}; ready in $((SECONDS - started)) s"
  fi
  cmd_status
}

cmd_stop() {
  local names=() f
  [ -d "$RUN/pids" ] || { say "nothing started (no $RUN/pids)"; return; }
  # The job server first (it holds the jobs), then all the others at once. Flink's daemons
  # run in their own sessions too (flink-daemon.sh: nohup ... &, not a group leader: the pid
  # is signalled alone).
  stop_all jobserver
  for f in "$RUN"/pids/*.pid; do
    [ -f "$f" ] && names+=("$(basename "$f" .pid)")
  done
  [ ${#names[@]} = 0 ] || stop_all "${names[@]}"
  say "stopped"
}

cmd_status() {
  local pid i running=0
  if pid=$(daemon_pid jm standalonesession); then
    echo "jobmanager   pid $pid  rest http://127.0.0.1:$FLINK_REST_PORT  taskmanagers registered: $(registered_taskmanagers)"
    running=1
  else
    echo "jobmanager   not running"
  fi
  for ((i = 1; i <= TASKMANAGERS; i++)); do
    if pid=$(daemon_pid "tm$i" taskexecutor); then echo "taskmanager$i pid $pid"; else echo "taskmanager$i not running"; fi
    if pid=$(alive "pool$i"); then echo "sdk pool$i    pid $pid  $(pool_ip "$i"):$WORKER_POOL_PORT ($SDK_POOL_HOST for taskmanager$i)"; else echo "sdk pool$i    not running"; fi
  done
  if pid=$(alive jobserver); then
    echo "job server   pid $pid  localhost:$JOB_PORT"
  else
    echo "job server   not running"
  fi
  echo "logs         $RUN/log"
  [ "$running" = 1 ] && echo "clipindex flags: --runner PortableRunner --job_endpoint localhost:$JOB_PORT" \
       "--environment_type EXTERNAL --environment_config $SDK_POOL_HOST:$WORKER_POOL_PORT"
  return 0
}

cmd_kill_taskmanager() {
  local i="${1:?kill-taskmanager N}" pid
  pid=$(daemon_pid "tm$i" taskexecutor) || die "TaskManager $i is not running" 2
  kill -KILL "$pid"
  say "SIGKILLed TaskManager $i (pid $pid)"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  fetch) fetch; echo "$FLINK_HOME" ;;
  kill-taskmanager) cmd_kill_taskmanager "${2:-}" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
