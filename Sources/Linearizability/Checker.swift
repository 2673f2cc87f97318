/// Checks histories for linearizability, in the manner of Porcupine (Wing & Gong's
/// search with Lowe's memoization): it tries to order the operations so that each
/// takes effect between its call and its return and the model accepts the sequence.
public struct LinearizabilityChecker<Model: SequentialModel> {
    public typealias Op = ClientOperation<Model.Input, Model.Output>

    /// The outcome of a check.
    public enum Result: Sendable {
        case linearizable
        /// The operations of one partition that admit no legal order.
        case violation(partition: [Op])
        /// The search gave up after `maxSteps` (histories with very high concurrency).
        case unknown
    }

    public let model: Model
    /// An upper bound on search steps per partition, so a check always ends.
    public var maxSteps: Int

    public init(model: Model, maxSteps: Int = 5_000_000) {
        self.model = model
        self.maxSteps = maxSteps
    }

    public func check(_ history: [Op]) -> Result {
        var partitions: [Model.PartitionKey: [Op]] = [:]
        var order: [Model.PartitionKey] = []
        for op in history {
            let key = model.partition(op.input)
            if partitions[key] == nil { order.append(key) }
            partitions[key, default: []].append(op)
        }
        var sawUnknown = false
        for key in order {
            switch checkPartition(partitions[key]!) {
            case .linearizable: continue
            case .violation(let ops): return .violation(partition: ops)
            case .unknown: sawUnknown = true
            }
        }
        return sawUnknown ? .unknown : .linearizable
    }

    /// Call and return events, linked in time order; a search lifts operations out of the list.
    private struct Event {
        var op: Int
        var isCall: Bool
        var time: Int64
        var previous: Int
        var next: Int
        /// For a call, the index of its return event.
        var match: Int
    }

    private func checkPartition(_ ops: [Op]) -> Result {
        if ops.isEmpty { return .linearizable }
        let infinity = Int64.max
        // Events sorted by time; at equal times calls come first, so touching operations count as concurrent.
        var raw: [(time: Int64, isCall: Bool, op: Int)] = []
        for (index, op) in ops.enumerated() {
            raw.append((op.call, true, index))
            raw.append((op.output == nil ? infinity : max(op.returned, op.call), false, index))
        }
        raw.sort { a, b in a.time != b.time ? a.time < b.time : (a.isCall && !b.isCall) }
        // Index 0 is a sentinel head; events are 1...n.
        var events = [Event(op: -1, isCall: false, time: 0, previous: -1, next: 1, match: -1)]
        var returnOf = [Int](repeating: -1, count: ops.count)
        for (position, item) in raw.enumerated() {
            let index = position + 1
            events.append(Event(op: item.op, isCall: item.isCall, time: item.time, previous: index - 1,
                                next: index + 1 <= raw.count ? index + 1 : -1, match: -1))
            if !item.isCall { returnOf[item.op] = index }
        }
        for index in 1..<events.count where events[index].isCall {
            events[index].match = returnOf[events[index].op]
        }

        func lift(_ call: Int) {
            let ret = events[call].match
            events[events[call].previous].next = events[call].next
            if events[call].next != -1 { events[events[call].next].previous = events[call].previous }
            events[events[ret].previous].next = events[ret].next
            if events[ret].next != -1 { events[events[ret].next].previous = events[ret].previous }
        }
        func unlift(_ call: Int) {
            let ret = events[call].match
            events[events[ret].previous].next = ret
            if events[ret].next != -1 { events[events[ret].next].previous = ret }
            events[events[call].previous].next = call
            if events[call].next != -1 { events[events[call].next].previous = call }
        }

        var linearized = Bitset(count: ops.count)
        var cache: Set<CacheKey> = []
        var stack: [(call: Int, state: Model.State)] = []
        var state = model.initialState
        var cursor = events[0].next
        var steps = 0
        while events[0].next != -1 {
            steps += 1
            if steps > maxSteps { return .unknown }
            guard cursor != -1 else { return .violation(partition: ops) }
            let event = events[cursor]
            if event.isCall {
                let op = ops[event.op]
                let (legal, next) = model.step(state, op.input, op.output)
                if legal {
                    var bits = linearized
                    bits.insert(event.op)
                    if cache.insert(CacheKey(bits: bits, state: next)).inserted {
                        stack.append((cursor, state))
                        state = next
                        linearized = bits
                        lift(cursor)
                        cursor = events[0].next
                        continue
                    }
                }
                cursor = event.next
            } else {
                // A return whose call is still in the list: something before it must be undone.
                guard let (call, previousState) = stack.popLast() else { return .violation(partition: ops) }
                state = previousState
                linearized.remove(events[call].op)
                unlift(call)
                cursor = events[call].next
            }
        }
        return .linearizable
    }

    private struct CacheKey: Hashable {
        var bits: Bitset
        var state: Model.State
    }
}

/// A fixed-size set of small integers.
struct Bitset: Hashable {
    private var words: [UInt64]

    init(count: Int) { words = [UInt64](repeating: 0, count: (count + 63) / 64) }

    mutating func insert(_ index: Int) { words[index >> 6] |= 1 << UInt64(index & 63) }
    mutating func remove(_ index: Int) { words[index >> 6] &= ~(1 << UInt64(index & 63)) }
    func contains(_ index: Int) -> Bool { words[index >> 6] & (1 << UInt64(index & 63)) != 0 }
}
