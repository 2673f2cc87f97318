internal import CTinyKVProto
#if canImport(Glibc)
import Glibc
#endif

/// Memory for the protobuf-c structs of one message being encoded.
///
/// protobuf-c packs from a tree of C structs that point at each other and at byte
/// buffers; everything they point to must stay alive until `pack` returns. The
/// arena hands out that memory from a few large blocks and frees it all at once,
/// so building the tree costs no allocation per field.
final class EncodeArena {
    private static let blockSize = 4096
    private var blocks: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutableRawPointer?
    private var remaining = 0

    init() {}

    deinit {
        for block in blocks { free(block) }
    }

    /// Uninitialized memory for `count` values of `T`, aligned for `T`.
    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let alignment = max(MemoryLayout<T>.alignment, 8)
        let size = max(MemoryLayout<T>.stride * count, 1)
        if let start = cursor {
            let padding = (alignment - Int(bitPattern: start) % alignment) % alignment
            if padding + size <= remaining {
                let aligned = start + padding
                cursor = aligned + size
                remaining -= padding + size
                return aligned.bindMemory(to: T.self, capacity: count)
            }
        }
        if size + alignment > Self.blockSize / 2 {
            // Large buffers get a block of their own and leave the current block in use.
            let block = malloc(size)!
            blocks.append(block)
            return block.bindMemory(to: T.self, capacity: count)
        }
        let block = malloc(Self.blockSize)!
        blocks.append(block)
        cursor = block + size
        remaining = Self.blockSize - size
        return block.bindMemory(to: T.self, capacity: count)
    }

    /// A copy of `value` as protobuf-c binary data.
    func bytes(_ value: [UInt8]) -> ProtobufCBinaryData {
        if value.isEmpty { return ProtobufCBinaryData(len: 0, data: nil) }
        let buffer = allocate(UInt8.self, count: value.count)
        value.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: value.count) }
        return ProtobufCBinaryData(len: value.count, data: buffer)
    }

    /// A NUL-terminated copy of `value`.
    func string(_ value: String) -> UnsafeMutablePointer<CChar> {
        var utf8 = Array(value.utf8)
        utf8.append(0)
        let buffer = allocate(CChar.self, count: utf8.count)
        utf8.withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { buffer.update(from: $0.baseAddress!, count: utf8.count) }
        }
        return buffer
    }

    /// The C struct of `message`, filled in.
    func message<M: CBackedMessage>(_ message: M) -> UnsafeMutablePointer<M.CMessage> {
        let pointer = allocate(M.CMessage.self, count: 1)
        M.cInit(pointer)
        message.fill(pointer, in: self)
        return pointer
    }

    /// A C array holding `transform` of each value; nil when there are none.
    func array<Value, C>(_ values: [Value], _ transform: (Value) -> C) -> UnsafeMutablePointer<C>? {
        if values.isEmpty { return nil }
        let buffer = allocate(C.self, count: values.count)
        for (index, value) in values.enumerated() {
            (buffer + index).initialize(to: transform(value))
        }
        return buffer
    }
}
