// RocksDB's C API, from Debian's librocksdb-dev.
#include <rocksdb/c.h>
// zlib's crc32, for snapshot file checksums (RocksDB links zlib already).
#include <zlib.h>

// The prefix extractor of the `write` column family: a key without its last 8 bytes, the
// timestamp of an MVCC key. Keys shorter than that are outside its domain (no prefix filter).
static inline char *tinykv_without_timestamp(void *state, const char *key, size_t length, size_t *prefix_length) {
    (void)state;
    *prefix_length = length >= 8 ? length - 8 : length;
    return (char *)key;
}

static inline unsigned char tinykv_has_timestamp(void *state, const char *key, size_t length) {
    (void)state; (void)key;
    return length >= 8;
}

static inline unsigned char tinykv_never_in_range(void *state, const char *key, size_t length) {
    (void)state; (void)key; (void)length;
    return 0;
}

static inline const char *tinykv_without_timestamp_name(void *state) {
    (void)state;
    return "tinykv.MvccKeyWithoutTimestamp";
}

static inline void tinykv_no_state(void *state) { (void)state; }

/// A new prefix extractor that strips an MVCC key's 8-byte timestamp; owned by the caller
/// until handed to `rocksdb_options_set_prefix_extractor`.
static inline rocksdb_slicetransform_t *tinykv_without_timestamp_transform_create(void) {
    return rocksdb_slicetransform_create(NULL, tinykv_no_state, tinykv_without_timestamp,
                                         tinykv_has_timestamp, tinykv_never_in_range,
                                         tinykv_without_timestamp_name);
}
