import TinyKVProto
import Foundation
import XCTest
@testable import Raft

/// Test-only ConfChange encoding: [type, nodeId (8 bytes LE), context...].
struct TestConfChangeCodec: ConfChangeCodec {
  struct DecodeError: Error {}

  func encode(_ change: Eraftpb.ConfChange) -> [UInt8] {
    var bytes: [UInt8] = [UInt8(truncatingIfNeeded: change.changeType.rawValue)]
    withUnsafeBytes(of: change.nodeId.littleEndian) { bytes.append(contentsOf: $0) }
    return bytes + change.context
  }

  func decode(_ data: [UInt8]) throws -> Eraftpb.ConfChange {
    guard data.count >= 9 else { throw DecodeError() }
    var nodeId: UInt64 = 0
    for (shift, byte) in data[1..<9].enumerated() { nodeId |= UInt64(byte) << (8 * UInt64(shift)) }
    return Eraftpb.ConfChange(changeType: .init(rawValue: Int32(data[0])), nodeId: nodeId, context: Array(data[9...]))
  }
}

/// Deterministic PRNG for tests: the Raft module's SplitMix64.
typealias TestRandom = SeededGenerator

extension SeededGenerator {
  mutating func chance(_ probability: Double) -> Bool {
    Double(next() >> 11) / Double(1 << 53) < probability
  }
}

/// A simulated cluster: N RawNodes with MemoryRaftStorage, a mailbox network
/// with fault injection, a logical clock, and a trivial state machine (the
/// list of applied entries). Processes every Ready by the book: persist,
/// then send, then apply, then advance.
final class TestNetwork {
  struct Link: Hashable { var from: UInt64; var to: UInt64 }

  var nodes: [UInt64: RawNode] = [:]
  var storages: [UInt64: MemoryRaftStorage] = [:]
  /// Entries applied by each node's state machine, in index order.
  var applied: [UInt64: [Eraftpb.Entry]] = [:]
  var confStates: [UInt64: Eraftpb.ConfState] = [:]
  var readStates: [UInt64: [ReadState]] = [:]
  /// Messages sent but not yet delivered.
  var mailbox: [Eraftpb.Message] = []
  /// Every message handed to the network (for trace assertions).
  var sentLog: [Eraftpb.Message] = []

  // Fault injection.
  var down: Set<UInt64> = []
  var isolated: Set<UInt64> = []
  var cutLinks: Set<Link> = []
  var droppedTypes: Set<Eraftpb.MessageType> = []
  var dropRate = 0.0
  /// Messages of these types are parked in `held` (in the transport, neither delivered nor lost).
  var heldTypes: Set<Eraftpb.MessageType> = []
  var held: [Eraftpb.Message] = []
  var random: TestRandom

  /// Snapshot payloads: snapshot data is an 8-byte key into this table.
  var snapshotPayloads: [UInt64: [Eraftpb.Entry]] = [:]
  private var nextPayloadKey: UInt64 = 1

  let configure: (inout RaftConfig) -> Void
  /// Called after each entry a node applies (safety checkers hook in here).
  var onApply: ((UInt64, Eraftpb.Entry) -> Void)?
  /// Receives harness-level consistency failures (default: XCTFail).
  var onViolation: (String) -> Void = { XCTFail($0) }

  static let codec = TestConfChangeCodec()
  let traceEnabled = ProcessInfo.processInfo.environment["RAFT_TRACE"] != nil

  /// Creates `ids.count` nodes. `storages` lets a test preload logs; missing
  /// ones start empty with the full membership.
  init(ids: [UInt64], seed: UInt64 = 1, storages preset: [UInt64: MemoryRaftStorage] = [:],
       configure: @escaping (inout RaftConfig) -> Void = { _ in }) {
    self.configure = configure
    random = TestRandom(seed: seed)
    for id in ids {
      storages[id] = preset[id] ?? MemoryRaftStorage(peers: ids)
      applied[id] = []
      confStates[id] = Eraftpb.ConfState(nodes: ids)
      nodes[id] = makeNode(id: id, applied: 0, seed: seed)
    }
  }

  func config(id: UInt64, applied: UInt64, seed: UInt64) -> RaftConfig {
    var config = RaftConfig(id: id, electionTick: 10, heartbeatTick: 1, applied: applied,
                            randomSeed: seed, confChangeCodec: TestNetwork.codec)
    configure(&config)
    return config
  }

  private func makeNode(id: UInt64, applied appliedIndex: UInt64, seed: UInt64) -> RawNode {
    try! RawNode(config: config(id: id, applied: appliedIndex, seed: seed), storage: storages[id]!)
  }

  subscript(id: UInt64) -> RawNode { nodes[id]! }

  var liveIds: [UInt64] { nodes.keys.filter { !down.contains($0) }.sorted() }

  func role(_ id: UInt64) -> StateRole { nodes[id]!.raft.role }
  func term(_ id: UInt64) -> UInt64 { nodes[id]!.raft.term }

  /// The live leader with the highest term, if any.
  func leader() -> UInt64? {
    liveIds.filter { role($0) == .leader }.max { term($0) < term($1) }
  }

  // MARK: Ready processing

  /// Handles one Ready of node `id` if it has one. Returns whether it did.
  @discardableResult
  func processReady(_ id: UInt64) -> Bool {
    guard let node = nodes[id], !down.contains(id), node.hasReady() else { return false }
    let ready = node.ready()
    let storage = storages[id]!
    if traceEnabled, let soft = ready.softState { print("[\(id)] soft \(soft) term \(node.raft.term) commit \(node.raft.raftLog.committed) applied \(node.raft.raftLog.applied) first \(node.raft.raftLog.firstIndex()) last \(node.raft.raftLog.lastIndex()) ents \(ready.committedEntries.map(\.index)) snap \(ready.snapshot?.metadata?.index ?? 0)") }
    // 1. Persist.
    if let snapshot = ready.snapshot {
      try? storage.applySnapshot(snapshot)
    }
    try! storage.append(ready.entries)
    if let hardState = ready.hardState { storage.setHardState(hardState) }
    // 2. Send.
    for message in ready.messages {
      mailbox.append(message)
      sentLog.append(message)
    }
    // 3. Apply.
    if let snapshot = ready.snapshot, let metadata = snapshot.metadata {
      applied[id] = payload(of: snapshot)
      confStates[id] = metadata.confState ?? Eraftpb.ConfState()
      if UInt64(applied[id]!.count) != metadata.index { onViolation("snapshot payload mismatch on \(id)") }
    }
    for entry in ready.committedEntries {
      apply(entry, on: id)
    }
    readStates[id, default: []].append(contentsOf: ready.readStates)
    // 4. Advance.
    node.advance(ready)
    return true
  }

  private func apply(_ entry: Eraftpb.Entry, on id: UInt64) {
    if entry.index != UInt64(applied[id]!.count) + 1 {
      onViolation("node \(id) applied \(entry.index) after \(applied[id]!.count)")
    }
    if entry.entryType == .entryConfChange, let change = try? nodes[id]!.decodeConfChange(entry) {
      confStates[id] = try! nodes[id]!.applyConfChange(change)
      if traceEnabled { print("[\(id)] applied \(change.changeType) \(change.nodeId) at \(entry.index) role \(nodes[id]!.raft.role)") }
    }
    applied[id]!.append(entry)
    onApply?(id, entry)
  }

  func payload(of snapshot: Eraftpb.Snapshot) -> [Eraftpb.Entry] {
    guard snapshot.data.count == 8 else { return [] }
    var key: UInt64 = 0
    for (shift, byte) in snapshot.data.enumerated() { key |= UInt64(byte) << (8 * UInt64(shift)) }
    return snapshotPayloads[key] ?? []
  }

  // MARK: Delivery

  func canDeliver(_ message: Eraftpb.Message) -> Bool {
    if down.contains(message.to) || down.contains(message.from) { return false }
    if isolated.contains(message.to) || isolated.contains(message.from) { return false }
    if cutLinks.contains(Link(from: message.from, to: message.to)) { return false }
    if droppedTypes.contains(message.msgType) { return false }
    if dropRate > 0 && random.chance(dropRate) { return false }
    return true
  }

  func deliver(_ message: Eraftpb.Message) {
    if heldTypes.contains(message.msgType) {
      held.append(message)
      return
    }
    guard canDeliver(message), let node = nodes[message.to] else {
      drop(message)
      return
    }
    try? node.step(message)
    if message.msgType == .msgSnapshot, !down.contains(message.from) {
      nodes[message.from]?.reportSnapshot(message.to, success: true)
    }
  }

  /// Loses a message. Like a real transport, report failed snapshot sends
  /// (the leader would otherwise wait for that snapshot forever).
  func drop(_ message: Eraftpb.Message) {
    if message.msgType == .msgSnapshot, !down.contains(message.from) {
      nodes[message.from]?.reportSnapshot(message.to, success: false)
    }
  }

  /// Processes readies and delivers messages until the cluster is quiet.
  func stabilize(maxRounds: Int = 10_000) {
    for _ in 0..<maxRounds {
      var busy = false
      for id in liveIds where processReady(id) { busy = true }
      if !mailbox.isEmpty {
        let batch = mailbox
        mailbox = []
        for message in batch { deliver(message) }
        busy = true
      }
      if !busy { return }
    }
    onViolation("network did not stabilize")
  }

  /// Ticks every live node `count` times, stabilizing after each round.
  func tickAll(_ count: Int = 1) {
    for _ in 0..<count {
      for id in liveIds { nodes[id]!.tick() }
      stabilize()
    }
  }

  /// Ticks one node `count` times (no stabilization in between).
  func tick(_ id: UInt64, _ count: Int = 1) {
    for _ in 0..<count { nodes[id]!.tick() }
  }

  /// Makes `id` campaign and lets the election run to completion.
  func campaign(_ id: UInt64) {
    nodes[id]!.campaign()
    stabilize()
  }

  /// Proposes through `id` and stabilizes. Returns false if dropped.
  @discardableResult
  func propose(_ id: UInt64, _ text: String) -> Bool {
    do {
      try nodes[id]!.propose(data: Array(text.utf8))
    } catch {
      return false
    }
    stabilize()
    return true
  }

  // MARK: Faults

  /// Splits the cluster: nodes only reach nodes in their own group.
  func partition(_ groups: [[UInt64]]) {
    cutLinks = []
    for (a, groupA) in groups.enumerated() {
      for (b, groupB) in groups.enumerated() where a != b {
        for from in groupA { for to in groupB { cutLinks.insert(Link(from: from, to: to)) } }
      }
    }
  }

  func isolate(_ id: UInt64) { isolated.insert(id) }

  func heal() {
    cutLinks = []
    isolated = []
    droppedTypes = []
    dropRate = 0
  }

  /// Crashes `id`: volatile state is lost, in-flight messages to it vanish.
  func crash(_ id: UInt64) {
    if traceEnabled { print("[\(id)] crash") }
    down.insert(id)
    let lost = mailbox.filter { $0.to == id || $0.from == id }
    mailbox.removeAll { $0.to == id || $0.from == id }
    lost.forEach(drop)
  }

  /// Restarts `id` from its storage; the state machine is rebuilt from the
  /// stored snapshot and the log is replayed from there.
  func restart(_ id: UInt64, seed: UInt64 = 99) {
    if traceEnabled { print("[\(id)] restart") }
    let storage = storages[id]!
    let snapshot = try! storage.snapshot()
    let snapshotIndex = snapshot.metadata?.index ?? 0
    applied[id] = snapshotIndex == 0 ? [] : payload(of: snapshot)
    confStates[id] = try! storage.initialState().confState
    down.remove(id)
    nodes[id] = makeNode(id: id, applied: snapshotIndex, seed: seed)
  }

  /// Takes a snapshot of `id`'s state machine at its applied index and
  /// compacts the log up to `compactIndex` (default: the snapshot index).
  func compact(_ id: UInt64, upTo compactIndex: UInt64? = nil) {
    let storage = storages[id]!
    let appliedIndex = UInt64(applied[id]!.count)
    let key = nextPayloadKey
    nextPayloadKey += 1
    snapshotPayloads[key] = applied[id]!
    var data: [UInt8] = []
    withUnsafeBytes(of: key.littleEndian) { data.append(contentsOf: $0) }
    guard appliedIndex > (try! storage.firstIndex()) - 1 else { return }
    try! storage.createSnapshot(index: appliedIndex, confState: confStates[id], data: data)
    try! storage.compact(compactIndex: min(compactIndex ?? appliedIndex, appliedIndex))
  }

  /// Adds a brand-new node that knows the current membership (plus itself).
  func addNewNode(_ id: UInt64, members: [UInt64]) {
    let storage = MemoryRaftStorage(peers: members)
    storages[id] = storage
    applied[id] = []
    confStates[id] = Eraftpb.ConfState(nodes: members)
    nodes[id] = makeNode(id: id, applied: 0, seed: 7)
  }

  // MARK: Inspection

  /// Data of applied normal entries (skipping empty leader no-ops).
  func appliedData(_ id: UInt64) -> [String] {
    applied[id]!.filter { $0.entryType == .entryNormal && !$0.data.isEmpty }.map { String(decoding: $0.data, as: UTF8.self) }
  }

  func log(_ id: UInt64) -> [Eraftpb.Entry] { nodes[id]!.raft.raftLog.allEntries() }

  func committed(_ id: UInt64) -> UInt64 { nodes[id]!.raft.raftLog.committed }
}

/// Builds a storage preloaded with entries of the given terms (index 1, 2, ...).
func storageWithTerms(_ terms: [UInt64], peers: [UInt64], term: UInt64? = nil) -> MemoryRaftStorage {
  let storage = MemoryRaftStorage(peers: peers)
  let entries = terms.enumerated().map { Eraftpb.Entry(term: $0.element, index: UInt64($0.offset + 1), data: Array("t\($0.element)".utf8)) }
  try! storage.append(entries)
  storage.setHardState(Eraftpb.HardState(term: term ?? (terms.last ?? 0)))
  return storage
}
