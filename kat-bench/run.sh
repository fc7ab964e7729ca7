#!/usr/bin/env bash
# Runs the JMH suite (or the benchmarks matching $1) with the environment kat4j needs, writes the
# JSON next to the tables, and regenerates docs/benchmarks-table.md.
#   kat-bench/run.sh                 # everything, ~15 minutes on 2 cores
#   kat-bench/run.sh RationalBench   # one class
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jar="$root/kat-bench/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -pl kat-bench -am package -DskipTests)
export OMP_WAIT_POLICY=PASSIVE
out="$root/kat-bench/target/jmh.json"
java -jar "$jar" "${1:-.*}" -rf json -rff "$out" ${JMH_ARGS:-}
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Java $(java -version 2>&1 | sed -n 1p | cut -d'"' -f2), $(date -u +%Y-%m-%d)"
python3 "$root/kat-bench/report.py" "$out" "Machine: $machine" "$root/kat-bench/target/chart.tsv" \
    > "$root/docs/benchmarks-table.md"
java -cp "$jar" org.kat4j.bench.BarChart "$root/kat-bench/target/chart.tsv" "$root/docs/benchmarks.png" \
    "kat4j: each benchmark against its baseline from the same run (1 = baseline speed)" "ratio"
echo "wrote docs/benchmarks-table.md and docs/benchmarks.png"
