import XCTest
@testable import TinyKVConfig

final class ConfigFileTests: XCTestCase {
    func testDurations() throws {
        XCTAssertEqual(try ReadableValues.duration("1s"), .seconds(1))
        XCTAssertEqual(try ReadableValues.duration("100ms"), .milliseconds(100))
        XCTAssertEqual(try ReadableValues.duration("1m30s"), .seconds(90))
        XCTAssertEqual(try ReadableValues.duration("1.5h"), .seconds(5400))
        XCTAssertEqual(try ReadableValues.duration("250us"), .microseconds(250))
        XCTAssertEqual(try ReadableValues.duration("0"), .zero)
        XCTAssertThrowsError(try ReadableValues.duration("10"))
        XCTAssertThrowsError(try ReadableValues.duration("10 parsecs"))
        XCTAssertThrowsError(try ReadableValues.duration(""))
    }

    func testSizes() throws {
        XCTAssertEqual(try ReadableValues.size("144MiB"), 144 << 20)
        XCTAssertEqual(try ReadableValues.size("96MB"), 96 << 20)
        XCTAssertEqual(try ReadableValues.size("1GiB"), 1 << 30)
        XCTAssertEqual(try ReadableValues.size("512B"), 512)
        XCTAssertEqual(try ReadableValues.size("4096"), 4096)
        XCTAssertEqual(try ReadableValues.size("1.5KiB"), 1536)
        XCTAssertThrowsError(try ReadableValues.size("12 apples"))
        XCTAssertThrowsError(try ReadableValues.size("MiB"))
    }

    func testTypedKeysAndUnknownKeys() throws {
        let file = try ConfigFile(text: """
            raft-base-tick-interval = "100ms"
            raft-heartbeat-ticks = 2
            region-max-size = "144MiB"
            raft = true
            typo-key = 1
            """)
        XCTAssertEqual(try file.duration("raft-base-tick-interval"), .milliseconds(100))
        XCTAssertEqual(try file.count("raft-heartbeat-ticks"), 2)
        XCTAssertEqual(try file.size("region-max-size"), 144 << 20)
        XCTAssertEqual(try file.bool("raft"), true)
        XCTAssertNil(try file.string("missing"))
        XCTAssertThrowsError(try file.rejectUnknownKeys()) { error in
            XCTAssertTrue("\(error)".contains("typo-key"))
        }
    }

    func testSections() throws {
        let file = try ConfigFile(text: """
            max-key-size = "8KiB"
            [security]
            ca-path = "/ca.pem"
            cert-file = "typo"
            """, path: "store.toml")
        XCTAssertEqual(try file.size("max-key-size"), 8 << 10)
        let security = try XCTUnwrap(try file.section("security"))
        XCTAssertEqual(try security.string("ca-path"), "/ca.pem")
        XCTAssertNil(try file.section("absent"))
        XCTAssertThrowsError(try file.rejectUnknownKeys()) { error in
            XCTAssertTrue("\(error)".contains("store.toml [security]: unknown configuration key cert-file"), "\(error)")
        }
        XCTAssertThrowsError(try ConfigFile(text: "security = 1").section("security"))
    }

    func testWrongTypesAreClearErrors() throws {
        let file = try ConfigFile(text: "raft-heartbeat-ticks = \"two\"\nraft-base-tick-interval = 5\n")
        XCTAssertThrowsError(try file.count("raft-heartbeat-ticks")) { XCTAssertTrue("\($0)".contains("integer")) }
        XCTAssertThrowsError(try file.duration("raft-base-tick-interval")) { XCTAssertTrue("\($0)".contains("duration")) }
        XCTAssertThrowsError(try ConfigFile(text: "this is = = not toml"))
    }
}
