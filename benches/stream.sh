#!/usr/bin/env bash
# Throughput and memory of the `hl7fhir` filter on a long stream, as an operator runs it.
#
#   benches/stream.sh [MEBIBYTES]     (default 2048: 2 GiB)
#
# Builds the release binary, writes a stream of MEBIBYTES of mixed messages (every golden
# message in fixtures/v2-to-fhir, repeated, with CR, LF and CRLF segment ends and MLLP frames)
# to a temporary file, then runs `hl7fhir notify` over it with --jobs 1 and --jobs 2, reading
# stdin, and prints wall time, messages/s, MB/s and peak RSS (from /usr/bin/time -v) for each.
# The ratio jobs2/jobs1 is the scaling figure benches/README.md records; peak RSS is the
# constant-memory figure (issue: under 64 MB for a 2 GB stream).
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${1:-2048}"
cargo build --release --quiet
bin=target/release/hl7fhir
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One block of every golden message in three framings, then the block repeated to size.
block="$work/block.hl7"
for f in fixtures/v2-to-fhir/*.hl7; do
  tr '\r\n' '\r\r' < "$f" | sed 's/\r*$//' > "$work/one"
  cat "$work/one"; printf '\r'
  tr '\r' '\n' < "$work/one"; printf '\n'
  printf '\x0b'; cat "$work/one"; printf '\r\x1c\r'
done > "$block"
stream="$work/stream.hl7"
target=$((mib * 1024 * 1024))
blocksize=$(stat -c %s "$block")
copies=$(( (target + blocksize - 1) / blocksize ))
# Doubling keeps the file writes few and large.
cp "$block" "$stream"
have=1
while [ $((have * 2)) -le "$copies" ]; do
  cat "$stream" "$stream" > "$work/next" && mv "$work/next" "$stream"
  have=$((have * 2))
done
while [ "$have" -lt "$copies" ]; do cat "$block" >> "$stream"; have=$((have + 1)); done
bytes=$(stat -c %s "$stream")
# Warm the page cache so the first run is not charged for the disk.
cat "$stream" > /dev/null

echo "stream: $bytes bytes ($(awk "BEGIN{printf \"%.2f\", $bytes/1073741824}") GiB), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %10s %12s %10s %12s  %s\n' jobs seconds messages/s MB/s "peak RSS" summary
declare -A rate
for jobs in 1 2; do
  /usr/bin/time -v "$bin" notify --jobs "$jobs" < "$stream" > /dev/null 2> "$work/err"
  summary=$(grep '^hl7fhir: .* in, ' "$work/err" | tail -n 1)
  count=$(sed -E 's/^hl7fhir: ([0-9]+) in,.*/\1/' <<< "$summary")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/err")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/err")
  rate[$jobs]=$(awk "BEGIN{print $count/$secs}")
  printf '%-8s %10.1f %12.0f %10.1f %9.1f MiB  %s\n' "$jobs" "$secs" "${rate[$jobs]}" \
    "$(awk "BEGIN{print $bytes/1e6/$secs}")" "$(awk "BEGIN{print $rss/1024}")" "${summary#hl7fhir: }"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk "BEGIN{printf \"jobs 2 / jobs 1 throughput: %.2fx\n\", ${rate[2]}/${rate[1]}}"
