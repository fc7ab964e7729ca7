#!/usr/bin/env bash
# Runs the JMH suite (or the benchmarks matching $1) with the environment kat4j needs, writes the
# JSON next to the tables, and regenerates docs/benchmarks-table.md.
#   kat-bench/run.sh                 # everything, ~12 minutes on 2 cores
#   kat-bench/run.sh RationalBench   # one class
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jar="$root/kat-bench/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -pl kat-bench -am package -DskipTests)
export OMP_WAIT_POLICY=PASSIVE
out="$root/kat-bench/target/jmh.json"
java -jar "$jar" "${1:-.*}" -rf json -rff "$out" ${JMH_ARGS:-}
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Java $(java -version 2>&1 | sed -n 1p | cut -d'"' -f2), $(date -u +%Y-%m-%d)"
python3 "$root/kat-bench/report.py" "$out" "Machine: $machine" > "$root/docs/benchmarks-table.md"
echo "wrote docs/benchmarks-table.md"
