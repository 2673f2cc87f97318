/// One client operation as observed from outside: when it was invoked, when its
/// answer came back, and what it was.
public struct ClientOperation<Input: Sendable & Hashable, Output: Sendable & Hashable>: Sendable, Hashable {
    /// The client (process or thread) that issued it; a client runs one operation at a time.
    public var client: Int
    public var input: Input
    /// The answer, or nil when the outcome is unknown (a timeout or a lost connection):
    /// the operation may or may not have taken effect, at any time after its call.
    public var output: Output?
    /// When it was invoked, in any monotonic unit.
    public var call: Int64
    /// When its answer arrived; ignored (taken as infinity) when `output` is nil.
    public var returned: Int64

    public init(client: Int, input: Input, output: Output?, call: Int64, returned: Int64) {
        self.client = client
        self.input = input
        self.output = output
        self.call = call
        self.returned = returned
    }
}

/// A sequential specification that histories are checked against.
public protocol SequentialModel {
    associatedtype State: Hashable
    associatedtype Input: Sendable & Hashable
    associatedtype Output: Sendable & Hashable
    /// A key that splits histories into independent parts (P-compositionality): a
    /// history is linearizable when each part is. Return the same value for all
    /// operations to check the history as a whole.
    associatedtype PartitionKey: Hashable

    var initialState: State { get }
    func partition(_ input: Input) -> PartitionKey
    /// Whether `input` answered with `output` is a legal step from `state`, and the state after it.
    /// `output` is nil when the outcome is unknown; the step must then accept it.
    func step(_ state: State, _ input: Input, _ output: Output?) -> (legal: Bool, next: State)
}
