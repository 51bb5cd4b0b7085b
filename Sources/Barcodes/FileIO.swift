#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and writes over plain POSIX calls. Barcodes avoids Foundation so that a
/// statically linked qrpos does not carry Foundation and ICU for the sake of two file calls.
enum FileIO {
    /// Reads all of `path`, refusing files larger than `byteCountMax` before reading them.
    static func readAll(path: String, byteCountMax: Int) throws(BarcodeError) -> [UInt8] {
        let fd = try retryingEINTR("cannot open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = try retryingEINTR("cannot read \(path)") {
                chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= byteCountMax else {
                throw BarcodeError(.imageTooLarge, "\(path): file is larger than \(byteCountMax) bytes")
            }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// Writes `bytes` to `path`, creating or truncating it with mode 0644.
    static func writeAll(_ bytes: [UInt8], to path: String) throws(BarcodeError) {
        let fd = try retryingEINTR("cannot create \(path)") {
            open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        var written = 0
        while written < bytes.count {
            let count: Int
            do {
                count = try retryingEINTR("cannot write \(path)") {
                    bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
                }
            } catch {
                close(fd)
                throw error
            }
            written += count
        }
        // close can report a deferred write error (NFS, full disk), so it is checked here.
        if close(fd) != 0 {
            throw BarcodeError.system("cannot write \(path)", errno: errno)
        }
    }

    /// Runs a system call until it is not interrupted; a -1 result throws with the errno.
    private static func retryingEINTR<R: BinaryInteger>(
        _ what: @autoclosure () -> String, _ call: () -> R
    ) throws(BarcodeError) -> R {
        while true {
            let result = call()
            if result != -1 { return result }
            let number = errno
            if number == EINTR { continue }
            throw BarcodeError.system(what(), errno: number)
        }
    }
}
