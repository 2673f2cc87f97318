/// A protobuf message of the TinyKV wire protocol, as a Swift value.
///
/// Every message type of `proto/` conforms; the conformances are generated
/// (`make proto`). Encoding and decoding go through protobuf-c, so the bytes are
/// exactly what any other protobuf implementation produces and accepts.
public protocol ProtoMessage: Sendable, Hashable {
    /// The full protobuf name, such as `kvrpcpb.RawGetRequest`.
    static var protoName: String { get }

    /// A message with every field at its default value.
    init()

    /// Decodes a message from its protobuf encoding.
    ///
    /// - Throws: ``ProtoDecodingError`` when the bytes are not a valid encoding.
    init(decoding bytes: UnsafeRawBufferPointer) throws

    /// The protobuf encoding of the message.
    func encode() -> [UInt8]
}

extension ProtoMessage {
    /// Decodes a message from its protobuf encoding.
    public init(decoding bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try Self(decoding: $0) }
    }

    /// Decodes a message from its protobuf encoding.
    public init(decoding bytes: ArraySlice<UInt8>) throws {
        self = try bytes.withUnsafeBytes { try Self(decoding: $0) }
    }
}

/// Bytes that are not a valid protobuf encoding of the expected message.
public struct ProtoDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The full protobuf name of the message that was expected.
    public var messageName: String
    /// How many bytes were given.
    public var byteCount: Int
    /// Why, when known beyond "not a valid encoding".
    public var reason: String?

    public init(messageName: String, byteCount: Int, reason: String? = nil) {
        self.messageName = messageName
        self.byteCount = byteCount
        self.reason = reason
    }

    public var description: String {
        "cannot decode \(byteCount) bytes as \(messageName)" + (reason.map { ": \($0)" } ?? "")
    }
}
