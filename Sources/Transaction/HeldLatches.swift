import Synchronization

/// The latches a command holds, from ``Latches/acquire(_:then:)`` until ``release(then:)``.
///
/// A class rather than a key list so that releasing twice is caught (debug assertion; ignored in
/// release builds) and a command that forgets to release does not wedge its keys forever: the
/// latches are released when the last reference goes (again with a debug assertion).
public final class HeldLatches: Sendable {
    private let latches: Latches
    /// Distinct, sorted.
    let keys: [[UInt8]]
    private let released = Atomic<Bool>(false)

    init(_ latches: Latches, _ keys: [[UInt8]]) {
        self.latches = latches
        self.keys = keys
    }

    /// Releases the latches, then runs `afterwards` (a command sends its response here), then grants
    /// the commands that were waiting for them, on this thread: their grants may run their whole
    /// command, and the response should not wait for that.
    public func release(then afterwards: () -> Void = {}) {
        let (first, _) = released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
        guard first else {
            assertionFailure("latches released twice")
            return afterwards()
        }
        let ready = latches.release(keys)
        afterwards()
        grant(ready)
    }

    /// Grants `ready` through the thread's ``GrantRunner``: a grant whose command completes
    /// synchronously releases and grants again, and those grants run after it instead of inside it.
    private func grant(_ ready: [Latches.Waiter]) {
        for waiter in ready {
            let latches = latches
            GrantRunner.run { waiter.grant(HeldLatches(latches, waiter.keys)) }
        }
    }

    deinit {
        guard !released.load(ordering: .acquiring) else { return }
        assertionFailure("latches of \(keys.count) keys dropped without release")
        grant(latches.release(keys))
    }
}
