/// Parsing of the human-readable durations and sizes TiKV-style configs use.
public enum ReadableValues {
    /// A Go-style duration: `"1s"`, `"100ms"`, `"1m30s"`, `"1.5h"`, `"250us"`, `"0"`.
    public static func duration(_ text: String) throws -> Duration {
        let source = text.trimmingCharacters(in: " ")
        guard !source.isEmpty else { throw ConfigError("empty duration") }
        if source == "0" { return .zero }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var seconds = 0.0
        var rest = Substring(source)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else {
                throw ConfigError("invalid duration \"\(text)\": expected a number at \"\(rest)\"")
            }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !$0.isNumber && $0 != "." }
            // Longest unit first so that "ms" is not read as "m".
            guard let unit = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { unitText == $0.0 }) else {
                throw ConfigError("invalid duration \"\(text)\": unknown unit \"\(unitText)\" (use ns, us, ms, s, m, h)")
            }
            rest = rest.dropFirst(unitText.count)
            seconds += value * unit.1
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// A size in bytes: `"144MiB"`, `"96MB"`, `"64KiB"`, `"1GiB"`, `"512B"`, `"4096"`. Units are binary (KB = KiB).
    public static func size(_ text: String) throws -> UInt64 {
        let source = text.trimmingCharacters(in: " ")
        let number = source.prefix { $0.isNumber || $0 == "." }
        let unit = String(source.dropFirst(number.count)).trimmingCharacters(in: " ").uppercased()
        guard let value = Double(number), value >= 0 else {
            throw ConfigError("invalid size \"\(text)\": expected a number with an optional unit (B, KiB, MiB, GiB, TiB)")
        }
        let kib = 1024.0
        let multipliers: [String: Double] = [
            "": 1, "B": 1,
            "K": kib, "KB": kib, "KIB": kib,
            "M": kib * kib, "MB": kib * kib, "MIB": kib * kib,
            "G": kib * kib * kib, "GB": kib * kib * kib, "GIB": kib * kib * kib,
            "T": kib * kib * kib * kib, "TB": kib * kib * kib * kib, "TIB": kib * kib * kib * kib,
        ]
        guard let multiplier = multipliers[unit] else {
            throw ConfigError("invalid size \"\(text)\": unknown unit \"\(unit)\" (use B, KiB, MiB, GiB, TiB)")
        }
        return UInt64((value * multiplier).rounded())
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var view = Substring(self)
        while view.first == set { view = view.dropFirst() }
        while view.last == set { view = view.dropLast() }
        return String(view)
    }
}
