#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every failure the Barcodes module reports: a stable `code` a caller can match on, and a
/// one-line human `message` that says what went wrong and where (the CLI prints it as is).
///
/// Only failures of the outside world are thrown (a payload that does not fit, an unreadable or
/// malformed file). Misuse, such as a negative module size, is a `precondition`.
public struct BarcodeError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// Nothing to encode: an empty payload.
        case emptyPayload
        /// The payload does not fit in the largest symbol (QR version 40, or zint's Code 128 limit).
        case payloadTooLarge
        /// The payload has characters the symbology cannot carry (Code 128 here takes ASCII only).
        case unencodableText
        /// The C encoder (libqrencode, zint, libpng) failed for another reason; see the message.
        case encoderFailed
        /// The bytes are neither PGM nor PNG, or a file name has no known image extension.
        case unknownImageFormat
        /// A recognised but unsupported image, such as a PPM (P6) or a PBM (P4).
        case unsupportedImage
        /// An image whose header or data is broken or cut short.
        case malformedImage
        /// An image larger than `ImageFile.sideMax` or `ImageFile.pixelCountMax`.
        case imageTooLarge
        /// Opening, reading or writing a file failed; `systemError` holds the errno.
        case fileSystem
    }

    /// What kind of failure this is, for code that reacts to it.
    public let code: Code
    /// One line for a human, naming the file or payload involved.
    public let message: String
    /// The errno of the failing system call, when the failure came from one.
    public let systemError: Int32?

    /// An error with a code and a message; `systemError` is the errno when there is one.
    public init(_ code: Code, _ message: String, systemError: Int32? = nil) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }

    /// The message, so `print(error)` shows one clear line.
    public var description: String { message }

    /// An error for a failed system call, with `strerror`'s text appended to `what`.
    static func system(_ what: String, errno number: Int32) -> BarcodeError {
        BarcodeError(.fileSystem, "\(what): \(String(cString: strerror(number)))", systemError: number)
    }
}
