import Foundation
import TOMLKit

/// A TOML configuration file read key by key, so that keys nobody asked for are
/// reported instead of silently ignored (a typo must not fall back to a default).
public final class ConfigFile {
    private let table: TOMLTable
    private var used: Set<String> = []
    private var sections: [ConfigFile] = []
    /// The file's path, for messages (with the section, such as `config.toml [security]`).
    public let path: String

    /// Reads and parses the TOML file at `path`.
    public convenience init(path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError("cannot read config file \(path): \(error.localizedDescription)")
        }
        try self.init(text: text, path: path)
    }

    /// Parses TOML text.
    public init(text: String, path: String = "<config>") throws {
        self.path = path
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError("\(path):\(error.source.begin.line):\(error.source.begin.column): \(error.description)")
        }
    }

    private init(table: TOMLTable, path: String) {
        self.table = table
        self.path = path
    }

    /// The keys of the `[name]` table, read like the file's own; nil when there is none.
    /// Unknown keys inside it are reported by the parent's ``rejectUnknownKeys()``.
    public func section(_ name: String) throws -> ConfigFile? {
        guard let value = value(name) else { return nil }
        guard let table = value.table else { throw mismatch(name, "a table ([\(name)])") }
        let section = ConfigFile(table: table, path: "\(path) [\(name)]")
        sections.append(section)
        return section
    }

    private func value(_ key: String) -> TOMLValueConvertible? {
        used.insert(key)
        return table[key]
    }

    private func mismatch(_ key: String, _ expected: String) -> ConfigError {
        ConfigError("\(path): \(key) must be \(expected)")
    }

    public func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.string else { throw mismatch(key, "a string") }
        return string
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.bool else { throw mismatch(key, "true or false") }
        return bool
    }

    public func int(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard let int = value.int else { throw mismatch(key, "an integer") }
        return int
    }

    /// A positive integer.
    public func count(_ key: String) throws -> Int? {
        guard let int = try int(key) else { return nil }
        guard int > 0 else { throw mismatch(key, "a positive integer") }
        return int
    }

    /// A Go-style duration string such as `"10s"`.
    public func duration(_ key: String) throws -> Duration? {
        guard let value = value(key) else { return nil }
        guard let text = value.string else { throw mismatch(key, "a duration string such as \"10s\"") }
        do {
            return try ReadableValues.duration(text)
        } catch let error as ConfigError {
            throw ConfigError("\(path): \(key): \(error.message)")
        }
    }

    /// A size string such as `"96MiB"`, or a number of bytes.
    public func size(_ key: String) throws -> UInt64? {
        guard let value = value(key) else { return nil }
        if let int = value.int {
            guard int >= 0 else { throw mismatch(key, "a size such as \"96MiB\"") }
            return UInt64(int)
        }
        guard let text = value.string else { throw mismatch(key, "a size such as \"96MiB\"") }
        do {
            return try ReadableValues.size(text)
        } catch let error as ConfigError {
            throw ConfigError("\(path): \(key): \(error.message)")
        }
    }

    /// Throws when the file has keys that were never read.
    public func rejectUnknownKeys() throws {
        let unknown = table.keys.filter { !used.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ConfigError("\(path): unknown configuration key\(unknown.count > 1 ? "s" : "") \(unknown.joined(separator: ", "))")
        }
        for section in sections { try section.rejectUnknownKeys() }
    }
}
