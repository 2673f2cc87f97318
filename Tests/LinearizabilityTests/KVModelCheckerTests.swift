import XCTest
@testable import Linearizability

final class KVModelCheckerTests: XCTestCase {
    typealias Op = ClientOperation<KVModel.Input, KVModel.Output>
    let checker = LinearizabilityChecker(model: KVModel())

    private func isLinearizable(_ ops: [Op]) -> Bool {
        if case .linearizable = checker.check(ops) { return true }
        return false
    }

    func testSequentialHistory() {
        XCTAssertTrue(isLinearizable([
            Op(client: 0, input: .put(key: "x", value: "1"), output: .ok, call: 0, returned: 10),
            Op(client: 0, input: .get(key: "x"), output: .value("1"), call: 20, returned: 30),
            Op(client: 0, input: .delete(key: "x"), output: .ok, call: 40, returned: 50),
            Op(client: 0, input: .get(key: "x"), output: .value(nil), call: 60, returned: 70),
        ]))
    }

    func testConcurrentReadMaySeeEitherValue() {
        for seen in [nil, "1"] as [String?] {
            XCTAssertTrue(isLinearizable([
                Op(client: 0, input: .put(key: "x", value: "1"), output: .ok, call: 0, returned: 100),
                Op(client: 1, input: .get(key: "x"), output: .value(seen), call: 10, returned: 20),
            ]))
        }
    }

    func testStaleReadAfterAcknowledgedWriteIsAViolation() {
        let history = [
            Op(client: 0, input: .put(key: "x", value: "1"), output: .ok, call: 0, returned: 10),
            Op(client: 1, input: .get(key: "x"), output: .value(nil), call: 20, returned: 30),
        ]
        guard case .violation(let ops) = checker.check(history) else { return XCTFail("stale read accepted") }
        XCTAssertEqual(ops.count, 2)
    }

    func testReadsMustNotGoBackInTime() {
        // Two reads during a write: once the new value was seen, a later read cannot see the old one.
        XCTAssertFalse(isLinearizable([
            Op(client: 0, input: .put(key: "x", value: "1"), output: .ok, call: 0, returned: 100),
            Op(client: 1, input: .get(key: "x"), output: .value("1"), call: 10, returned: 20),
            Op(client: 2, input: .get(key: "x"), output: .value(nil), call: 30, returned: 40),
        ]))
    }

    func testUnknownOutcomeMayTakeEffectLater() {
        XCTAssertTrue(isLinearizable([
            Op(client: 0, input: .put(key: "x", value: "1"), output: nil, call: 0, returned: 5),
            Op(client: 1, input: .get(key: "x"), output: .value(nil), call: 10, returned: 20),
            Op(client: 1, input: .get(key: "x"), output: .value("1"), call: 30, returned: 40),
        ]))
        XCTAssertTrue(isLinearizable([
            Op(client: 0, input: .put(key: "x", value: "1"), output: nil, call: 0, returned: 5),
            Op(client: 1, input: .get(key: "x"), output: .value(nil), call: 10, returned: 20),
        ]))
    }

    func testCompareAndSwap() {
        XCTAssertTrue(isLinearizable([
            Op(client: 0, input: .compareAndSwap(key: "x", expected: nil, new: "a"), output: .ok, call: 0, returned: 10),
            Op(client: 1, input: .compareAndSwap(key: "x", expected: nil, new: "b"), output: .failed, call: 5, returned: 15),
            Op(client: 1, input: .get(key: "x"), output: .value("a"), call: 20, returned: 30),
        ]))
        XCTAssertFalse(isLinearizable([
            Op(client: 0, input: .compareAndSwap(key: "x", expected: nil, new: "a"), output: .ok, call: 0, returned: 10),
            Op(client: 1, input: .compareAndSwap(key: "x", expected: nil, new: "b"), output: .ok, call: 20, returned: 30),
        ]))
    }

    func testKeysAreCheckedIndependently() {
        XCTAssertFalse(isLinearizable([
            Op(client: 0, input: .put(key: "x", value: "1"), output: .ok, call: 0, returned: 10),
            Op(client: 0, input: .put(key: "y", value: "2"), output: .ok, call: 20, returned: 30),
            Op(client: 1, input: .get(key: "y"), output: .value("2"), call: 40, returned: 50),
            Op(client: 1, input: .get(key: "x"), output: .value(nil), call: 60, returned: 70),
        ]))
    }

    func testRandomSequentialHistoriesAreLinearizableAndCorruptedOnesAreNot() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            // Build a real concurrent execution against a reference register, then check it.
            var value: String? = nil
            var ops: [Op] = []
            var time: Int64 = 0
            for i in 0..<40 {
                let client = Int.random(in: 0..<4, using: &rng)
                let start = time
                time += Int64.random(in: 1...5, using: &rng)
                let effect = time
                time += Int64.random(in: 1...5, using: &rng)
                if Bool.random(using: &rng) {
                    value = "v\(i)"
                    ops.append(Op(client: client, input: .put(key: "k", value: value!), output: .ok, call: start, returned: time))
                } else {
                    ops.append(Op(client: client, input: .get(key: "k"), output: .value(value), call: start, returned: effect + 1))
                }
            }
            XCTAssertTrue(isLinearizable(ops))
            if let index = ops.lastIndex(where: { if case .value(let v) = $0.output { return v != nil } else { return false } }) {
                ops[index].output = .value("never written")
                XCTAssertFalse(isLinearizable(ops))
            }
        }
    }

    func testManyConcurrentClientsFinishQuickly() {
        // 8 clients, 400 operations, heavy overlap: the memoized search must stay fast.
        var ops: [Op] = []
        var current: String? = nil
        for i in 0..<400 {
            let call = Int64(i * 10)
            if i % 3 == 0 {
                current = "v\(i)"
                ops.append(Op(client: i % 8, input: .put(key: "k", value: current!), output: .ok, call: call, returned: call + 75))
            } else {
                ops.append(Op(client: i % 8, input: .get(key: "k"), output: .value(current), call: call, returned: call + 75))
            }
        }
        if case .unknown = checker.check(ops) { XCTFail("search gave up") }
    }
}
