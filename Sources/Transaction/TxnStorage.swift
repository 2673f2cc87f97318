import Storage

/// Where transactional commands read and write: the storage every KV service uses
/// (``KVStorage``): standalone, one engine's snapshot and group commit; raft store,
/// a read-index snapshot of the region and one raft proposal per batch.
///
/// Readers throw ``RegionError`` for routing problems (not leader, epoch mismatch, ...);
/// any other error is reported to the client as a region error carrying only a message.
public typealias TxnStorage = KVStorage
