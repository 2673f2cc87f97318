import TinyKVProto
import Transport

/// Size limits on requests, checked before a request reaches its service.
///
/// A request over a limit is answered with the gRPC status `RESOURCE_EXHAUSTED` and a
/// message naming the limit and its configuration key; nothing of it is executed.
/// Scans asking for more than ``maxScanLimit`` pairs are refused the same way rather than
/// silently clamped: TinyKV's scan answers "up to `limit` pairs", so a clamped answer would
/// be indistinguishable from the end of the data (TiKV's client refuses such scans too,
/// with `MaxRawKVScanLimit` = 10240).
public struct RequestLimits: Sendable, Equatable {
    /// The largest key (`max-key-size`, TiKV's `storage.max-key-size`: 8 KiB).
    public var maxKeySize: Int
    /// The most bytes of keys and values one write may carry (`raft-entry-max-size`, TiKV's
    /// `raftstore.raft-entry-max-size`: 8 MiB); this also bounds a single value.
    public var maxWriteSize: Int
    /// The most pairs one scan may ask for (`max-scan-limit`: 10240).
    public var maxScanLimit: Int

    public init(maxKeySize: Int = 8 << 10, maxWriteSize: Int = 8 << 20, maxScanLimit: Int = 10_240) {
        self.maxKeySize = maxKeySize
        self.maxWriteSize = maxWriteSize
        self.maxScanLimit = maxScanLimit
    }

    func key(_ key: [UInt8], _ what: String = "key") throws {
        if key.count > maxKeySize {
            throw GRPCStatus(.resourceExhausted, "\(what) of \(key.count) bytes exceeds max-key-size (\(maxKeySize) bytes)")
        }
    }

    func keys(_ keys: [[UInt8]]) throws {
        for k in keys { try key(k) }
    }

    func write(bytes: Int) throws {
        if bytes > maxWriteSize {
            throw GRPCStatus(.resourceExhausted, "write of \(bytes) bytes exceeds raft-entry-max-size (\(maxWriteSize) bytes)")
        }
    }

    func scan(limit: UInt32) throws {
        if Int(limit) > maxScanLimit {
            throw GRPCStatus(.resourceExhausted, "scan limit \(limit) exceeds max-scan-limit (\(maxScanLimit))")
        }
    }
}

/// A request whose sizes ``RequestLimits`` checks.
protocol LimitedRequest {
    func check(_ limits: RequestLimits) throws
}

extension Kvrpcpb.RawGetRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws { try limits.key(key) }
}

extension Kvrpcpb.RawPutRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws {
        try limits.key(key)
        try limits.write(bytes: key.count + value.count)
    }
}

extension Kvrpcpb.RawDeleteRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws { try limits.key(key) }
}

extension Kvrpcpb.RawScanRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws {
        try limits.key(startKey, "start key")
        try limits.scan(limit: limit)
    }
}

extension Kvrpcpb.GetRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws { try limits.key(key) }
}

extension Kvrpcpb.ScanRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws {
        try limits.key(startKey, "start key")
        try limits.scan(limit: limit)
    }
}

extension Kvrpcpb.PrewriteRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws {
        try limits.key(primaryLock, "primary lock")
        var bytes = 0
        for mutation in mutations {
            try limits.key(mutation.key)
            bytes += mutation.key.count + mutation.value.count
        }
        try limits.write(bytes: bytes)
    }
}

extension Kvrpcpb.CommitRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws { try limits.keys(keys) }
}

extension Kvrpcpb.BatchRollbackRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws { try limits.keys(keys) }
}

extension Kvrpcpb.CheckTxnStatusRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws { try limits.key(primaryKey, "primary key") }
}

extension Kvrpcpb.ResolveLockRequest: LimitedRequest {
    func check(_ limits: RequestLimits) throws {}
}

extension Coprocessor.Request: LimitedRequest {
    func check(_ limits: RequestLimits) throws {
        for range in ranges {
            try limits.key(range.start, "range start")
            try limits.key(range.end, "range end")
        }
    }
}
