#if canImport(Glibc)
import Glibc

// glibc declares it only under _GNU_SOURCE, which the Glibc module map does not set.
@_silgen_name("pthread_setname_np")
private func setThreadName(_ thread: pthread_t, _ name: UnsafePointer<CChar>) -> Int32
#endif

/// Names the calling thread for `top -H`, `perf` and `/proc/PID/task/*/comm`.
///
/// Foundation's `Thread.name` does not reach the kernel on Linux when set before `start()`,
/// so every dedicated thread calls this first thing in its body. Linux keeps 15 bytes.
public func nameCurrentThread(_ name: String) {
    #if canImport(Glibc)
    _ = setThreadName(pthread_self(), String(decoding: name.utf8.prefix(15), as: UTF8.self))
    #endif
}
