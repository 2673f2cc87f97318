internal import CTinyKVProto

/// A generated message type that is copied into and out of its protobuf-c struct.
protocol CBackedMessage: ProtoMessage {
    associatedtype CMessage
    static func cInit(_ message: UnsafeMutablePointer<CMessage>)
    static func cPackedSize(_ message: UnsafePointer<CMessage>) -> Int
    static func cPack(_ message: UnsafePointer<CMessage>, _ out: UnsafeMutablePointer<UInt8>) -> Int
    static func cUnpack(_ count: Int, _ data: UnsafePointer<UInt8>) -> UnsafeMutablePointer<CMessage>?
    static func cFree(_ message: UnsafeMutablePointer<CMessage>)
    init(c message: UnsafePointer<CMessage>)
    func fill(_ message: UnsafeMutablePointer<CMessage>, in arena: EncodeArena)
}

/// Conversions shared by the generated bridge code.
enum CBridge {
    /// One byte to point at when the input is empty: protobuf-c wants a valid pointer.
    private static let emptyInput: [UInt8] = [0]

    static func encode<M: CBackedMessage>(_ message: M) -> [UInt8] {
        let arena = EncodeArena()
        let root = arena.message(message)
        let size = M.cPackedSize(root)
        if size == 0 { return [] }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = M.cPack(root, buffer.baseAddress!)
            assert(count == size, "protobuf-c packed \(count) bytes, expected \(size)")
        }
    }

    static func decode<M: CBackedMessage>(_ bytes: UnsafeRawBufferPointer) throws -> M {
        if WireLimits.unboundedTypes.contains(M.protoName),
           WireLimits.nestsDeeper(bytes, than: WireLimits.maxNestingDepth) {
            throw ProtoDecodingError(
                messageName: M.protoName, byteCount: bytes.count,
                reason: "messages nest deeper than \(WireLimits.maxNestingDepth) levels")
        }
        let unpacked: UnsafeMutablePointer<M.CMessage>?
        if let base = bytes.baseAddress, bytes.count > 0 {
            unpacked = M.cUnpack(bytes.count, base.assumingMemoryBound(to: UInt8.self))
        } else {
            unpacked = emptyInput.withUnsafeBufferPointer { M.cUnpack(0, $0.baseAddress!) }
        }
        guard let message = unpacked else {
            throw ProtoDecodingError(messageName: M.protoName, byteCount: bytes.count)
        }
        defer { M.cFree(message) }
        return M(c: message)
    }

    static func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard data.len > 0, let base = data.data else { return [] }
        return [UInt8](UnsafeBufferPointer(start: base, count: data.len))
    }

    static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }

    static func array<C, Value>(_ pointer: UnsafeMutablePointer<C>?, count: Int, _ transform: (C) -> Value) -> [Value] {
        guard count > 0, let pointer else { return [] }
        return UnsafeBufferPointer(start: pointer, count: count).map(transform)
    }
}
