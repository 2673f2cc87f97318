import Foundation
import Synchronization

/// Injected faults for tests: named points in the storage code that can be told to fail.
///
/// Configured from the environment variable `TINYKV_FAILPOINTS` when first used, or with
/// ``configure(_:)``. The syntax is a `;`-separated list of `name=action`:
///
///     TINYKV_FAILPOINTS="engine.write=eio"
///     TINYKV_FAILPOINTS="engine.sync=after(50):enospc;engine.write=off"
///
/// Actions: `off`; `eio` or `enospc` (fail every evaluation with that errno's message);
/// `after(N):ACTION` (the first N evaluations pass, later ones do ACTION);
/// `times(N):ACTION` (the first N evaluations do ACTION, later ones pass).
///
/// Points:
/// - `engine.write`: a ``RocksEngine`` write fails before anything is written.
/// - `engine.sync`: a synced ``RocksEngine`` write is applied without sync, then its fsync
///   "fails" — the data may be visible, but the write is not acknowledged (like a real fsync error).
/// - `snapshot.apply`: the raft store's snapshot apply fails after clearing the region's old data
///   and before ingesting the new (a crash in the middle of an apply; the region stays `Applying`).
public enum FailPoints {
    /// What a point does when evaluated.
    public enum Action: Sendable, Equatable {
        case off
        case error(errno: Int32)
        indirect case after(Int, Action)
        indirect case times(Int, Action)
    }

    private struct Point {
        var action: Action
        var evaluations = 0
    }

    private static let points: Mutex<[String: Point]?> = Mutex(nil)

    /// Replaces the configuration with `spec` (the `TINYKV_FAILPOINTS` syntax).
    public static func configure(_ spec: String) throws {
        let parsed = try parse(spec)
        points.withLock { $0 = parsed.mapValues { Point(action: $0) } }
    }

    /// Loads `TINYKV_FAILPOINTS` now, throwing on a malformed value (servers call it at startup,
    /// so that a typo stops them with a message instead of at the first write).
    public static func loadEnvironment() throws {
        let spec = ProcessInfo.processInfo.environment["TINYKV_FAILPOINTS"] ?? ""
        do {
            try configure(spec)
        } catch let error as FailPointError {
            throw FailPointError("TINYKV_FAILPOINTS: \(error.description)")
        }
    }

    /// Turns every point off.
    public static func reset() {
        points.withLock { $0 = [:] }
    }

    /// The configured points' names and actions (for logging at startup).
    public static var active: [String: Action] {
        loadIfNeeded()
        return points.withLock { ($0 ?? [:]).mapValues(\.action).filter { $0.value != .off } }
    }

    /// Evaluates the point `name`: the error to fail with, if it fires now.
    public static func evaluate(_ name: String) -> StorageError? {
        loadIfNeeded()
        return points.withLock { table -> StorageError? in
            guard var point = table?[name] else { return nil }
            let n = point.evaluations
            point.evaluations += 1
            table![name] = point
            guard let errno = fires(point.action, evaluation: n) else { return nil }
            return .injected(point: name, errno: errno)
        }
    }

    private static func fires(_ action: Action, evaluation n: Int) -> Int32? {
        switch action {
        case .off: return nil
        case .error(let errno): return errno
        case .after(let count, let inner): return n >= count ? fires(inner, evaluation: n - count) : nil
        case .times(let count, let inner): return n < count ? fires(inner, evaluation: n) : nil
        }
    }

    private static func loadIfNeeded() {
        let loaded = points.withLock { $0 != nil }
        if loaded { return }
        let spec = ProcessInfo.processInfo.environment["TINYKV_FAILPOINTS"] ?? ""
        // A bad specification must not silently run without the faults a test asked for.
        let parsed: [String: Action]
        do {
            parsed = try parse(spec)
        } catch {
            fatalError("TINYKV_FAILPOINTS: \(error)")
        }
        points.withLock { table in
            if table == nil { table = parsed.mapValues { Point(action: $0) } }
        }
    }

    /// Parses `name=action;name=action`.
    public static func parse(_ spec: String) throws -> [String: Action] {
        var result: [String: Action] = [:]
        for item in spec.split(whereSeparator: { $0 == ";" || $0 == "," }) {
            let text = item.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            guard let eq = text.firstIndex(of: "=") else {
                throw FailPointError("\"\(text)\" is not name=action")
            }
            let name = String(text[..<eq]).trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw FailPointError("\"\(text)\" has no point name") }
            result[name] = try parseAction(Substring(text[text.index(after: eq)...]).trimmingCharacters(in: .whitespaces))
        }
        return result
    }

    private static func parseAction(_ text: String) throws -> Action {
        switch text.lowercased() {
        case "off", "": return .off
        case "eio": return .error(errno: EIO)
        case "enospc": return .error(errno: ENOSPC)
        default: break
        }
        for (prefix, make) in [("after(", Action.after), ("times(", Action.times)] as [(String, (Int, Action) -> Action)] {
            guard text.hasPrefix(prefix), let close = text.firstIndex(of: ")") else { continue }
            let countText = text[text.index(text.startIndex, offsetBy: prefix.count)..<close]
            guard let count = Int(countText), count >= 0 else { throw FailPointError("bad count in \"\(text)\"") }
            var rest = text[text.index(after: close)...]
            guard rest.first == ":" else { throw FailPointError("\"\(text)\": expected \(prefix)N):ACTION") }
            rest = rest.dropFirst()
            return make(count, try parseAction(String(rest)))
        }
        throw FailPointError("unknown action \"\(text)\" (use off, eio, enospc, after(N):ACTION, times(N):ACTION)")
    }
}

/// A malformed failpoint specification.
public struct FailPointError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
