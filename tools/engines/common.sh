# Sourced by tools/engines/{flink,spark}.sh: the cache, Maven classpaths, processes, ports.
# Nothing here is downloaded into the repository: jars, venvs, pids and logs live under
# $CLIPINDEX_CACHE/engines (default <repo>/.cache/engines).

ENGINES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$ENGINES_DIR/../.." && pwd)"
CACHE="${CLIPINDEX_CACHE:-$REPO/.cache}/engines"
# Maven's local repository for the job servers' jars: under the cache, not ~/.m2.
M2_REPO="${ENGINES_M2:-$CACHE/m2}"
# The options Flink 1.19 and Spark 3.5 need on Java 17 (Flink's own config.yaml sets these).
JAVA17_OPENS="--add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED
--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED
--add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
--add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
--add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED
--add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED
--add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED
--add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED"
JAVA17_OPENS="${JAVA17_OPENS//$'\n'/ }"

say() { echo "$ENGINE: [$(date +%T)] $*" >&2; }
die() { echo "$ENGINE: $*" >&2; exit "${2:-1}"; }

# Exit 3 (cannot be had on this machine) without java or mvn: the tests skip on that code.
need_java_maven() {
  local tool
  for tool in java mvn; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: the $ENGINE job server needs Java 11+ and Maven" 3
  done
}

# classpath POM NAME: print the cached classpath of POM's dependencies, resolving it with
# Maven the first time (or when the pom changed, or a jar went missing). Exit 3 when Maven
# cannot resolve it (the reason line from Maven's log).
classpath() {
  local pom="$1" name="$2" key file log
  key=$(sha256sum "$pom" | cut -c1-12)
  file="$CACHE/$name-$key.classpath"
  if [ -s "$file" ] && classpath_complete "$file"; then
    cat "$file"
    return
  fi
  mkdir -p "$CACHE"
  log="$CACHE/$name-$key.mvn.log"
  say "resolving the $name classpath with Maven ($(basename "$(dirname "$pom")")/pom.xml; once, ~160 MB)"
  if ! mvn -B -q -f "$pom" -Dmaven.repo.local="$M2_REPO" \
       org.apache.maven.plugins:maven-dependency-plugin:3.6.1:build-classpath \
       -Dmdep.outputFile="$file.tmp" >"$log" 2>&1; then
    die "mvn could not resolve $pom (see $log): $(grep -m1 'ERROR' "$log" || tail -n1 "$log")" 3
  fi
  mv "$file.tmp" "$file"
  rm -f "$log"
  cat "$file"
}

classpath_complete() {  # every jar still in Maven's local repository
  tr ':' '\0' <"$1" | xargs -0 ls -d >/dev/null 2>&1
}

# Ports: every service listens on loopback (127.0.0.0/8) only.
port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

wait_port() {  # wait_port PORT SECONDS WHAT [PID [HOST]]
  local port="$1" seconds="$2" what="$3" pid="${4:-}" host="${5:-127.0.0.1}" i
  for ((i = 0; i < seconds * 5; i++)); do
    port_open "$port" "$host" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      die "$what exited before it listened on port $port (see its log)"
    fi
    sleep 0.2
  done
  die "$what did not listen on port $port within ${seconds}s (see its log)"
}

# Processes started here: one pid file each under $RUN/pids, name.pid.
alive() {  # alive NAME: its pid, if the process is running
  local f="$RUN/pids/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# launch NAME LOG CMD...: in its own session (so `stop` ends its children too), pid recorded.
launch() {
  local name="$1" log="$2"
  shift 2
  mkdir -p "$RUN/pids" "$(dirname "$log")"
  setsid "$@" </dev/null >>"$log" 2>&1 9>&- &  # fd 9: the start lock, not to be inherited
  echo $! >"$RUN/pids/$name.pid"
}

any_alive() {
  local pid
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}

# stop_all NAME... : TERM the process group of each (all at once: JVMs take seconds to
# exit), KILL what is left after 20 s; forget the pids. A NAME is a pid file under
# $RUN/pids without .pid; the leader of each group is the process recorded there.
stop_all() {
  local name pid i pids=() names=()
  for name in "$@"; do
    if pid=$(alive "$name"); then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("$name")
    fi
  done
  for ((i = 0; i < 100; i++)); do
    any_alive "${pids[@]}" || break
    sleep 0.2
  done
  for name in "$@"; do
    [ -f "$RUN/pids/$name.pid" ] || continue
    pid=$(tail -n1 "$RUN/pids/$name.pid")
    # The group may outlive its leader (an SDK worker of a pool), or the leader ignored TERM.
    kill -KILL -- "-$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN/pids/$name.pid"
  done
  [ ${#names[@]} = 0 ] || say "stopped ${names[*]}"
}

port_free_or_die() {  # port_free_or_die PORT WHAT
  if port_open "$1"; then
    die "port $1 ($2) is taken by another program; choose another (see --help)" 2
  fi
}

# The Python that runs clipindex's SDK workers: clipindex's venv, first on PATH (Beam's worker
# pool starts each SDK worker as plain `python`).
clipindex_venv() {
  local venv="${CLIPINDEX_VENV:-$REPO/.venv}"
  [ -x "$venv/bin/python" ] || die "no Python at $venv/bin/python: run 'source tools/ensure_venv.sh' (or set CLIPINDEX_VENV)" 2
  (cd "$venv" && pwd)
}

start_worker_pool() {  # start_worker_pool NAME HOST:PORT (tools/engines/worker_pool.py)
  local name="$1" address="$2" venv
  venv=$(clipindex_venv)
  launch "$name" "$RUN/log/$name.log" env PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" \
    PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" \
    "$venv/bin/python" "$ENGINES_DIR/worker_pool.py" --address "$address"
}
