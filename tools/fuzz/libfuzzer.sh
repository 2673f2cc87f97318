#!/usr/bin/env bash
# Builds and runs a libFuzzer (+ AddressSanitizer) target over the wire bridge:
# the TinyKVProto sources and tools/fuzz/WireFuzz.swift compiled as one module with
# `swiftc -sanitize=fuzzer,address`, the protobuf-c descriptors with clang.
#
#   tools/fuzz/libfuzzer.sh [SECONDS]        (default 60; corpus in .build-fuzz/corpus)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN="${1:-60}"
OUT="${FUZZ_BUILD:-.build-fuzz}"
mkdir -p "$OUT/obj" "$OUT/modulemap" "$OUT/corpus"
INCLUDE="$(pwd)/Sources/CTinyKVProto/include"
cat > "$OUT/modulemap/module.modulemap" <<MAP
module CTinyKVProto {
  umbrella "$INCLUDE"
  export *
  module * { export * }
}
MAP
for c in Sources/CTinyKVProto/*.c; do
  o="$OUT/obj/$(basename "$c" .c).o"
  [ "$o" -nt "$c" ] || clang -c -O1 -g -fsanitize=address,fuzzer-no-link -I "$INCLUDE" "$c" -o "$o"
done
if [ ! -x "$OUT/wire-fuzz" ] || [ -n "$(find Sources/TinyKVProto tools/fuzz -newer "$OUT/wire-fuzz" -name '*.swift' | head -1)" ]; then
  echo "compiling the fuzz target (takes a minute or two)"
  swiftc -swift-version 6 -parse-as-library -module-name TinyKVProto -Onone -g \
    -sanitize=fuzzer,address -I "$OUT/modulemap" -Xcc -I"$INCLUDE" \
    $(find Sources/TinyKVProto -name '*.swift') tools/fuzz/WireFuzz.swift \
    "$OUT"/obj/*.o -lprotobuf-c -o "$OUT/wire-fuzz"
fi
# Seed the corpus with a few valid encodings' shapes: empty inputs of every type.
if [ -z "$(ls -A "$OUT/corpus")" ]; then
  for i in $(seq 0 180); do printf "\\x$(printf %02x $((i % 256)))" > "$OUT/corpus/seed-$i"; done
fi
exec "$OUT/wire-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 \
  -rss_limit_mb=2048 "$OUT/corpus"
