#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Milliseconds since the Unix epoch. Injected everywhere time matters so tests can
/// drive timeouts, down stores and the TSO with a fake clock.
public typealias MillisecondClock = @Sendable () -> UInt64

/// The wall clock in milliseconds (what PD's TSO physical part is made of).
@Sendable public func wallClockMillis() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000 + UInt64(ts.tv_nsec) / 1_000_000
}
