#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CQREncode

/// QR error-correction level: how much of the symbol may be damaged and still read. Higher
/// levels make larger symbols for the same payload. The raw value is the letter of the standard.
public enum ErrorCorrection: String, Sendable, Hashable, CaseIterable {
    /// About 7% of codewords can be restored.
    case low = "L"
    /// About 15%; the default, a fair trade for screens and receipts.
    case medium = "M"
    /// About 25%.
    case quartile = "Q"
    /// About 30%.
    case high = "H"

    var qrLevel: QRecLevel {
        switch self {
        case .low: QR_ECLEVEL_L
        case .medium: QR_ECLEVEL_M
        case .quartile: QR_ECLEVEL_Q
        case .high: QR_ECLEVEL_H
        }
    }
}

/// An encoded QR symbol: a square of dark and light modules, without a quiet zone.
///
/// The modules are copied out of libqrencode's `QRcode`, which is freed as soon as the copy is
/// made, so a matrix is a plain value that can cross threads.
public struct QRMatrix: Sendable, Equatable {
    /// Modules per side: 17 + 4 × version.
    public let size: Int
    /// The QR version, 1…40, chosen by libqrencode as the smallest that holds the payload.
    public let version: Int
    /// The error-correction level the symbol was made with.
    public let errorCorrection: ErrorCorrection
    /// Row-major, `size * size`, true for a dark module.
    private let modules: [Bool]

    init(size: Int, version: Int, errorCorrection: ErrorCorrection, modules: [Bool]) {
        precondition(modules.count == size * size)
        self.size = size
        self.version = version
        self.errorCorrection = errorCorrection
        self.modules = modules
    }

    /// Whether the module in column `x`, row `y` (from the top left, 0-based) is dark.
    public func isDark(x: Int, y: Int) -> Bool {
        precondition((0..<size).contains(x) && (0..<size).contains(y), "module (\(x), \(y)) is outside a \(size)x\(size) symbol")
        return modules[y * size + x]
    }
}

/// Makes QR symbols with libqrencode.
public enum QREncoder {
    /// Encodes text, wrapping `QRcode_encodeString(text, 0, level, QR_MODE_8, 1)`.
    ///
    /// libqrencode splits the text into numeric, alphanumeric and 8-bit segments as it sees fit, so
    /// digit-heavy payloads get smaller symbols than byte mode alone would give. Text is stored as
    /// its UTF-8 bytes with no ECI, which is what phones and zbar expect. Text containing NUL,
    /// which a C string cannot carry, is encoded through ``encode(bytes:errorCorrection:)``.
    public static func encode(_ text: String, errorCorrection: ErrorCorrection = .medium) throws(BarcodeError) -> QRMatrix {
        if text.isEmpty {
            throw BarcodeError(.emptyPayload, "nothing to encode: the QR payload is empty")
        }
        if text.utf8.contains(0) {
            return try encode(bytes: Array(text.utf8), errorCorrection: errorCorrection)
        }
        let byteCount = text.utf8.count
        return try matrix(byteCount: byteCount, errorCorrection: errorCorrection) {
            QRcode_encodeString(text, 0, errorCorrection.qrLevel, QR_MODE_8, 1)
        }
    }

    /// Encodes arbitrary bytes in 8-bit mode, wrapping `QRcode_encodeData`; NUL and every other
    /// byte value survive unchanged.
    public static func encode(bytes: [UInt8], errorCorrection: ErrorCorrection = .medium) throws(BarcodeError) -> QRMatrix {
        if bytes.isEmpty {
            throw BarcodeError(.emptyPayload, "nothing to encode: the QR payload is empty")
        }
        return try matrix(byteCount: bytes.count, errorCorrection: errorCorrection) {
            bytes.withUnsafeBufferPointer {
                QRcode_encodeData(Int32($0.count), $0.baseAddress, 0, errorCorrection.qrLevel)
            }
        }
    }

    /// Calls a libqrencode encoder, copies its modules and frees the `QRcode` it returned.
    private static func matrix(
        byteCount: Int, errorCorrection: ErrorCorrection, _ encode: () -> UnsafeMutablePointer<QRcode>?
    ) throws(BarcodeError) -> QRMatrix {
        // libqrencode reports failure only through errno, so clear it to tell stale values apart.
        errno = 0
        guard let code = encode() else {
            let number = errno
            if number == ERANGE {
                throw BarcodeError(.payloadTooLarge,
                                   "\(byteCount) bytes are too large for a QR code at error correction \(errorCorrection.rawValue)",
                                   systemError: number)
            }
            let reason = number == 0 ? "unknown error" : String(cString: strerror(number))
            throw BarcodeError(.encoderFailed, "libqrencode failed: \(reason)", systemError: number)
        }
        defer { QRcode_free(code) }
        let size = Int(code.pointee.width)
        // Only bit 0 of each byte means dark; the other bits say which pattern a module belongs to.
        let data = UnsafeBufferPointer(start: code.pointee.data, count: size * size)
        let modules = data.map { $0 & 1 == 1 }
        return QRMatrix(size: size, version: Int(code.pointee.version),
                        errorCorrection: errorCorrection, modules: modules)
    }
}
