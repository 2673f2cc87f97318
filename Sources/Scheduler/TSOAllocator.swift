import Synchronization
import TinyKVProto

/// Hands out hybrid timestamps `physical_ms << 18 | logical`, strictly increasing
/// across callers, streams and restarts.
///
/// As in PD, only an upper bound of the physical part is persisted: a window
/// `saveInterval` ahead of the clock. Nothing at or above the persisted bound is ever
/// handed out, so after a restart starting at that bound is safe. The hot path is
/// a short critical section; an fsync happens about once per half window, done by
/// whichever caller notices the window running low, outside the state lock.
final class TSOAllocator: Sendable {
    /// Logical counter bits; a physical millisecond holds `maxLogical - 1` timestamps.
    static let logicalBits: UInt64 = 18
    static let maxLogical: UInt64 = 1 << logicalBits

    /// Why a request could not be served.
    enum Failure: Error, Equatable {
        case invalidCount(UInt32)
        case storage(String)
    }

    private struct State {
        var physical: UInt64 = 0
        var logical: UInt64 = 0
        /// Persisted bound: every handed-out physical is below it.
        var savedBound: UInt64
        /// A caller is already extending the window.
        var extending = false
    }

    private enum Step {
        case issued(physical: UInt64, logical: UInt64, extendTo: UInt64?)
        case mustSave(UInt64)
    }

    private let state: Mutex<State>
    /// Serializes persistence and keeps the persisted bound monotonic even when a
    /// proactive extension and a forced one race.
    private let persisted: Mutex<UInt64>
    private let window: UInt64
    private let clock: MillisecondClock
    private let save: @Sendable (UInt64) throws -> Void

    /// - Parameters:
    ///   - savedBound: the bound persisted by the previous run (0 for a new data dir).
    ///   - save: persists a new bound durably (fsync) before it may be used.
    init(savedBound: UInt64, window: UInt64, clock: @escaping MillisecondClock,
         save: @escaping @Sendable (UInt64) throws -> Void) {
        self.window = max(window, 50)
        self.clock = clock
        self.save = save
        state = Mutex(State(physical: savedBound, logical: 0, savedBound: savedBound))
        persisted = Mutex(savedBound)
    }

    /// Reserves `count` consecutive timestamps and returns the last one, as PD does;
    /// the caller owns `(physical, logical - count + 1) ... (physical, logical)`.
    func next(count: UInt32) throws(Failure) -> Schedulerpb.Timestamp {
        let count = UInt64(count)
        // All timestamps of a batch share one physical part, so a batch can hold at most maxLogical - 1.
        guard count > 0, count < Self.maxLogical else { throw .invalidCount(UInt32(count)) }
        while true {
            let now = clock()
            let step = state.withLock { s -> Step in
                if now > s.physical {
                    s.physical = now
                    s.logical = 0
                }
                if s.logical + count >= Self.maxLogical {
                    // Logical overflow: borrow the next millisecond instead of waiting for the clock.
                    s.physical += 1
                    s.logical = 0
                }
                if s.physical >= s.savedBound { return .mustSave(s.physical + window) }
                s.logical += count
                var extendTo: UInt64? = nil
                if !s.extending, s.savedBound - s.physical < window / 2 {
                    s.extending = true
                    extendTo = s.physical + window
                }
                return .issued(physical: s.physical, logical: s.logical, extendTo: extendTo)
            }
            switch step {
            case .mustSave(let bound):
                try persist(bound)
            case .issued(let physical, let logical, let extendTo):
                if let extendTo {
                    defer { state.withLock { $0.extending = false } }
                    // A failed proactive save is not fatal: the forced path retries when the window runs out.
                    try? persist(extendTo)
                }
                return Schedulerpb.Timestamp(physical: Int64(physical), logical: Int64(logical))
            }
        }
    }

    /// Extends the persisted window when less than half of it is left ahead of the clock.
    /// Called by the background loop; never needed for correctness.
    func extendIfNeeded() {
        let now = clock()
        let target: UInt64? = state.withLock { s in
            let base = max(s.physical, now)
            guard !s.extending, s.savedBound <= base || s.savedBound - base < window / 2 else { return nil }
            s.extending = true
            return base + window
        }
        guard let target else { return }
        defer { state.withLock { $0.extending = false } }
        try? persist(target)
    }

    private func persist(_ bound: UInt64) throws(Failure) {
        do {
            try persisted.withLock { current throws in
                guard bound > current else { return }
                try save(bound)
                current = bound
            }
        } catch {
            throw .storage("\(error)")
        }
        state.withLock { $0.savedBound = max($0.savedBound, bound) }
    }

    /// Packs a timestamp into the 64-bit form clients use.
    static func compose(_ ts: Schedulerpb.Timestamp) -> UInt64 {
        UInt64(ts.physical) << logicalBits | UInt64(ts.logical)
    }
}
