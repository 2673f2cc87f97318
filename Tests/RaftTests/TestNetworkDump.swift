import TinyKVProto
@testable import Raft

extension TestNetwork {
  func dump() -> String {
    var lines: [String] = []
    for id in nodes.keys.sorted() {
      let raft = nodes[id]!.raft
      lines.append("node \(id) down=\(down.contains(id)) role=\(raft.role) term=\(raft.term) lead=\(raft.leaderId) commit=\(raft.raftLog.committed) applied=\(raft.raftLog.applied) first=\(raft.raftLog.firstIndex()) last=\(raft.raftLog.lastIndex()) sm=\(applied[id]!.count) prs=\(raft.progress.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.state)/m\($0.value.match)/n\($0.value.next)/p\($0.value.isPaused)/a\($0.value.recentActive)" })")
    }
    return lines.joined(separator: "\n")
  }
}
