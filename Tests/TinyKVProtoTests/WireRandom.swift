@testable import TinyKVProto

/// A seeded generator of field values that reach the corners of the encoding:
/// zero and empty values, extremes, long and short bytes, unknown enum values.
struct WireRandom {
    private var state: UInt64
    /// How deep nested messages may go before they are left out.
    let maxDepth: Int

    init(seed: UInt64, maxDepth: Int = 4) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        self.maxDepth = maxDepth
    }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func nextUInt64() -> UInt64 {
        switch below(5) {
        case 0: return 0
        case 1: return .max
        case 2: return UInt64(below(300))
        default: return next()
        }
    }

    mutating func nextInt64() -> Int64 {
        switch below(5) {
        case 0: return 0
        case 1: return below(2) == 0 ? .min : .max
        case 2: return Int64(below(300)) - 150
        default: return Int64(bitPattern: next())
        }
    }

    mutating func nextUInt32() -> UInt32 { UInt32(truncatingIfNeeded: nextUInt64()) }
    mutating func nextInt32() -> Int32 { Int32(truncatingIfNeeded: nextInt64()) }
    mutating func nextBool() -> Bool { below(2) == 0 }
    mutating func nextDouble() -> Double { below(4) == 0 ? 0 : Double(nextInt32()) / 7 }
    mutating func nextFloat() -> Float { below(4) == 0 ? 0 : Float(nextInt32() % 100_000) / 8 }

    mutating func nextBytes() -> [UInt8] {
        let count = [0, 1, 3, 16, 100, 300][below(6)]
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }

    mutating func nextString() -> String {
        let alphabet = Array("abcXYZ019 _-/é世🙂")
        let count = [0, 1, 5, 40][below(4)]
        return String((0..<count).map { _ in alphabet[below(alphabet.count)] })
    }

    /// Whether an optional nested message is present at this depth.
    mutating func present(depth: Int) -> Bool { depth < maxDepth && below(3) != 0 }

    mutating func array<T>(depth: Int, _ make: (inout WireRandom) -> T) -> [T] {
        let count = depth < maxDepth ? [0, 1, 2, 5][below(4)] : 0
        var values: [T] = []
        for _ in 0..<count { values.append(make(&self)) }
        return values
    }
}

/// A generated message type that can produce a random value of itself.
protocol RandomMessage: ProtoMessage {
    static func random(using g: inout WireRandom, depth: Int) -> Self
}

/// A generated enum: mostly listed values, sometimes one the schema does not know.
protocol RandomEnum {
    static var allKnown: [Self] { get }
    init(rawValue: Int32)
}

extension RandomEnum {
    static func random(using g: inout WireRandom) -> Self {
        if g.below(8) == 0 { return Self(rawValue: 1000 + Int32(g.below(1000))) }
        return allKnown[g.below(allKnown.count)]
    }
}
