/// Why a text is not a valid EMV merchant-presented QR payload, or why a value cannot become one.
///
/// `code` is for programs to match on; `message` is one sentence for a person, naming the field id
/// and, when the error comes from a payload, the character offset (counted in Unicode scalars from
/// the start of the payload, 0-based).
public struct EMVQRError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: String, Sendable {
        /// The payload is the empty string.
        case empty
        /// The payload or a template ends inside a data object: its header or value runs past the end.
        case truncated
        /// A length is not two digits, or is 00 (EMV QR leaves empty fields out instead).
        case badLength
        /// An id is not two digits.
        case nonDigitID
        /// An id appears twice at the same level (the top level or inside one template).
        case duplicateID
        /// Field 63 is not four upper-case hex digits, or does not match the payload.
        case badCRC
        /// A mandatory field is absent.
        case missingField
        /// Field 00 is not first, or field 63 is not last.
        case misplacedField
        /// A field's value breaks the format the specification gives it (length, characters, range).
        case badField
        /// Field 53 is a well-formed ISO 4217 number that qrpos does not know, so amounts cannot be read.
        case unknownCurrency
        /// The payload passes 512 characters, or a value passes 99 and cannot be written as TLV.
        case tooLong
        /// A valid EMV payload that is not a qrpos order QR.
        case notOrderQR
    }

    /// What went wrong, for matching.
    public let code: Code
    /// One clear sentence naming the field and, when known, the offset.
    public let message: String
    /// Unicode-scalar offset into the payload where the problem is, when it comes from a payload.
    public let offset: Int?

    /// An error of kind `code`. Write `message` as a sentence that names the field id.
    public init(_ code: Code, _ message: String, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    /// The message alone: it already names the field and the offset.
    public var description: String { message }
}
