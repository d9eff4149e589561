#!/usr/bin/env bash
# Beam's Spark job server (Spark 3.5) with a Python SDK worker pool beside it; its Spark master
# is local[2] inside the job server, or with SPARK_CLUSTER=1 a standalone Spark cluster: a
# Master and a Worker (separate JVMs), the Worker starting an executor JVM per job.
#
#   tools/engines/spark.sh start     # idempotent: starts what is not running, waits until ready
#   tools/engines/spark.sh status    # what runs, and the flags to give `clipindex index`
#   tools/engines/spark.sh stop      # everything it started, SDK workers included
#   tools/engines/spark.sh fetch     # only resolve what start needs (CI warm-up)
#
# Then:
#   clipindex index --input 'clips/**' --output OUT --runner PortableRunner \
#     --job_endpoint localhost:8199 --environment_type EXTERNAL --environment_config localhost:50100
#
# The job server's classpath is tools/engines/spark/pom.xml resolved by Maven into the cache
# (Beam 2.70.0's beam-runners-spark-3 and Spark 3.5.9; the job-server jar itself is not served
# here). The standalone Master and Worker run from the same jars: $RUN/spark-home/jars links
# them, as a Spark distribution's jars/ folder would hold them (the Worker builds its
# executors' classpath from it). The executors dial the one SDK worker pool
# (tools/engines/worker_pool.py on 127.0.0.1, run by clipindex's venv, its bin first on PATH).
#
# Env (defaults): JOB_PORT 8199, ARTIFACT_PORT 8198, EXPANSION_PORT 8197, WORKER_POOL_PORT 50100,
#   SPARK_MASTER local[2] (without SPARK_CLUSTER), JOB_SERVER_MEMORY 1536m,
#   SPARK_CLUSTER 0 (1: standalone), SPARK_MASTER_PORT 7177, SPARK_MASTER_UI_PORT 8180,
#   SPARK_WORKER_UI_PORT 8181, SPARK_WORKER_CORES 2, SPARK_WORKER_MEMORY 2g, EXECUTOR_MEMORY 1g,
#   ENGINES_RUN (state: pids, logs; default $CLIPINDEX_CACHE/engines/run/spark), CLIPINDEX_VENV.
# Exit: 0 done; 1 failed to start (see the log named); 2 bad setup (port taken, no venv);
#   3 cannot be had on this machine (no java/mvn, Maven cannot resolve the jars).
set -euo pipefail
ENGINE=spark
source "$(dirname "$0")/common.sh"

RUN="${ENGINES_RUN:-$CACHE/run/spark}"
JOB_PORT=${JOB_PORT:-8199}
ARTIFACT_PORT=${ARTIFACT_PORT:-8198}
EXPANSION_PORT=${EXPANSION_PORT:-8197}
WORKER_POOL_PORT=${WORKER_POOL_PORT:-50100}
SPARK_CLUSTER=${SPARK_CLUSTER:-0}
SPARK_MASTER_PORT=${SPARK_MASTER_PORT:-7177}
SPARK_MASTER_UI_PORT=${SPARK_MASTER_UI_PORT:-8180}
SPARK_WORKER_UI_PORT=${SPARK_WORKER_UI_PORT:-8181}
SPARK_WORKER_CORES=${SPARK_WORKER_CORES:-2}
SPARK_WORKER_MEMORY=${SPARK_WORKER_MEMORY:-2g}
EXECUTOR_MEMORY=${EXECUTOR_MEMORY:-1g}
if [ "$SPARK_CLUSTER" = 1 ]; then
  SPARK_MASTER="spark://127.0.0.1:$SPARK_MASTER_PORT"
else
  SPARK_MASTER=${SPARK_MASTER:-local[2]}
fi
JOB_SERVER_MEMORY=${JOB_SERVER_MEMORY:-1536m}
# Spark's daemons bind their web UIs to this address, not to every interface.
export SPARK_LOCAL_IP=127.0.0.1

fetch() {
  need_java_maven
  JOB_SERVER_CP=$(classpath "$ENGINES_DIR/spark/pom.xml" spark-job-server)
}

spark_home() {  # a Spark distribution's layout for the standalone daemons: jars/ links
  local home="$RUN/spark-home" jar
  rm -rf "$home"
  mkdir -p "$home/jars"
  tr ':' '\n' <<<"$JOB_SERVER_CP" | while IFS= read -r jar; do
    [ -n "$jar" ] && ln -sf "$jar" "$home/jars/"
  done
  echo "$home"
}

start_standalone() {
  local home pid
  home=$(spark_home)
  # shellcheck disable=SC2086
  if ! alive master >/dev/null; then
    port_free_or_die "$SPARK_MASTER_PORT" "Spark master, SPARK_MASTER_PORT"
    port_free_or_die "$SPARK_MASTER_UI_PORT" "Spark master UI, SPARK_MASTER_UI_PORT"
    launch master "$RUN/log/master.log" java -Xmx512m $JAVA17_OPENS -cp "$home/jars/*" \
      -Dspark.master.rest.enabled=false org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port "$SPARK_MASTER_PORT" --webui-port "$SPARK_MASTER_UI_PORT"
    STARTED+=(master)
  fi
  if ! alive worker >/dev/null; then
    port_free_or_die "$SPARK_WORKER_UI_PORT" "Spark worker UI, SPARK_WORKER_UI_PORT"
    mkdir -p "$RUN/work"
    # shellcheck disable=SC2086
    launch worker "$RUN/log/worker.log" env SPARK_HOME="$home" SPARK_SCALA_VERSION=2.12 \
      java -Xmx512m $JAVA17_OPENS -cp "$home/jars/*" org.apache.spark.deploy.worker.Worker \
      "$SPARK_MASTER" --host 127.0.0.1 --cores "$SPARK_WORKER_CORES" --memory "$SPARK_WORKER_MEMORY" \
      --webui-port "$SPARK_WORKER_UI_PORT" --work-dir "$RUN/work"
    STARTED+=(worker)
  fi
  pid=$(alive master) || die "the Spark master exited (see $RUN/log/master.log)"
  wait_port "$SPARK_MASTER_PORT" 120 "the Spark master (log: $RUN/log/master.log)" "$pid"
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q "Successfully registered with master" "$RUN/log/worker.log" 2>/dev/null && return
    alive worker >/dev/null || die "the Spark worker exited (see $RUN/log/worker.log)"
    sleep 0.2
  done
  die "the Spark worker did not register within 120 s (see $RUN/log/worker.log)"
}

cmd_start() {
  local started=$SECONDS pid STARTED=()
  fetch
  clipindex_venv >/dev/null
  mkdir -p "$RUN/log" "$RUN/tmp" "$RUN/artifacts"
  exec 9>"$RUN/.lock"
  flock 9
  [ "$SPARK_CLUSTER" != 1 ] || start_standalone
  if ! alive pool >/dev/null; then
    start_worker_pool pool "127.0.0.1:$WORKER_POOL_PORT"
    STARTED+=(pool)
  fi
  if ! alive jobserver >/dev/null; then
    port_free_or_die "$JOB_PORT" "job server, JOB_PORT"
    port_free_or_die "$ARTIFACT_PORT" "artifact service, ARTIFACT_PORT"
    port_free_or_die "$EXPANSION_PORT" "expansion service, EXPANSION_PORT"
    # Spark reads spark.* system properties into its SparkConf: everything on 127.0.0.1,
    # no web UI (port 4040 and up), scratch space under the run folder.
    # shellcheck disable=SC2086
    launch jobserver "$RUN/log/jobserver.log" java "-Xmx$JOB_SERVER_MEMORY" $JAVA17_OPENS \
      -Djdk.reflect.useDirectMethodHandle=false -Dio.netty.tryReflectionSetAccessible=true \
      -Dspark.driver.host=127.0.0.1 -Dspark.driver.bindAddress=127.0.0.1 -Dspark.ui.enabled=false \
      -Dspark.local.dir="$RUN/tmp" -Djava.io.tmpdir="$RUN/tmp" -Dspark.executor.memory="$EXECUTOR_MEMORY" \
      -cp "$JOB_SERVER_CP" \
      org.apache.beam.runners.spark.SparkJobServerDriver --spark-master-url="$SPARK_MASTER" \
      --job-host=127.0.0.1 --job-port="$JOB_PORT" --artifact-port="$ARTIFACT_PORT" \
      --expansion-port="$EXPANSION_PORT" --artifacts-dir="$RUN/artifacts"
    echo "$SPARK_MASTER" >"$RUN/master"
    STARTED+=(jobserver)
  fi
  pid=$(alive pool) || die "the SDK worker pool exited (see $RUN/log/pool.log)"
  wait_port "$WORKER_POOL_PORT" 60 "the SDK worker pool (log: $RUN/log/pool.log)" "$pid"
  pid=$(alive jobserver) || die "the job server exited (see $RUN/log/jobserver.log)"
  wait_port "$JOB_PORT" 120 "the job server (log: $RUN/log/jobserver.log)" "$pid"
  if [ ${#STARTED[@]} = 0 ]; then
    say "already running"
  else
    say "started ${STARTED[*]}; ready in $((SECONDS - started)) s"
  fi
  cmd_status
}

cmd_stop() {
  [ -d "$RUN" ] || { say "nothing started (no $RUN)"; return; }
  stop_all jobserver pool
  stop_all worker master
  rm -rf "$RUN/work"  # the executors' copies of the jars, ~200 MB a job
  say "stopped"
}

cmd_status() {
  local pid
  if pid=$(alive jobserver); then
    echo "job server   pid $pid  localhost:$JOB_PORT  master $(cat "$RUN/master" 2>/dev/null)"
  else
    echo "job server   not running"
  fi
  if pid=$(alive pool); then echo "sdk pool     pid $pid  127.0.0.1:$WORKER_POOL_PORT"; else echo "sdk pool     not running"; fi
  if pid=$(alive master); then echo "master       pid $pid  ui http://127.0.0.1:$SPARK_MASTER_UI_PORT"; fi
  if pid=$(alive worker); then echo "worker       pid $pid  ui http://127.0.0.1:$SPARK_WORKER_UI_PORT"; fi
  echo "logs         $RUN/log"
  alive jobserver >/dev/null && echo "clipindex flags: --runner PortableRunner --job_endpoint localhost:$JOB_PORT" \
       "--environment_type EXTERNAL --environment_config localhost:$WORKER_POOL_PORT"
  return 0
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  fetch) fetch ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
