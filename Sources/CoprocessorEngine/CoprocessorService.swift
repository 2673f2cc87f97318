import Codec
import Logging
import Storage
import TinyKVProto
import Transaction

/// Serves `TinyKv/Coprocessor`: DAG requests (scans, Selection, Aggregation, TopN, Limit) pushed down
/// by TinySQL, read from MVCC at the request's `start_ts`.
///
/// Outcomes: rows in `data` (a `tipb.SelectResponse`); a lock in the way -> `locked`; a routing
/// problem -> `region_error`; an evaluation error (overflow) -> `SelectResponse.error`; an unsupported
/// or malformed request -> `other_error` with the reason. Never traps on bad input.
public final class CoprocessorService: Sendable {
    /// `coprocessor.Request.tp` of a DAG request (`kv.ReqTypeDAG`).
    public static let requestTypeDAG: Int64 = 103
    /// `kv.ReqTypeAnalyze`.
    public static let requestTypeAnalyze: Int64 = 104
    /// `kv.ReqTypeChecksum`.
    public static let requestTypeChecksum: Int64 = 105

    private let storage: any KVStorage
    private let logger: Logger

    /// - Parameters:
    ///   - storage: where snapshots are read (the same storage the transactional service writes).
    ///   - logger: failures other than locks and region errors are logged at warning level.
    public init(storage: any KVStorage, logger: Logger) {
        self.storage = storage
        self.logger = logger
    }

    /// Executes one coprocessor request.
    public func handle(_ request: Coprocessor.Request) async -> Coprocessor.Response {
        var response = Coprocessor.Response()
        switch request.tp {
        case Self.requestTypeDAG:
            break
        case Self.requestTypeAnalyze:
            response.otherError = "unsupported request type 104 (ANALYZE): this store does not compute statistics yet"
            return response
        case Self.requestTypeChecksum:
            response.otherError = "unsupported request type 105 (CHECKSUM)"
            return response
        default:
            response.otherError = "unsupported coprocessor request type \(request.tp)"
            return response
        }
        let dag: Tipb.DAGRequest
        do {
            dag = try request.data.withUnsafeBytes { try Tipb.DAGRequest(decoding: $0) }
        } catch {
            response.otherError = "cannot decode tipb.DAGRequest: \(error)"
            return response
        }
        let reader: any KVReader
        do {
            // Ranges are user keys; the region check compares their encodings (transactional key space).
            let keys = RequestKeys(.transactional, ranges: request.ranges.map { RequestKeys.Range(start: $0.start, end: $0.end) })
            reader = try await storage.reader(request.context ?? Kvrpcpb.Context(), for: keys)
        } catch {
            response.regionError = Errorpb.Error.from(error)
            return response
        }
        do {
            response.data = try execute(dag, request: request, mvcc: MvccReader(reader)).encode()
        } catch let error as CoprocessorError {
            switch error {
            case .locked(let info):
                response.locked = info
            case .evaluation(let code, let message):
                response.data = Tipb.SelectResponse(error: Tipb.Error(code: code, msg: message), encodeType: .typeDefault).encode()
            case .unsupported, .invalid:
                logger.warning("coprocessor request rejected", metadata: ["reason": "\(error)"])
                response.otherError = error.description
            }
        } catch let error as RegionError {
            response.regionError = error.error
        } catch {
            logger.warning("coprocessor request failed", metadata: ["error": "\(error)"])
            response.otherError = "\(error)"
        }
        return response
    }

    /// Runs the DAG to completion and encodes its rows.
    func execute(_ dag: Tipb.DAGRequest, request: Coprocessor.Request, mvcc: MvccReader) throws -> Tipb.SelectResponse {
        if let encodeType = dag.encodeType, encodeType != .typeDefault {
            // TinySQL's distsql reads only the default encoding; answering in it is always decodable.
            logger.debug("answering an encode_type \(encodeType) request in TypeDefault")
        }
        let (root, width) = try DAGBuilder.build(dag, mvcc: mvcc, ranges: request.ranges, startTs: request.startTs)
        var encoder = try ResponseEncoder(outputOffsets: dag.outputOffsets, width: width)
        while let row = try root.next() { try encoder.append(row) }
        return Tipb.SelectResponse(chunks: encoder.finish(), encodeType: .typeDefault)
    }
}
