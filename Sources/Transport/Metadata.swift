import CGRPC

/// gRPC metadata (HTTP/2 headers): an ordered list of key/value pairs.
/// Keys are lowercase ASCII; keys ending in "-bin" carry binary values that
/// the core base64-encodes on the wire (here they are exposed as String).
public struct Metadata: Sendable, Sequence, ExpressibleByArrayLiteral, CustomStringConvertible {
    public typealias Element = (key: String, value: String)

    public var entries: [Element]

    /// Keys are lowercased (HTTP/2 requires it; the core rejects others).
    public init(_ entries: [(String, String)] = []) {
        self.entries = entries.map { (key: $0.0.lowercased(), value: $0.1) }
    }

    public init(arrayLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The first value for `key` (keys compare case-insensitively).
    public subscript(key: String) -> String? {
        let lowered = key.lowercased()
        return entries.first { $0.key == lowered }?.value
    }

    /// Every value for `key`, in order.
    public func values(forKey key: String) -> [String] {
        let lowered = key.lowercased()
        return entries.filter { $0.key == lowered }.map(\.value)
    }

    public mutating func add(_ key: String, _ value: String) {
        entries.append((key: key.lowercased(), value: value))
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public func makeIterator() -> IndexingIterator<[Element]> {
        entries.makeIterator()
    }

    public var description: String {
        "[" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
    }

    /// Copies a received metadata array (owned by the caller) into Swift strings.
    init(array: UnsafePointer<grpc_metadata_array>) {
        let count = array.pointee.count
        guard count > 0, let items = array.pointee.metadata else {
            self.entries = []
            return
        }
        var entries: [Element] = []
        entries.reserveCapacity(count)
        for i in 0..<count {
            let item = items + i
            let key = withUnsafePointer(to: &item.pointee.key) { String(slice: $0) }
            let value = withUnsafePointer(to: &item.pointee.value) { String(slice: $0) }
            entries.append((key: key, value: value))
        }
        self.entries = entries
    }
}
