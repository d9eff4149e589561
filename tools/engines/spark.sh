#!/usr/bin/env bash
# Beam's Spark job server (Spark 3.5, master local[2]) with a Python SDK worker pool beside it.
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
# here). The Spark master is in the job server's JVM (SPARK_MASTER, default local[2]): its
# executors dial the one SDK worker pool (tools/engines/worker_pool.py on 127.0.0.1, run by
# clipindex's venv, that venv's bin first on PATH).
#
# Env (defaults): JOB_PORT 8199, ARTIFACT_PORT 8198, EXPANSION_PORT 8197, WORKER_POOL_PORT 50100,
#   SPARK_MASTER local[2], JOB_SERVER_MEMORY 1536m,
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
SPARK_MASTER=${SPARK_MASTER:-local[2]}
JOB_SERVER_MEMORY=${JOB_SERVER_MEMORY:-1536m}

fetch() {
  need_java_maven
  JOB_SERVER_CP=$(classpath "$ENGINES_DIR/spark/pom.xml" spark-job-server)
}

cmd_start() {
  local started=$SECONDS pid STARTED=()
  fetch
  clipindex_venv >/dev/null
  mkdir -p "$RUN/log" "$RUN/tmp" "$RUN/artifacts"
  exec 9>"$RUN/.lock"
  flock 9
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
      -Dspark.local.dir="$RUN/tmp" -Djava.io.tmpdir="$RUN/tmp" -cp "$JOB_SERVER_CP" \
      org.apache.beam.runners.spark.SparkJobServerDriver --spark-master-url="$SPARK_MASTER" \
      --job-host=127.0.0.1 --job-port="$JOB_PORT" --artifact-port="$ARTIFACT_PORT" \
      --expansion-port="$EXPANSION_PORT" --artifacts-dir="$RUN/artifacts"
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
  say "stopped"
}

cmd_status() {
  local pid
  if pid=$(alive jobserver); then
    echo "job server   pid $pid  localhost:$JOB_PORT  master $SPARK_MASTER"
  else
    echo "job server   not running"
  fi
  if pid=$(alive pool); then echo "sdk pool     pid $pid  127.0.0.1:$WORKER_POOL_PORT"; else echo "sdk pool     not running"; fi
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
