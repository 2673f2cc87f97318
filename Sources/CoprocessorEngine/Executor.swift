import Codec

/// One stage of a DAG: pulls rows from its child (or from storage) and yields its own.
///
/// Executors live for one request on one task, so they are plain classes, not `Sendable`.
protocol Executor: AnyObject {
    /// The next row, or nil when exhausted.
    func next() throws -> [Datum]?
}
