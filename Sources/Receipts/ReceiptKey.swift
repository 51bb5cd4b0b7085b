import Crypto
import Foundation
import Payments

/// A receipt with the Ed25519 signature of its stamp (``ReceiptCodec/stampBody(_:keyID:)``, which
/// holds the SHA-256 of its canonical bytes) and the id of the key that made it.
public struct SignedReceipt: Sendable, Equatable {
    /// The receipt as signed.
    public var receipt: Receipt
    /// `ReceiptKey.keyID(of:)` of the signing key: 16 lower-case hex digits.
    public var keyID: String
    /// The Ed25519 signature of `ReceiptCodec.stampBody(receipt, keyID:)`, 64 bytes.
    public var signature: [UInt8]

    /// A signed receipt from its parts; `ReceiptKey.sign(_:)` is the usual way to make one.
    public init(receipt: Receipt, keyID: String, signature: [UInt8]) {
        self.receipt = receipt
        self.keyID = keyID
        self.signature = signature
    }
}

// In a receipt file the signature is base64url text, as in the compact form, rather than an array
// of 64 numbers.
extension SignedReceipt: Codable {
    enum CodingKeys: String, CodingKey {
        case receipt, keyID, signature
    }

    /// Reads `{"keyID": …, "receipt": {…}, "signature": "<base64url>"}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .signature)
        guard let signature = Base64URL.decode(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .signature, in: container, debugDescription: "signature is not base64url")
        }
        self.init(
            receipt: try container.decode(Receipt.self, forKey: .receipt),
            keyID: try container.decode(String.self, forKey: .keyID),
            signature: signature)
    }

    /// Writes the form `init(from:)` reads.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(receipt, forKey: .receipt)
        try container.encode(keyID, forKey: .keyID)
        try container.encode(Base64URL.encode(signature), forKey: .signature)
    }
}

/// The terminal's receipt-signing key: an Ed25519 (Curve25519) private key from swift-crypto.
///
/// Its public half, or just its `keyID`, is what a verifier needs; the private half never leaves
/// the terminal's key file.
public struct ReceiptKey: Sendable {
    private let privateKey: Curve25519.Signing.PrivateKey

    /// A new random key.
    public init() {
        privateKey = Curve25519.Signing.PrivateKey()
    }

    /// The key whose 32-byte seed is `rawRepresentation`, as read back from a key file.
    public init(rawRepresentation: some ContiguousBytes) throws(ReceiptError) {
        let count = rawRepresentation.withUnsafeBytes { $0.count }
        do {
            privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation)
        } catch {
            throw ReceiptError(.invalidKey, "a receipt signing key is 32 bytes, not \(count)")
        }
    }

    /// The 32-byte seed to store in a key file.
    public var rawRepresentation: Data { privateKey.rawRepresentation }

    /// The public key that verifies this key's receipts.
    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }

    /// The id printed on and carried by every receipt this key signs.
    public var keyID: String { ReceiptKey.keyID(of: publicKey) }

    /// The first 8 bytes of SHA-256 of the 32-byte public key, as 16 lower-case hex digits: short
    /// enough to print on a receipt, long enough that two terminals' keys do not collide by chance.
    public static func keyID(of publicKey: Curve25519.Signing.PublicKey) -> String {
        Hex.string(SHA256.hash(data: publicKey.rawRepresentation).prefix(8))
    }

    /// The public key whose 32 raw bytes are `rawRepresentation`, as published by a terminal,
    /// so that a verifier need not import Crypto itself.
    public static func publicKey(rawRepresentation: some ContiguousBytes) throws(ReceiptError)
        -> Curve25519.Signing.PublicKey
    {
        let count = rawRepresentation.withUnsafeBytes { $0.count }
        do {
            return try Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation)
        } catch {
            throw ReceiptError(.invalidKey, "a receipt public key is 32 bytes, not \(count)")
        }
    }

    /// Signs the stamp of `receipt` (which holds the digest of its canonical bytes), after
    /// `Receipt.validate()` accepts it.
    public func sign(_ receipt: Receipt) throws(ReceiptError) -> SignedReceipt {
        let body = try ReceiptCodec.stampBody(receipt, keyID: keyID)
        let signature: Data
        do {
            signature = try privateKey.signature(for: Data(body.utf8))
        } catch {
            throw ReceiptError(.invalidKey, "could not sign receipt \(receipt.number): \(error)")
        }
        return SignedReceipt(receipt: receipt, keyID: keyID, signature: Array(signature))
    }
}
