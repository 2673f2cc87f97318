import CGRPC

/// Conversions between core byte buffers / slices and Swift values.
/// Each direction copies the payload exactly once.
enum ByteBuffer {
    /// Copies a received byte buffer into a fresh array (decompressing if the
    /// peer compressed it). Returns nil if the buffer can't be decoded.
    static func bytes(from buffer: UnsafeMutablePointer<grpc_byte_buffer>) -> [UInt8]? {
        let length: Int
        if cgrpc_byte_buffer_is_plain(buffer) != 0 {
            length = Int(grpc_byte_buffer_length(buffer))
        } else {
            // Compressed: the reader inflates, so ask it for the real length.
            let n = cgrpc_byte_buffer_copy(buffer, nil)
            guard n >= 0 else { return nil }
            length = Int(n)
        }
        if length == 0 { return [] }
        var failed = false
        let result = [UInt8](unsafeUninitializedCapacity: length) { storage, initialized in
            let n = cgrpc_byte_buffer_copy(buffer, storage.baseAddress)
            if n != Int64(length) { failed = true; initialized = 0; return }
            initialized = length
        }
        return failed ? nil : result
    }
}

extension String {
    /// Decodes a slice as UTF-8 (invalid sequences are repaired).
    init(slice: UnsafePointer<grpc_slice>) {
        let length = cgrpc_slice_length(slice)
        guard length > 0, let start = cgrpc_slice_start(slice) else {
            self = ""
            return
        }
        self = String(decoding: UnsafeBufferPointer(start: start, count: length), as: UTF8.self)
    }
}
