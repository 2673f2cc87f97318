// RocksDB's C API, from Debian's librocksdb-dev.
#include <rocksdb/c.h>
// zlib's crc32, for snapshot file checksums (RocksDB links zlib already).
#include <zlib.h>
