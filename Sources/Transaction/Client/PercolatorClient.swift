import TinyKVProto

/// Why a client-side transaction did not commit.
public enum PercolatorError: Error, Sendable, Hashable {
    /// Another transaction wrote or locked a key first; retry with a new transaction.
    case conflict(String)
    /// The transaction was rolled back (for example by a lock resolver); retry with a new transaction.
    case aborted(String)
    /// The server could not serve the request (routing, storage); retry later.
    case region(Errorpb.Error)
}

/// A transaction being built on the client: reads at `startTs`, buffered writes.
public struct PercolatorTxn: Sendable {
    /// The snapshot the transaction reads and its identity.
    public let startTs: UInt64
    /// Buffered writes: a value to put, or nil to delete.
    public private(set) var writes: [[UInt8]: [UInt8]?] = [:]

    public init(startTs: UInt64) { self.startTs = startTs }

    /// Buffers a put of `key`.
    public mutating func set(_ key: [UInt8], _ value: [UInt8]) { writes[key] = .some(value) }
    /// Buffers a delete of `key`.
    public mutating func delete(_ key: [UInt8]) { writes[key] = .some(nil) }

    /// The mutations, in key order; the first key is the primary.
    public var mutations: [Kvrpcpb.Mutation] {
        writes.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { key in
            if case .some(.some(let value)) = writes[key] { return Kvrpcpb.Mutation(op: .put, key: key, value: value) }
            return Kvrpcpb.Mutation(op: .del, key: key)
        }
    }
}

/// A minimal Percolator client (two-phase commit, snapshot reads, lock resolution) over ``TxnKVClient``.
///
/// Requests go through `rpc`: one server in the tests, or ``RoutedTxnKVClient`` (KVClient), which
/// splits them by region comparing `EncodeBytes(key)` with region bounds (the transactional key space).
/// A failed prewrite rolls back nothing itself; its locks are resolved by readers or by the retry. Used by
/// the tests, `tinykv-ctl txn` and `tinykv-bench --workload txn`.
public struct PercolatorClient: Sendable {
    public let rpc: any TxnKVClient
    public let oracle: any TimestampOracle
    /// TTL of this client's locks in milliseconds (at least 1: a TTL-0 lock is indistinguishable from a
    /// rolled-back transaction in CheckTxnStatus's answer).
    public let lockTTL: UInt64
    /// How long to wait before re-reading a key locked by a live transaction.
    public let lockWait: Duration

    public init(rpc: any TxnKVClient, oracle: any TimestampOracle, lockTTL: UInt64 = 3000, lockWait: Duration = .milliseconds(2)) {
        self.rpc = rpc
        self.oracle = oracle
        self.lockTTL = max(lockTTL, 1)
        self.lockWait = lockWait
    }

    /// Starts a transaction at a fresh timestamp.
    public func begin() async throws -> PercolatorTxn {
        PercolatorTxn(startTs: try await oracle.next())
    }

    // MARK: Reads

    /// The value of `key` as `txn` sees it (its own buffered writes first).
    public func get(_ txn: PercolatorTxn, _ key: [UInt8]) async throws -> [UInt8]? {
        if let buffered = txn.writes[key] { return buffered }
        return try await get(key, at: txn.startTs)
    }

    /// The committed value of `key` at `ts`, resolving locks left by other transactions.
    public func get(_ key: [UInt8], at ts: UInt64) async throws -> [UInt8]? {
        while true {
            let response = try await rpc.get(Kvrpcpb.GetRequest(key: key, version: ts))
            if let regionError = response.regionError { throw PercolatorError.region(regionError) }
            if let locked = response.error?.locked {
                try await resolve(locked)
                continue
            }
            if let error = response.error { throw PercolatorError.aborted("get: \(error)") }
            return response.notFound ? nil : response.value
        }
    }

    /// Up to `limit` committed pairs from `start` at `ts`, resolving locks.
    public func scan(from start: [UInt8], limit: UInt32, at ts: UInt64) async throws -> [(key: [UInt8], value: [UInt8])] {
        while true {
            let response = try await rpc.scan(Kvrpcpb.ScanRequest(startKey: start, limit: limit, version: ts))
            if let regionError = response.regionError { throw PercolatorError.region(regionError) }
            let locks = response.pairs.compactMap { $0.error?.locked }
            if locks.isEmpty { return response.pairs.map { ($0.key, $0.value) } }
            var seen = Set<UInt64>()
            for lock in locks where seen.insert(lock.lockVersion).inserted { try await resolve(lock) }
        }
    }

    /// Settles the lock `lock` describes: commits or rolls it back when its transaction's primary
    /// is decided (or its TTL ran out); waits ``lockWait`` while the transaction is alive.
    public func resolve(_ lock: Kvrpcpb.LockInfo) async throws {
        let now = try await oracle.next()
        let status = try await rpc.checkTxnStatus(
            Kvrpcpb.CheckTxnStatusRequest(primaryKey: lock.primaryLock, lockTs: lock.lockVersion, currentTs: now))
        if let regionError = status.regionError { throw PercolatorError.region(regionError) }
        let commitTs: UInt64
        if status.commitVersion > 0 {
            commitTs = status.commitVersion
        } else if status.action != .noAction || status.lockTtl == 0 {
            commitTs = 0
        } else {
            try await Task.sleep(for: lockWait)
            return
        }
        if lock.key.isEmpty {
            let resolved = try await rpc.resolveLock(Kvrpcpb.ResolveLockRequest(startVersion: lock.lockVersion, commitVersion: commitTs))
            if let regionError = resolved.regionError { throw PercolatorError.region(regionError) }
            return
        }
        try await settle(lock.key, startTs: lock.lockVersion, commitTs: commitTs)
    }

    /// Commits (at `commitTs`) or, with `commitTs` 0, rolls back the lock of the transaction
    /// `startTs` on `key` alone, as TiDB's "lite" resolve does. `ResolveLock` names no keys:
    /// a store scans its region's locks for it, and a routed client sends it to every region,
    /// for the one key a reader or writer is waiting on. The transaction's other locks are
    /// settled the same way by whoever meets them. A key error (the lock is already gone)
    /// needs nothing: the caller reads the key again.
    private func settle(_ key: [UInt8], startTs: UInt64, commitTs: UInt64) async throws {
        if commitTs > 0 {
            let response = try await rpc.commit(Kvrpcpb.CommitRequest(startVersion: startTs, keys: [key], commitVersion: commitTs))
            if let regionError = response.regionError { throw PercolatorError.region(regionError) }
        } else {
            let response = try await rpc.batchRollback(Kvrpcpb.BatchRollbackRequest(startVersion: startTs, keys: [key]))
            if let regionError = response.regionError { throw PercolatorError.region(regionError) }
        }
    }

    // MARK: Two-phase commit, in steps (a crash between steps is how the tests simulate failures)

    /// Commits `txn`; returns its commit ts. An empty transaction commits at its start ts.
    @discardableResult
    public func commit(_ txn: PercolatorTxn) async throws -> UInt64 {
        let mutations = txn.mutations
        guard !mutations.isEmpty else { return txn.startTs }
        try await prewrite(txn)
        let commitTs = try await oracle.next()
        let committed = try await commitPrimaryBatch(txn, at: commitTs)
        await commitSecondaries(txn, at: commitTs, except: committed)
        return commitTs
    }

    /// Phase one: locks every key of `txn`. On failure nothing stays locked; locks of others met on the way
    /// are resolved (or waited for) so the retry can progress.
    public func prewrite(_ txn: PercolatorTxn) async throws {
        let mutations = txn.mutations
        guard let primary = mutations.first?.key else { return }
        let response = try await rpc.prewrite(Kvrpcpb.PrewriteRequest(
            mutations: mutations, primaryLock: primary, startVersion: txn.startTs, lockTtl: lockTTL))
        if let regionError = response.regionError { throw PercolatorError.region(regionError) }
        guard !response.errors.isEmpty else { return }
        for error in response.errors {
            if let locked = error.locked { try await resolve(locked) }
        }
        throw PercolatorError.conflict("prewrite: \(response.errors[0])")
    }

    /// Phase two, the commit point: commits the primary key.
    public func commitPrimary(_ txn: PercolatorTxn, at commitTs: UInt64) async throws {
        guard let primary = txn.mutations.first?.key else { return }
        let response = try await rpc.commit(Kvrpcpb.CommitRequest(startVersion: txn.startTs, keys: [primary], commitVersion: commitTs))
        if let regionError = response.regionError { throw PercolatorError.region(regionError) }
        if let error = response.error { throw PercolatorError.aborted("commit: \(error)") }
    }

    /// Commits the secondary keys; failures are left to lock resolution (the transaction is committed).
    /// Commits the primary together with the secondaries of its region (one request, one raft
    /// write); returns the keys committed. Throws like ``commitPrimary(_:at:)``.
    public func commitPrimaryBatch(_ txn: PercolatorTxn, at commitTs: UInt64) async throws -> Set<[UInt8]> {
        let keys = txn.mutations.map(\.key)
        guard !keys.isEmpty else { return [] }
        let (response, committed) = try await rpc.commitPrimaryBatch(
            Kvrpcpb.CommitRequest(startVersion: txn.startTs, keys: keys, commitVersion: commitTs))
        if let regionError = response.regionError { throw PercolatorError.region(regionError) }
        if let error = response.error { throw PercolatorError.aborted("commit: \(error)") }
        return Set(committed)
    }

    public func commitSecondaries(_ txn: PercolatorTxn, at commitTs: UInt64, except committed: Set<[UInt8]> = []) async {
        let keys = txn.mutations.dropFirst().map(\.key).filter { !committed.contains($0) }
        guard !keys.isEmpty else { return }
        _ = try? await rpc.commit(Kvrpcpb.CommitRequest(startVersion: txn.startTs, keys: keys, commitVersion: commitTs))
    }

    /// Rolls back `txn` on all its keys.
    public func rollback(_ txn: PercolatorTxn) async throws {
        let keys = txn.mutations.map(\.key)
        guard !keys.isEmpty else { return }
        let response = try await rpc.batchRollback(Kvrpcpb.BatchRollbackRequest(startVersion: txn.startTs, keys: keys))
        if let regionError = response.regionError { throw PercolatorError.region(regionError) }
        if let error = response.error { throw PercolatorError.aborted("rollback: \(error)") }
    }
}
