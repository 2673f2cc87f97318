/// A key-value store of registers: `get` returns the last value put (nil after a
/// delete or before any put), `put` and `delete` always succeed. Histories are
/// checked per key.
public struct KVModel: SequentialModel {
    public enum Input: Sendable, Hashable {
        case get(key: String)
        case put(key: String, value: String)
        case delete(key: String)
        /// Puts `new` only if the current value is `expected` (nil: absent).
        case compareAndSwap(key: String, expected: String?, new: String)

        public var key: String {
            switch self {
            case .get(let key), .put(let key, _), .delete(let key), .compareAndSwap(let key, _, _): return key
            }
        }
    }

    public enum Output: Sendable, Hashable {
        /// The value read (nil: not found).
        case value(String?)
        /// A write's acknowledgement.
        case ok
        /// A compare-and-swap that found another value and changed nothing.
        case failed
    }

    public init() {}

    public var initialState: String? { nil }

    public func partition(_ input: Input) -> String { input.key }

    public func step(_ state: String?, _ input: Input, _ output: Output?) -> (legal: Bool, next: String?) {
        switch input {
        case .get:
            guard let output else { return (true, state) }
            return (output == .value(state), state)
        case .put(_, let value):
            return (output == nil || output == .ok, value)
        case .delete:
            return (output == nil || output == .ok, nil)
        case .compareAndSwap(_, let expected, let new):
            let swaps = state == expected
            switch output {
            case nil: return (true, swaps ? new : state)
            case .ok?: return (swaps, new)
            case .failed?: return (!swaps, state)
            case .value?: return (false, state)
            }
        }
    }
}
