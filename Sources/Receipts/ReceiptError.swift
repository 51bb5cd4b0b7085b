/// Why a receipt could not be signed, read or verified: a `code` to match on and a one-line
/// `message` for a person, which the CLI prints as it is.
public struct ReceiptError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure; new cases may be added.
    public enum Code: String, Sendable {
        /// The text is not a receipt at all: wrong shape, bad base64url, not JSON, missing fields.
        case malformed
        /// A receipt string of a format version this build does not read ("QRR2." …).
        case unsupportedVersion
        /// The input is longer than `Receipt.Limits.parseBytesMax`.
        case tooLarge
        /// The payload decodes, but is not byte for byte the canonical encoding of what it
        /// decodes to (extra fields, other key order, whitespace), so it is not what was signed.
        case notCanonical
        /// A field breaks a rule of `Receipt.validate()`.
        case invalidField
        /// A private or public key is not a valid Ed25519 key.
        case invalidKey
        /// The receipt names a key other than the one it is being verified with.
        case keyMismatch
        /// The signature does not match the receipt: a field was changed after signing, or the
        /// signature itself is damaged.
        case signatureInvalid
    }

    /// What kind of failure.
    public var code: Code
    /// One sentence saying what is wrong, with the offending value where that helps.
    public var message: String

    /// An error of `code` explained by `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message alone.
    public var description: String { message }
}
