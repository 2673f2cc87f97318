import ArgumentParser
import TinyKVProto

/// `tinykv-ctl wire`: decode and encode protobuf messages of the schema.
struct WireCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wire",
        abstract: "Decode and encode messages of the TinyKV schema.",
        subcommands: [Echo.self, Types.self]
    )

    /// Reads `TYPE HEX` lines, decodes each with the Swift bridge and prints the re-encoded bytes as hex.
    /// Used by the cross-language tests: another protobuf implementation produces and checks the bytes.
    struct Echo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-encode messages read as `TYPE HEX` lines on standard input.",
            discussion: "Prints one line per input line: the re-encoded bytes as hex, or `ERR message` when decoding fails.")

        func run() throws {
            while let line = readLine() {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard let name = parts.first else { continue }
                guard let type = ProtoRegistry.messageTypes[String(name)] else {
                    print("ERR unknown message type \(name)")
                    continue
                }
                guard let bytes = Hex.decode(parts.count > 1 ? parts[1] : "") else {
                    print("ERR invalid hex")
                    continue
                }
                do {
                    print(Hex.encode(try reencode(type, bytes)))
                } catch {
                    print("ERR \(error)")
                }
            }
        }

        private func reencode<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) throws -> [UInt8] {
            try M(decoding: bytes).encode()
        }
    }

    /// Lists every message type the bridge knows.
    struct Types: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every message type of the schema.")

        func run() {
            for name in ProtoRegistry.messageTypes.keys.sorted() { print(name) }
        }
    }
}

/// Lowercase hexadecimal text for bytes.
enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
