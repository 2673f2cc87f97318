import XCTest
@testable import TinyKVProto

final class RoundTripTests: XCTestCase {
    func testEveryMessageTypeIsCovered() {
        // 138 TinyKV messages and 43 of tipb.
        XCTAssertEqual(allRandomMessageTypes.count, 181)
        XCTAssertEqual(ProtoRegistry.messageTypes.count, 181)
    }

    func testRandomValuesRoundTripThroughProtobufC() throws {
        for type in allRandomMessageTypes {
            try roundTrip(type, seeds: 0..<60)
        }
    }

    func testDefaultValuesEncodeToNothing() throws {
        for type in allRandomMessageTypes {
            try checkDefault(type)
        }
    }

    private func checkDefault<M: ProtoMessage>(_ type: M.Type) throws {
        // proto2 `required` fields are always written, and a message without them does not decode.
        if ["tipb.CompareInMetadata", "tipb.InUnionMetadata"].contains(M.protoName) {
            XCTAssertThrowsError(try M(decoding: [UInt8]()), M.protoName)
            XCTAssertEqual(try M(decoding: M().encode()), M())
            return
        }
        XCTAssertEqual(M().encode(), [], M.protoName)
        XCTAssertEqual(try M(decoding: [UInt8]()), M())
    }

    func testKnownEncoding() throws {
        // Bytes written by hand from the protobuf encoding rules.
        let request = Kvrpcpb.RawPutRequest(key: [0x6B], value: [0x76], cf: "lock")
        XCTAssertEqual(request.encode(), [0x12, 0x01, 0x6B, 0x1A, 0x01, 0x76, 0x22, 0x04, 0x6C, 0x6F, 0x63, 0x6B])
        let entry = Eraftpb.Entry(entryType: .entryConfChange, term: 300, index: 1)
        XCTAssertEqual(entry.encode(), [0x08, 0x01, 0x10, 0xAC, 0x02, 0x18, 0x01])
        XCTAssertEqual(try Eraftpb.Entry(decoding: entry.encode()), entry)
    }

    func testProto2PresenceOfZeroScalarsIsKept() throws {
        // proto2 optional fields set to zero are encoded, unset ones are not.
        XCTAssertEqual(Tipb.Limit(limit: 0).encode(), [0x08, 0x00])
        XCTAssertEqual(Tipb.Limit().encode(), [])
        XCTAssertEqual(try Tipb.Limit(decoding: [0x08, 0x00]).limit, 0)
        XCTAssertNil(try Tipb.Limit(decoding: [UInt8]()).limit)
        let expr = Tipb.Expr(tp: .scalarFunc, children: [Tipb.Expr(tp: .int64, val: [])], sig: .ltInt)
        XCTAssertEqual(try Tipb.Expr(decoding: expr.encode()), expr)
    }

    func testPresenceOfEmptyNestedMessageIsKept() throws {
        let response = Kvrpcpb.RawGetResponse(regionError: Errorpb.Error())
        let decoded = try Kvrpcpb.RawGetResponse(decoding: response.encode())
        XCTAssertNotNil(decoded.regionError)
        XCTAssertNil(try Kvrpcpb.RawGetResponse(decoding: Kvrpcpb.RawGetResponse().encode()).regionError)
    }

    func testUnknownEnumValuesSurvive() throws {
        let message = Eraftpb.Message(msgType: .unrecognized(101), to: 2)
        XCTAssertEqual(try Eraftpb.Message(decoding: message.encode()).msgType, .unrecognized(101))
        XCTAssertEqual(Eraftpb.MessageType(rawValue: 12), .msgTimeoutNow)
        XCTAssertEqual(Schedulerpb.ErrorType.alreadyBootstrapped.rawValue, 4)
        XCTAssertEqual(Kvrpcpb.Action.ttlExpireRollback.description, "TTLExpireRollback")
    }

    func testMalformedBytesThrow() {
        // A length-delimited field that claims more bytes than there are.
        XCTAssertThrowsError(try Kvrpcpb.RawPutRequest(decoding: [0x12, 0x05, 0x01])) { error in
            XCTAssertEqual((error as? ProtoDecodingError)?.messageName, "kvrpcpb.RawPutRequest")
        }
        // A truncated varint and an invalid wire type.
        XCTAssertThrowsError(try Eraftpb.Entry(decoding: [0x10, 0xFF]))
        XCTAssertThrowsError(try Eraftpb.Entry(decoding: [0x0F]))
    }

    func testRandomGarbageNeverCrashes() {
        var g = WireRandom(seed: 7)
        for _ in 0..<3000 {
            let bytes = (0..<g.below(40)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            for type in [Eraftpb.Message.self, Kvrpcpb.PrewriteRequest.self, Schedulerpb.RegionHeartbeatRequest.self] as [any ProtoMessage.Type] {
                if let message = try? type.init(decoding: bytes) {
                    // Whatever decodes must encode and decode to the same value.
                    XCTAssertTrue(isStable(message))
                }
            }
        }
    }

    private func isStable<M: ProtoMessage>(_ message: M) -> Bool {
        (try? M(decoding: message.encode())) == message
    }

    private func roundTrip<M: RandomMessage>(_ type: M.Type, seeds: Range<UInt64>) throws {
        for seed in seeds {
            var g = WireRandom(seed: seed &+ M.protoName.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) })
            let value = M.random(using: &g, depth: 0)
            let bytes = value.encode()
            let decoded = try M(decoding: bytes)
            XCTAssertEqual(decoded, value, "\(M.protoName) seed \(seed)")
            XCTAssertEqual(decoded.encode(), bytes, "\(M.protoName) seed \(seed): encoding is not stable")
        }
    }
}
