import XCTest
@testable import Storage

final class OrderedKeyMapTests: XCTestCase {
    /// Keys of every shape the grouping must order correctly: shorter than, equal to and
    /// longer than the group prefix, sharing prefixes, with zero bytes.
    private func randomKey(_ generator: inout SystemRandomNumberGenerator) -> [UInt8] {
        let length = [0, 1, 2, 9, 10, 11, 19].randomElement(using: &generator)!
        return (0..<length).map { _ in [0, 1, 2, 0xFF].randomElement(using: &generator)! }
    }

    private func sortedPairs(_ model: [[UInt8]: [UInt8]], from start: [UInt8], to end: [UInt8]) -> [KeyValue] {
        model.filter { OrderedKeyMap.compare($0.key, start) >= 0 && OrderedKeyMap.compare($0.key, end) < 0 }
            .map { KeyValue(key: $0.key, value: $0.value) }
            .sorted { OrderedKeyMap.compare($0.key, $1.key) < 0 }
    }

    func testMatchesADictionaryUnderRandomWrites() {
        var generator = SystemRandomNumberGenerator()
        var map = OrderedKeyMap()
        var model: [[UInt8]: [UInt8]] = [:]
        for step in 0..<5_000 {
            let key = randomKey(&generator)
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<6:
                let value = [UInt8(step & 0xFF), UInt8(step >> 8)]
                map.put(key, value)
                model[key] = value
            case 6..<8:
                map.delete(key)
                model[key] = nil
            default:
                let other = randomKey(&generator)
                let (start, end) = OrderedKeyMap.compare(key, other) <= 0 ? (key, other) : (other, key)
                map.deleteRange(from: start, to: end)
                for existing in model.keys where OrderedKeyMap.compare(existing, start) >= 0 && OrderedKeyMap.compare(existing, end) < 0 {
                    model[existing] = nil
                }
            }
            let probe = randomKey(&generator)
            XCTAssertEqual(map.get(probe), model[probe])
            if step % 50 == 0 {
                let bound = randomKey(&generator)
                let (start, end) = OrderedKeyMap.compare(probe, bound) <= 0 ? (probe, bound) : (bound, probe)
                var scanned: [KeyValue] = []
                map.forEach(from: start, to: end) { scanned.append($0); return true }
                XCTAssertEqual(scanned, sortedPairs(model, from: start, to: end), "step \(step)")
            }
        }
        var all: [KeyValue] = []
        map.forEach { all.append($0) }
        XCTAssertEqual(all, sortedPairs(model, from: [], to: [UInt8](repeating: 0xFF, count: 20)))
        XCTAssertEqual(map.count, model.count)
        XCTAssertEqual(map.byteCount, model.reduce(0) { $0 + $1.key.count + $1.value.count })
    }

    func testScanStopsWhenAsked() {
        var map = OrderedKeyMap()
        for index: UInt8 in 0..<10 { map.put([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, index], [index]) }
        var seen: [UInt8] = []
        map.forEach(from: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3], to: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xFF]) { pair in
            seen.append(pair.value[0])
            return seen.count < 3
        }
        XCTAssertEqual(seen, [3, 4, 5])
    }
}
