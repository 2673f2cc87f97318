import TinyKVProto

// libFuzzer entry point for the wire bridge, built by tools/fuzz/libfuzzer.sh (not part of
// the SwiftPM build). The first input byte picks the
// message type, the rest is decoded as it; whatever decodes must re-encode stably.

private let fuzzTypes: [any ProtoMessage.Type] = ProtoRegistry.messageTypes.sorted { $0.key < $1.key }.map(\.value)

@_cdecl("LLVMFuzzerTestOneInput")
public func tinyKVWireFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let type = fuzzTypes[Int(data[0]) % fuzzTypes.count]
    fuzzCheck(type, UnsafeRawBufferPointer(start: data + 1, count: size - 1))
    return 0
}

private func fuzzCheck<M: ProtoMessage>(_ type: M.Type, _ bytes: UnsafeRawBufferPointer) {
    guard let message = try? M(decoding: bytes) else { return }
    let once = message.encode()
    guard let again = try? M(decoding: once) else { fatalError("\(M.protoName): re-encoded bytes do not decode") }
    if again.encode() != once { fatalError("\(M.protoName): re-encoding is not stable") }
}
