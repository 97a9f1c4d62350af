#!/usr/bin/env bash
# Issue 6: SpendLedger against the designs people build instead, in one run.
#
#   Benchmarks/peer-bench.sh [--quick] [--markdown] [--svg FILE] [--dir DIR] [--keep-data] [--reuse]
#                            [--sizes "1000000 10000000"] [--stores "ledger raw postgres sqlite"]
#
# Installs what is missing (postgresql, libpq-dev, libsqlite3-dev, liblmdb-dev, pkg-config) with
# apt-get, builds peer-bench (release, scratch path .build-peers), starts a private PostgreSQL
# server (initdb in DIR/pgdata, loopback, a free port, fsync=on, synchronous_commit=on,
# max_connections=1100, run as the postgres user when this script runs as root), runs every store
# through the same workload (one process per store and phase), prints the table with the ratios,
# and stops the server at the end, also on failure or Ctrl-C.
#
#   --quick        100k-event aggregates and small append counts: a sanity run (1-3 minutes)
#   --markdown     print the table as Markdown (for Docs/BENCHMARKS.md)
#   --svg FILE     write the chart there (default: DIR/benchmarks-peers.svg)
#   --dir DIR      where the data sets, the PostgreSQL cluster and the results go (default /tmp/peer-bench)
#   --keep-data    keep the data sets and the cluster afterwards (default: remove them, keep results)
#   --reuse        reuse data sets a previous --keep-data run left (skips loading 1M / 10M events)
#   --sizes "N .." aggregate sizes (default "1000000 10000000"; --quick: "100000")
#   --stores "..." a subset of: ledger raw postgres sqlite
#   --rounds N     run the append benchmarks N times, the stores interleaved (default 1); the
#                  table shows each store's median round and lists every round
#   --writes-only / --reads-only   one half of the run
#   --merge FILE   report FILE's figures too, replaced by this run's where both have them (to
#                  combine a full run with a rerun of the appends on a quieter machine)
set -euo pipefail
cd "$(dirname "$0")"
BENCH_DIR=$(pwd)

QUICK=0 MARKDOWN=0 KEEP=0 REUSE=0 DIR=/tmp/peer-bench SVG="" SIZES="" STORES="ledger raw postgres sqlite"
ROUNDS=1 WRITES=1 READS=1 MERGE=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --markdown) MARKDOWN=1 ;;
        --keep-data) KEEP=1 ;;
        --reuse) REUSE=1 ;;
        --dir) DIR="$2"; shift ;;
        --svg) SVG="$2"; shift ;;
        --sizes) SIZES="$2"; shift ;;
        --stores) STORES="$2"; shift ;;
        --rounds) ROUNDS="$2"; shift ;;
        --writes-only) READS=0 ;;
        --reads-only) WRITES=0 ;;
        --merge) MERGE+=("$2"); shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "peer-bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$SIZES" ] || { if [ $QUICK = 1 ]; then SIZES="100000"; else SIZES="1000000 10000000"; fi; }
[ -n "$SVG" ] || SVG="$DIR/benchmarks-peers.svg"
case "$SVG" in /*) ;; *) SVG="$(pwd)/$SVG" ;; esac

# --- Packages (like bin/setup: apt-get what is missing) ---------------------------------------
missing=()
for pkg in libpq-dev libsqlite3-dev liblmdb-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/pg_ctl" ]; then missing+=(postgresql); fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
PG_BIN=$(pg_bin)

# --- Build -----------------------------------------------------------------------------------
echo "== building peer-bench (release)"
SCRATCH="${PEER_SCRATCH:-.build-peers}"
swift build -c release --scratch-path "$SCRATCH" --product peer-bench 2>&1 | grep -v '^\[' || true
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/peer-bench"
[ -x "$BIN" ] || { echo "peer-bench.sh: the build failed" >&2; exit 1; }

mkdir -p "$DIR/data"
chmod 755 "$DIR"
RESULTS="$DIR/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"

# --- PostgreSQL: a private cluster on loopback ------------------------------------------------
PGDATA="$DIR/pgdata"
PGPID=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_pg() {
    if [ -n "$PGPID" ] && [ -f "$PGDATA/postmaster.pid" ]; then
        echo "== stopping PostgreSQL"
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -w -m fast stop >/dev/null || true
    fi
    PGPID=""
}
cleanup() {
    stop_pg
    if [ $KEEP = 0 ]; then rm -rf "$DIR/data" "$PGDATA"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CONNINFO=""
if [[ " $STORES " == *" postgres "* ]]; then
    if [ $REUSE = 0 ] || [ ! -f "$PGDATA/PG_VERSION" ]; then
        rm -rf "$PGDATA"
        mkdir -p "$PGDATA"
        [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA"
        chmod 700 "$PGDATA"
        as_pg "$PG_BIN/initdb" -D "$PGDATA" -U bench --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Durable (fsync, synchronous_commit, full_page_writes: the defaults, stated); enough
    # connections for 1,000 writers; shared_buffers large enough to hold the 10M-row table.
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -o \
        "-c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c wal_sync_method=fdatasync -c max_connections=1100 -c shared_buffers=4GB -c max_wal_size=8GB -c log_min_messages=warning" \
        start >/dev/null
    PGPID=$(head -1 "$PGDATA/postmaster.pid")
    echo "== PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') started: pid $PGPID, 127.0.0.1:$PORT, data $PGDATA"
    if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$PORT" -U bench -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'bench'" | grep -q 1; then
        "$PG_BIN/psql" -h 127.0.0.1 -p "$PORT" -U bench -d postgres -qc "CREATE DATABASE bench"
    fi
    CONNINFO="host=127.0.0.1 port=$PORT user=bench dbname=bench"
fi

# --- The runs: one process per store and phase ----------------------------------------------
COMMON=(--dir "$DIR/data" --out "$RESULTS")
[ $QUICK = 1 ] && COMMON+=(--quick)
[ $REUSE = 1 ] && COMMON+=(--reuse)
PGARGS=(--pg "$CONNINFO" --pg-data "$PGDATA")

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(df -T "$DIR" | awk 'NR==2 {print $2 " on " $1}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ $WRITES = 1 ]; then
    for round in $(seq 1 "$ROUNDS"); do
        [ "$ROUNDS" = 1 ] || echo "== appends, round $round of $ROUNDS"
        for store in $STORES; do
            "$BIN" run --store "$store" --phase write "${COMMON[@]}" "${PGARGS[@]}"
        done
    done
fi
if [ $READS = 1 ]; then
    for size in $SIZES; do
        for store in $STORES; do
            "$BIN" run --store "$store" --phase read --events "$size" "${COMMON[@]}" "${PGARGS[@]}"
        done
    done
fi

# --- The table ------------------------------------------------------------------------------
REPORT=(report "${MERGE[@]}" "$RESULTS" --svg "$SVG")
[ $MARKDOWN = 1 ] && REPORT+=(--markdown)
"$BIN" "${REPORT[@]}"
echo "results: $RESULTS"
