/// A malformed key, row or datum: the bytes do not follow TinySQL's encodings.
public struct CodecError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
