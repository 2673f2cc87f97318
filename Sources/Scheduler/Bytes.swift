#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Compares two byte strings the way RocksDB and TiKV do: memcmp, shorter prefix first.
/// Region boundaries are raw (memcomparable-encoded by TinySQL) bytes, so this is the only order needed.
@inline(__always)
func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    let common = min(a.count, b.count)
    let result: Int32 = common == 0 ? 0 : a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in memcmp(pa.baseAddress!, pb.baseAddress!, common) }
    }
    if result != 0 { return result < 0 ? -1 : 1 }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

/// `a < b` in byte order.
@inline(__always)
func bytesLess(_ a: [UInt8], _ b: [UInt8]) -> Bool { compareBytes(a, b) < 0 }

/// Whether `key` lies below a region end key, where an empty end key means +infinity.
@inline(__always)
func isBelowEnd(_ key: [UInt8], _ end: [UInt8]) -> Bool { end.isEmpty || compareBytes(key, end) < 0 }

extension UInt64 {
    /// Big-endian bytes, so that keys built from IDs sort numerically in RocksDB.
    var bigEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * UInt64($0))) } }

    /// Decodes 8 big-endian bytes; nil for any other length.
    init?(bigEndianBytes bytes: [UInt8]) {
        guard bytes.count == 8 else { return nil }
        self = bytes.reduce(0) { ($0 << 8) | UInt64($1) }
    }
}
