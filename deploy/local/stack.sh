#!/usr/bin/env bash
# Local service stack for journey-stitcher: a single-node Apache Kafka (KRaft,
# combined broker+controller) and a Redis server, both on 127.0.0.1, both run
# as plain processes of ours (no Docker, no systemd).
#
#   deploy/local/stack.sh up      start both (idempotent), wait until they answer,
#                                 print KAFKA_BOOTSTRAP_SERVERS=... / REDIS_URL=...
#                                 as the last two lines of stdout (eval-able)
#   deploy/local/stack.sh down    stop both (SIGTERM, wait, SIGKILL); idempotent
#   deploy/local/stack.sh status  say what runs; exit 0 only when both answer
#   deploy/local/stack.sh env     print the two lines without starting anything
#   deploy/local/stack.sh reset   down, then wipe the data (not the jar cache)
#   deploy/local/stack.sh logs    print the tails of the log files
#
# Kafka's jars come from Maven Central through Maven (deploy/local/kafka/pom.xml)
# into .cache/kafka/<version>/libs, once.  redis-server comes from apt when it is
# missing.  Progress goes to stderr; only the two result lines go to stdout.
#
# Environment (all optional):
#   STACK_KAFKA_VERSION            Kafka release (default below)
#   STACK_KAFKA_PORT               broker port (19092)
#   STACK_KAFKA_CONTROLLER_PORT    KRaft controller port (broker port + 1)
#   STACK_REDIS_PORT               Redis port (16379)
#   STACK_KAFKA_HEAP               JVM heap flags ("-Xms256m -Xmx512m")
#   STACK_KAFKA_JVM_OPTS           extra JVM flags for Kafka
#   STACK_TIMEOUT                  seconds to wait for each service (120)
#   STACK_DATA_DIR                 data, logs and pid files (<repo>/.local)
#   STACK_CACHE_DIR                downloaded jars (<repo>/.cache)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local"

KAFKA_VERSION="${STACK_KAFKA_VERSION:-4.4.0}"
HOST=127.0.0.1
KAFKA_PORT="${STACK_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${STACK_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
REDIS_PORT="${STACK_REDIS_PORT:-16379}"
KAFKA_HEAP="${STACK_KAFKA_HEAP:--Xms256m -Xmx512m}"
TIMEOUT="${STACK_TIMEOUT:-120}"
DATA_DIR="${STACK_DATA_DIR:-$ROOT/.local}"
CACHE_DIR="${STACK_CACHE_DIR:-$ROOT/.cache}"

KAFKA_HOME="$CACHE_DIR/kafka/$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DIR="$DATA_DIR/kafka"
KAFKA_LOG_DIR="$KAFKA_DIR/logs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_OUT="$KAFKA_LOG_DIR/kafka.out"
KAFKA_LOG="$KAFKA_LOG_DIR/server.log"
REDIS_DIR="$DATA_DIR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

KAFKA_BOOTSTRAP="$HOST:$KAFKA_PORT"
REDIS_URL="redis://$HOST:$REDIS_PORT/0"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- processes --

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)"
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# pid_alive PIDFILE PATTERN -> prints the pid when the process in PIDFILE is alive
# and its command line contains PATTERN (guards against recycled pids).
pid_alive() {
    local pidfile="$1" pattern="$2" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] && alive "$pid" || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$pattern" || return 1
    printf '%s\n' "$pid"
}

# our_pids PATTERN... -> pids whose command line contains every PATTERN (used to
# find our own processes when a pid file went missing: Kafka's includes the
# server.properties path of this checkout, Redis's its host:port title).
our_pids() {
    local dir pid cmd p ok
    for dir in /proc/[0-9]*; do
        pid="${dir#/proc/}"
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        cmd="$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline")" || continue
        ok=1
        for p in "$@"; do [[ "$cmd" == *"$p"* ]] || { ok=0; break; }; done
        ((ok)) && printf '%s\n' "$pid"
    done
    return 0
}

kafka_pid() {
    pid_alive "$KAFKA_PID" "kafka.Kafka" \
        || our_pids "kafka.Kafka" "$KAFKA_CONF" | head -n1
}
redis_pid() {
    pid_alive "$REDIS_PID" "redis-server" \
        || our_pids "redis-server" "$HOST:$REDIS_PORT" | head -n1
}

# stop_pid NAME PID: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
    local name="$1" pid="$2" i
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        alive "$pid" || { log "$name stopped"; return 0; }
        sleep 0.1
    done
    log "$name did not stop within 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    die "could not kill $name (pid $pid)"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# ------------------------------------------------------------------ python --

python_bin() {
    local p
    for p in python3 "$ROOT/.venv/bin/python"; do
        command -v "$p" >/dev/null 2>&1 && { printf '%s\n' "$p"; return 0; }
    done
    die "python3 is needed for the Kafka readiness probe"
}

# kafka_probe: a real ApiVersions + Metadata round trip with the standard library
# only (works before .venv exists).  Succeeds when the broker lists itself as a
# live (unfenced) broker; prints "cluster_id=<id> brokers=<n>".
kafka_probe() {
    "$(python_bin)" - "$HOST" "$KAFKA_PORT" <<'PY'
import socket
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])
CLIENT_ID = b"stack.sh"


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return bytes(buf)


def call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    msg = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    data = recv_exact(sock, size)
    (got,) = struct.unpack_from(">i", data, 0)
    if got != corr:
        raise ValueError(f"correlation id {got} != {corr}")
    return data[4:]


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s


with socket.create_connection((host, port), timeout=5) as sock:
    sock.settimeout(10)
    # ApiVersions v0: empty body; response: error, [api_key, min, max].
    r = Reader(call(sock, 18, 0, 1, b""))
    error = r.take(">h")
    if error:
        raise SystemExit(f"ApiVersions error {error}")
    versions = {}
    for _ in range(r.take(">i")):
        key, lo, hi = r.take(">h"), r.take(">h"), r.take(">h")
        versions[key] = (lo, hi)
    lo, hi = versions.get(3, (0, -1))
    version = max(lo, min(hi, 8))
    if not 4 <= version <= 8 or version > hi:
        # No non-flexible Metadata version we can encode: ApiVersions must do.
        print(f"api_versions={len(versions)}")
        raise SystemExit(0)
    # Metadata v4..v8: topics=[] (no topics, just brokers), allow_auto_create=0,
    # v8 adds include_cluster/topic_authorized_operations.
    body = struct.pack(">ib", 0, 0) + (struct.pack(">bb", 0, 0) if version >= 8 else b"")
    r = Reader(call(sock, 3, version, 2, body))
    r.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(r.take(">i")):
        node_id = r.take(">i")
        broker_host = r.string()
        broker_port = r.take(">i")
        r.string()  # rack
        brokers.append((node_id, broker_host, broker_port))
    cluster_id = r.string()
    if not brokers:
        raise SystemExit("no live broker in the metadata yet")
    print(f"cluster_id={cluster_id} brokers={len(brokers)} metadata_v{version}")
PY
}

redis_cli() { redis-cli -h "$HOST" -p "$REDIS_PORT" "$@"; }
redis_probe() { [[ "$(redis_cli ping 2>/dev/null)" == "PONG" ]]; }

# ------------------------------------------------------------------- kafka --

ensure_kafka_jars() {
    if [[ -f "$KAFKA_HOME/.complete" ]]; then
        return 0
    fi
    command -v java >/dev/null 2>&1 || die "java (17+) is needed to run Kafka"
    command -v mvn >/dev/null 2>&1 || die "mvn is needed to fetch the Kafka jars"
    log "resolving Kafka $KAFKA_VERSION jars from Maven Central (first use only)"
    local tmp="$KAFKA_HOME/libs.tmp.$$" mvn_log="$KAFKA_HOME/mvn.log" start=$SECONDS
    rm -rf "$tmp" && mkdir -p "$tmp"
    if ! mvn -B -q -f "$HERE/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" \
        </dev/null >"$mvn_log" 2>&1; then
        rm -rf "$tmp"
        tail -n 30 "$mvn_log" >&2
        die "mvn could not resolve Kafka $KAFKA_VERSION; see $mvn_log"
    fi
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] \
        || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"; }
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    touch "$KAFKA_HOME/.complete"
    log "Kafka jars ready in $KAFKA_LIBS ($((SECONDS - start)) s)"
}

write_kafka_config() {
    mkdir -p "$KAFKA_DATA" "$KAFKA_LOG_DIR"
    cat >"$KAFKA_CONF.tmp" <<EOF
# Generated by deploy/local/stack.sh -- edits are overwritten.
# Single-node KRaft: one process is both broker and controller.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
log.dirs=$KAFKA_DATA

# Suited to tests on a small machine.
auto.create.topics.enable=true
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.retention.hours=24
log.segment.bytes=67108864
EOF
    mv "$KAFKA_CONF.tmp" "$KAFKA_CONF"
}

# kafka_java: the JVM command line (NUL-separated) before the main class.
# TieredStopAtLevel=1 (C1 only): ~1 s faster start and no C2 compile threads
# competing with the tests on a 2-core machine; a test broker never gets hot.
kafka_java() {
    # shellcheck disable=SC2086  # KAFKA_HEAP and STACK_KAFKA_JVM_OPTS are flag lists
    printf '%s\0' java $KAFKA_HEAP ${STACK_KAFKA_JVM_OPTS:-} \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -XX:TieredStopAtLevel=1 -Xss512k \
        -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$HERE/kafka/log4j2.properties" \
        -Dkafka.logs.dir="$KAFKA_LOG_DIR" \
        -cp "$KAFKA_LIBS/*"
}

format_kafka_storage() {
    [[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
    local cluster_id
    cluster_id="$("$(python_bin)" -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not s.startswith("-"):
        print(s)
        break')"
    log "formatting KRaft storage in $KAFKA_DATA (cluster id $cluster_id)"
    local -a cmd
    mapfile -d '' cmd < <(kafka_java)
    if ! "${cmd[@]}" kafka.tools.StorageTool format --standalone \
        -t "$cluster_id" -c "$KAFKA_CONF" >"$KAFKA_LOG_DIR/format.log" 2>&1; then
        cat "$KAFKA_LOG_DIR/format.log" >&2
        die "Kafka storage format failed (log: $KAFKA_LOG_DIR/format.log)"
    fi
}

start_kafka() {
    local pid
    if pid="$(kafka_pid)" && [[ -n "$pid" ]]; then
        log "Kafka already running (pid $pid)"
        return 0
    fi
    if port_open "$KAFKA_PORT"; then
        die "port $KAFKA_PORT is taken by another process; set STACK_KAFKA_PORT"
    fi
    if port_open "$KAFKA_CONTROLLER_PORT"; then
        die "port $KAFKA_CONTROLLER_PORT is taken; set STACK_KAFKA_CONTROLLER_PORT"
    fi
    ensure_kafka_jars
    write_kafka_config
    format_kafka_storage
    log "starting Kafka $KAFKA_VERSION on $KAFKA_BOOTSTRAP (log: $KAFKA_LOG)"
    local -a cmd
    mapfile -d '' cmd < <(kafka_java)
    : >"$KAFKA_OUT"
    # setsid: its own session, so a Ctrl-C in the calling terminal or make does
    # not reach it; the wrapper records the pid that then execs the JVM.
    # shellcheck disable=SC2016  # $$, $1 and $@ belong to the inner shell
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' stack-kafka "$KAFKA_PID" \
        "${cmd[@]}" kafka.Kafka "$KAFKA_CONF" </dev/null >>"$KAFKA_OUT" 2>&1 9>&- &
}

wait_kafka() {
    local deadline=$((SECONDS + TIMEOUT)) out pid
    while :; do
        if out="$(kafka_probe 2>/dev/null)"; then
            log "Kafka ready on $KAFKA_BOOTSTRAP ($out)"
            return 0
        fi
        if ! pid="$(kafka_pid)" || [[ -z "$pid" ]]; then
            [[ -s "$KAFKA_OUT" ]] && tail -n 20 "$KAFKA_OUT" >&2
            [[ -s "$KAFKA_LOG" ]] && tail -n 30 "$KAFKA_LOG" >&2
            die "Kafka exited during startup; see $KAFKA_LOG and $KAFKA_OUT"
        fi
        if ((SECONDS >= deadline)); then
            [[ -s "$KAFKA_LOG" ]] && tail -n 30 "$KAFKA_LOG" >&2
            die "Kafka did not answer on $KAFKA_BOOTSTRAP within ${TIMEOUT}s; see $KAFKA_LOG"
        fi
        sleep 0.5
    done
}

# ------------------------------------------------------------------- redis --

ensure_redis_binary() {
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
        && return 0
    local sudo=""
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "redis-server is missing and we are not root"
        sudo="sudo -n"
    fi
    log "installing redis-server with apt-get"
    # Keep the package's init script from starting a system-wide Redis on 6379:
    # policy-rc.d exit code 101 = "action forbidden" (removed right after).
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        added_policy=1
    fi
    local rc=0 apt_log="$DATA_DIR/apt-redis.log"
    mkdir -p "$DATA_DIR"
    {
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q \
            && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                --no-install-recommends redis-server
    } </dev/null >"$apt_log" 2>&1 || rc=$?
    ((added_policy)) && $sudo rm -f "$policy"
    if ((rc != 0)); then
        tail -n 30 "$apt_log" >&2
        die "apt-get install redis-server failed; see $apt_log"
    fi
    command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after apt-get"
}

start_redis() {
    local pid
    if pid="$(redis_pid)" && [[ -n "$pid" ]]; then
        log "Redis already running (pid $pid)"
        return 0
    fi
    if port_open "$REDIS_PORT"; then
        die "port $REDIS_PORT is taken by another process; set STACK_REDIS_PORT"
    fi
    ensure_redis_binary
    mkdir -p "$REDIS_DIR/data"
    rm -f "$REDIS_PID"
    log "starting Redis on $HOST:$REDIS_PORT (log: $REDIS_LOG)"
    # Daemonized by Redis itself (it forks and writes the pid file); setsid for
    # the same reason as Kafka.  "9>&-": daemons must not inherit the lock fd.
    if ! setsid redis-server \
        --bind "$HOST" --port "$REDIS_PORT" \
        --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" \
        --dir "$REDIS_DIR/data" --appendonly yes \
        --protected-mode yes --save "" </dev/null >&2 9>&-; then
        die "redis-server failed to start; see $REDIS_LOG"
    fi
}

wait_redis() {
    local deadline=$((SECONDS + TIMEOUT))
    while :; do
        if redis_probe; then
            log "Redis ready on $HOST:$REDIS_PORT"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            [[ -s "$REDIS_LOG" ]] && tail -n 20 "$REDIS_LOG" >&2
            die "Redis did not answer on $HOST:$REDIS_PORT within ${TIMEOUT}s; see $REDIS_LOG"
        fi
        sleep 0.2
    done
}

# ---------------------------------------------------------------- commands --

lock() {
    mkdir -p "$DATA_DIR"
    exec 9>"$DATA_DIR/.stack.lock"
    flock -w 600 9 || die "another stack.sh holds $DATA_DIR/.stack.lock"
}

print_env() {
    printf 'KAFKA_BOOTSTRAP_SERVERS=%s\n' "$KAFKA_BOOTSTRAP"
    printf 'REDIS_URL=%s\n' "$REDIS_URL"
}

cmd_up() {
    local start=$SECONDS
    lock
    start_redis
    start_kafka
    wait_redis
    wait_kafka
    log "stack up in $((SECONDS - start)) s"
    print_env
}

cmd_down() {
    lock
    local pid
    while pid="$(kafka_pid)" && [[ -n "$pid" ]]; do stop_pid Kafka "$pid"; done
    while pid="$(redis_pid)" && [[ -n "$pid" ]]; do stop_pid Redis "$pid"; done
    rm -f "$KAFKA_PID" "$REDIS_PID"
    log "stack down"
}

cmd_status() {
    local rc=0 pid out
    if pid="$(kafka_pid)" && [[ -n "$pid" ]]; then
        if out="$(kafka_probe 2>/dev/null)"; then
            log "Kafka $KAFKA_VERSION: up, pid $pid, $KAFKA_BOOTSTRAP ($out)"
        else
            log "Kafka: pid $pid but not answering on $KAFKA_BOOTSTRAP (log: $KAFKA_LOG)"
            rc=1
        fi
    else
        log "Kafka: down"
        rc=1
    fi
    if pid="$(redis_pid)" && [[ -n "$pid" ]]; then
        if redis_probe; then
            log "Redis: up, pid $pid, $HOST:$REDIS_PORT"
        else
            log "Redis: pid $pid but not answering (log: $REDIS_LOG)"
            rc=1
        fi
    else
        log "Redis: down"
        rc=1
    fi
    ((rc == 0)) && print_env
    return "$rc"
}

cmd_reset() {
    cmd_down
    log "wiping $KAFKA_DIR and $REDIS_DIR"
    rm -rf "$KAFKA_DIR" "$REDIS_DIR"
}

cmd_logs() {
    local f
    for f in "$KAFKA_LOG" "$KAFKA_OUT" "$REDIS_LOG"; do
        [[ -f "$f" ]] || continue
        printf '==> %s <==\n' "$f"
        tail -n "${LINES:-40}" "$f"
    done
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) print_env ;;
    reset) cmd_reset ;;
    logs) cmd_logs ;;
    *)
        echo "usage: $0 up|down|status|env|reset|logs" >&2
        exit 2
        ;;
esac
