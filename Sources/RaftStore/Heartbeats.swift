import Foundation
import Logging
import SchedulerClient
import TinyKVProto

/// The store heartbeat loop: every `scheduler-store-heartbeat-tick-interval`, the store's
/// stats (region count, disk capacity and usage) go to the scheduler, which uses them to
/// know the store is alive and where replicas fit. Region heartbeats are sent by the
/// poller (leaders only) on their own tick and right after leadership or membership changes.
enum Heartbeats {
    static func storeLoop(storeID: UInt64, dataPath: String, interval: Duration, scheduler: any SchedulerAPI,
                          regionCount: @escaping @Sendable () -> Int, logger: Logger) -> Task<Void, Never> {
        let startTime = UInt32(Date().timeIntervalSince1970)
        return Task {
            while !Task.isCancelled {
                var stats = Schedulerpb.StoreStats(storeId: storeID)
                stats.regionCount = UInt32(regionCount())
                stats.startTime = startTime
                if let attributes = try? FileManager.default.attributesOfFileSystem(forPath: dataPath) {
                    stats.capacity = (attributes[.systemSize] as? NSNumber)?.uint64Value ?? 0
                    stats.available = (attributes[.systemFreeSize] as? NSNumber)?.uint64Value ?? 0
                    stats.usedSize = stats.capacity &- stats.available
                }
                do {
                    try await scheduler.storeHeartbeat(stats)
                } catch {
                    logger.debug("store heartbeat failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
