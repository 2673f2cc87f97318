/// Chooses keys for a benchmark: uniformly or with a Zipfian skew, from a fixed key space.
public struct KeyGenerator: Sendable {
    public enum Distribution: String, Sendable, CaseIterable {
        case uniform, zipfian
    }

    public let keyCount: Int
    public let keySize: Int
    private let zipf: Zipfian?

    public init(keyCount: Int, keySize: Int = 16, distribution: Distribution) {
        self.keyCount = max(1, keyCount)
        self.keySize = max(8, keySize)
        zipf = distribution == .zipfian ? Zipfian(count: self.keyCount, theta: 0.99) : nil
    }

    /// The index of the next key to use.
    public func nextIndex<R: RandomNumberGenerator>(using rng: inout R) -> Int {
        if let zipf { return zipf.next(using: &rng) }
        return Int.random(in: 0..<keyCount, using: &rng)
    }

    /// The key with this index: `key` + zero-padded decimal digits, `keySize` bytes.
    public func key(_ index: Int) -> [UInt8] {
        let digits = String(index)
        let padding = max(0, keySize - 3 - digits.count)
        return Array("key".utf8) + [UInt8](repeating: UInt8(ascii: "0"), count: padding) + Array(digits.utf8)
    }
}

/// YCSB's Zipfian generator (Gray et al.), over `0..<count`; popular items are scattered
/// by a hash so that hot keys do not all sit in one region.
struct Zipfian: Sendable {
    let count: Int
    let theta: Double
    let alpha: Double
    let zetaN: Double
    let eta: Double

    init(count: Int, theta: Double) {
        self.count = count
        self.theta = theta
        var zeta = 0.0
        for i in 1...count { zeta += 1.0 / pow(Double(i), theta) }
        zetaN = zeta
        let zeta2 = 1.0 + 1.0 / pow(2.0, theta)
        alpha = 1.0 / (1.0 - theta)
        eta = (1.0 - pow(2.0 / Double(count), 1.0 - theta)) / (1.0 - zeta2 / zeta)
    }

    func next<R: RandomNumberGenerator>(using rng: inout R) -> Int {
        let u = Double.random(in: 0..<1, using: &rng)
        let uz = u * zetaN
        let rank: Int
        if uz < 1.0 {
            rank = 0
        } else if uz < 1.0 + pow(0.5, theta) {
            rank = 1
        } else {
            rank = min(count - 1, Int(Double(count) * pow(eta * u - eta + 1.0, alpha)))
        }
        // Scatter ranks over the key space (FNV-1a of the rank).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var value = UInt64(rank)
        for _ in 0..<8 {
            hash ^= value & 0xFF
            hash = hash &* 0x0100_0000_01b3
            value >>= 8
        }
        return Int(hash % UInt64(count))
    }
}

#if canImport(Glibc)
import Glibc
#endif
