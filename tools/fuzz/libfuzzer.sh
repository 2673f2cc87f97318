#!/usr/bin/env bash
# Builds and runs a libFuzzer (+ AddressSanitizer) target over the wire bridge:
# the TinyKVProto sources compiled with AddressSanitizer (whole module), and
# tools/fuzz/WireFuzz.swift with `swiftc -sanitize=fuzzer,address` linked to them.
# (Compiling the generated bridge itself with fuzzer coverage takes over 25 minutes
# with this toolchain, and the parser proper is Debian's libprotobuf-c, which is
# not instrumented anyway: libFuzzer's coverage here is the harness's and ASan's checks.)
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
mkdir -p "$OUT/module"
if [ ! -f "$OUT/TinyKVProto.o" ] || [ -n "$(find Sources/TinyKVProto -newer "$OUT/TinyKVProto.o" -name '*.swift' | head -1)" ]; then
  echo "compiling TinyKVProto with AddressSanitizer (a few minutes)"
  swiftc -swift-version 6 -parse-as-library -module-name TinyKVProto -Onone -g -wmo -sanitize=address \
    -I "$OUT/modulemap" -Xcc -I"$INCLUDE" -emit-module -emit-module-path "$OUT/module/TinyKVProto.swiftmodule" \
    -c $(find Sources/TinyKVProto -name '*.swift') -o "$OUT/TinyKVProto.o"
fi
if [ ! -x "$OUT/wire-fuzz" ] || [ "$OUT/TinyKVProto.o" -nt "$OUT/wire-fuzz" ] || [ tools/fuzz/WireFuzz.swift -nt "$OUT/wire-fuzz" ]; then
  swiftc -swift-version 6 -parse-as-library -module-name WireFuzz -Onone -g -sanitize=fuzzer,address \
    -I "$OUT/module" -I "$OUT/modulemap" -Xcc -I"$INCLUDE" tools/fuzz/WireFuzz.swift \
    "$OUT/TinyKVProto.o" "$OUT"/obj/*.o -lprotobuf-c -o "$OUT/wire-fuzz"
fi
# Seed the corpus with a few valid encodings' shapes: empty inputs of every type.
if [ -z "$(ls -A "$OUT/corpus")" ]; then
  for i in $(seq 0 180); do printf "\\x$(printf %02x $((i % 256)))" > "$OUT/corpus/seed-$i"; done
fi
exec "$OUT/wire-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 \
  -rss_limit_mb=2048 "$OUT/corpus"
