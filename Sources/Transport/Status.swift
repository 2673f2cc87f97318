/// A gRPC status: the outcome of a call. Thrown by client calls when the
/// server answers with a non-OK code, and thrown by server handlers to
/// answer with a specific code.
public struct GRPCStatus: Error, Sendable, Equatable, CustomStringConvertible {
    /// The canonical gRPC status codes (same numbers as on the wire).
    public enum Code: Int32, Sendable, CaseIterable {
        case ok = 0
        case cancelled = 1
        case unknown = 2
        case invalidArgument = 3
        case deadlineExceeded = 4
        case notFound = 5
        case alreadyExists = 6
        case permissionDenied = 7
        case resourceExhausted = 8
        case failedPrecondition = 9
        case aborted = 10
        case outOfRange = 11
        case unimplemented = 12
        case internalError = 13
        case unavailable = 14
        case dataLoss = 15
        case unauthenticated = 16
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String = "") {
        self.code = code
        self.message = message
    }

    public init(code: Code, message: String = "") {
        self.init(code, message)
    }

    /// Maps a raw wire code; unknown numbers become `.unknown` as gRPC specifies.
    init(rawCode: Int32, message: String) {
        self.init(Code(rawValue: rawCode) ?? .unknown, message)
    }

    public static let ok = GRPCStatus(.ok)

    public var description: String {
        message.isEmpty ? "\(code)" : "\(code): \(message)"
    }

    /// The status a server sends for an error thrown by a handler.
    static func from(_ error: any Error) -> GRPCStatus {
        if let status = error as? GRPCStatus { return status }
        if error is CancellationError { return GRPCStatus(.cancelled, "handler cancelled") }
        return GRPCStatus(.unknown, String(describing: error))
    }
}
