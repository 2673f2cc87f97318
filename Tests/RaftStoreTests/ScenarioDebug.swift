import Foundation
import Raft
@testable import RaftStore
@testable import Scheduler
import TinyKVProto

/// With `SCENARIO_DEBUG` set: prints every peer of every store (role, term, commit, applied,
/// log bounds, the leader's view of each follower) and the scheduler's regions and running
/// operators, so a stuck scenario shows which region is stuck and why.
func dumpClusterState(_ cluster: TestCluster, reason: String) async {
    guard ProcessInfo.processInfo.environment["SCENARIO_DEBUG"] != nil else { return }
    var lines = ["=== cluster state: \(reason)"]
    for storeID in cluster.order {
        guard let node = cluster.node(storeID) else { lines.append("store \(storeID): stopped"); continue }
        let peers: [String] = await withCheckedContinuation { continuation in
            let accepted = node.poller.inbox.push(.inspect { poller in
                let text = poller.peers.values.sorted { $0.regionID < $1.regionID }.map { peer -> String in
                    let status = peer.raw.status()
                    let epoch = peer.region.regionEpoch.map { "\($0.confVer)/\($0.version)" } ?? "-"
                    let members = peer.region.peers.map { "\($0.id)@\($0.storeId)" }.joined(separator: ",")
                    var line = "  r\(peer.regionID) p\(peer.meta.id) \(status.softState.role) lead=\(status.softState.leaderId) "
                        + "term=\(status.hardState.term) commit=\(status.hardState.commit) applied=\(peer.appliedIndex) "
                        + "log=\((try? peer.storage.firstIndex()) ?? 0)..\((try? peer.storage.lastIndex()) ?? 0) "
                        + "epoch=\(epoch) peers=[\(members)] hib=\(peer.hibernating)"
                    if !status.progress.isEmpty {
                        let progress = status.progress.sorted { $0.key < $1.key }.map { id, p in
                            "\(id):\(p.state) m\(p.match) n\(p.next)\(p.pendingSnapshot > 0 ? " snap\(p.pendingSnapshot)" : "")\(p.recentActive ? "" : " inactive")"
                        }
                        line += "\n      progress " + progress.joined(separator: "; ")
                    }
                    return line
                }
                continuation.resume(returning: text)
            })
            if !accepted { continuation.resume(returning: ["  (inbox closed)"]) }
        }
        lines.append("store \(storeID):")
        lines += peers
    }
    let server = cluster.scheduler.server
    for region in await cluster.schedulerRegions() {
        let info = server.cluster.region(id: region.id)
        let op = server.operators.operatorFor(region.id)
        let members = region.peers.map { "\($0.id)@\($0.storeId)" }.joined(separator: ",")
        lines.append("scheduler r\(region.id) epoch=\(region.regionEpoch.map { "\($0.confVer)/\($0.version)" } ?? "-") peers=[\(members)] "
            + "leader=\(info?.leader?.id ?? 0) pending=\(info?.pendingPeers.map(\.id) ?? []) "
            + (op.map { "op=\($0.desc) step \($0.currentStep)/\($0.steps.count) \($0.steps)" } ?? ""))
    }
    print(lines.joined(separator: "\n"))
}
