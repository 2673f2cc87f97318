// RocksDB's C API, from Debian's librocksdb-dev.
#include <rocksdb/c.h>
