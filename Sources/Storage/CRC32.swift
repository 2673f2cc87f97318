import CRocksDB

/// CRC-32 (IEEE 802.3, zlib's `crc32`), computed incrementally: snapshot files are
/// checksummed chunk by chunk as they are written, sent and received.
public struct CRC32: Sendable {
    private var state: UInt = 0

    public init() {}

    /// Adds `bytes` to the checksum.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        // zlib takes a 32-bit length.
        while offset < bytes.count {
            let length = min(bytes.count - offset, 1 << 30)
            state = crc32(state, (base + offset).assumingMemoryBound(to: UInt8.self), UInt32(length))
            offset += length
        }
    }

    /// Adds `bytes` to the checksum.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The checksum of everything added so far.
    public var value: UInt32 { UInt32(truncatingIfNeeded: state) }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
