import Foundation
import Storage
import Synchronization
import TinyKVProto

/// Serves lease reads on the caller's thread (TiKV's LocalReader): no hop to the raft
/// thread and back. The poller publishes, per region it leads, the lease and whether the
/// leader has applied an entry of its term; everything else (no lease, an epoch or store
/// mismatch to report, a lease running out) goes through the poller as before.
final class LocalReader: Sendable {
    /// What a read needs to know about a region this store leads.
    struct Delegate: Sendable {
        var region: Metapb.Region
        /// The lease holds while the lease clock is below this.
        var leaseExpiry: Duration
        /// Renew (through the poller) once the clock passes this; asked at most once.
        var renewAfter: Duration
        var renewalAsked = false
    }

    private let delegates = Mutex<[UInt64: Delegate]>([:])
    /// Reads served here so far.
    let served = Atomic<Int>(0)
    private let storeID: UInt64
    private let kvEngine: any KVEngine
    private let clock: LeaseClock
    /// Asks the poller to renew region's lease (a ReadIndex round).
    private let renew: @Sendable (UInt64) -> Void

    init(storeID: UInt64, kvEngine: any KVEngine, clock: LeaseClock, renew: @escaping @Sendable (UInt64) -> Void) {
        self.storeID = storeID
        self.kvEngine = kvEngine
        self.clock = clock
        self.renew = renew
    }

    /// The poller: region may be read locally until `leaseExpiry` (a leader that applied an entry of its term).
    func publish(_ region: Metapb.Region, leaseExpiry: Duration, renewAfter: Duration) {
        delegates.withLock { $0[region.id] = Delegate(region: region, leaseExpiry: leaseExpiry, renewAfter: renewAfter) }
    }

    /// The poller: region may no longer be read locally (leadership changing, region changed, lease dropped).
    func revoke(_ regionID: UInt64) {
        _ = delegates.withLock { $0.removeValue(forKey: regionID) }
    }

    /// A reader for `context` if it can be served from a valid lease now; nil: ask the poller.
    func read(_ context: Kvrpcpb.Context) -> RegionReader? {
        if let peer = context.peer, peer.storeId != 0, peer.storeId != storeID { return nil }
        let now = clock.now()
        var askRenewal = false
        let found: Metapb.Region? = delegates.withLock { delegates in
            guard var delegate = delegates[context.regionId], now < delegate.leaseExpiry else { return nil }
            if let epoch = context.regionEpoch, epoch.version != delegate.region.regionEpoch?.version { return nil }
            if now >= delegate.renewAfter && !delegate.renewalAsked {
                delegate.renewalAsked = true
                delegates[context.regionId] = delegate
                askRenewal = true
            }
            return delegate.region
        }
        guard let region = found else { return nil }
        if askRenewal { renew(region.id) }
        guard let snapshot = try? kvEngine.snapshot() else { return nil }
        // The snapshot must be taken while the lease holds.
        let stillValid = delegates.withLock { $0[region.id].map { clock.now() < $0.leaseExpiry } ?? false }
        guard stillValid else { return nil }
        RaftStoreMetrics.leaseReads.increment()
        served.add(1, ordering: .relaxed)
        return RegionReader(inner: snapshot, region: region)
    }
}
