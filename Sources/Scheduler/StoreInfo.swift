import TinyKVProto

/// What the scheduler knows about one store: its meta, its last stats and when it last reported.
struct StoreInfo: Sendable, Hashable {
    var meta: Metapb.Store
    var stats: Schedulerpb.StoreStats?
    /// Milliseconds; stores loaded at startup or newly put get "now" so they have a grace period.
    var lastHeartbeat: UInt64

    var id: UInt64 { meta.id }
    var isTombstone: Bool { meta.state == .tombstone }

    /// No heartbeat for longer than `maxDownTime`.
    func isDown(now: UInt64, maxDownTime: UInt64) -> Bool {
        now > lastHeartbeat && now - lastHeartbeat > maxDownTime
    }

    /// Up, alive and not busy: may receive new replicas and leaders.
    func isSchedulable(now: UInt64, maxDownTime: UInt64) -> Bool {
        meta.state == .up && !isDown(now: now, maxDownTime: maxDownTime) && !(stats?.isBusy ?? false)
    }
}
