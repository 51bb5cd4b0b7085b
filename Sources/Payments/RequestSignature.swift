import Crypto
import Foundation

/// How a terminal signs its requests to the ledger server, and how the server checks them:
/// Ed25519 over the method, the path, the time, a nonce and the body's SHA-256, so a request
/// cannot be altered, sent by another terminal, or replayed outside a few minutes (and inside
/// them the server remembers its nonces).
///
/// Headers: `X-Qrpos-Terminal` (the terminal's id) or, for a wallet's phone, `X-Qrpos-Wallet`
/// (the wallet's id), `X-Qrpos-Time` (Unix ms), `X-Qrpos-Nonce` (16 to 64 characters),
/// `X-Qrpos-Signature` (base64url of the 64-byte signature).
public enum RequestSignature {
    public static let terminalHeader = "X-Qrpos-Terminal"
    public static let walletHeader = "X-Qrpos-Wallet"
    /// A bank calling back about an instruction (``bankHeader``'s value is the bank's id).
    public static let bankHeader = "X-Qrpos-Bank"
    public static let timeHeader = "X-Qrpos-Time"
    public static let nonceHeader = "X-Qrpos-Nonce"
    public static let signatureHeader = "X-Qrpos-Signature"

    /// The bytes signed.
    public static func message(method: String, path: String, time: Int64, nonce: String, body: [UInt8]) -> [UInt8] {
        let digest = Hex.string(SHA256.hash(data: body))
        return Array("qrpos request 1\n\(method.uppercased())\n\(path)\n\(time)\n\(nonce)\n\(digest)".utf8)
    }

    /// The four headers for a request from `terminal`, signed with `key`.
    public static func headers(terminal: String, key: TerminalKey, method: String, path: String, body: [UInt8],
                               time: Int64, nonce: String = UUIDv7.make()) throws -> [String: String] {
        try headers(principal: terminalHeader, id: terminal, key: key, method: method, path: path, body: body, time: time, nonce: nonce)
    }

    /// The four headers for a request from `principal` (``terminalHeader`` or ``walletHeader``)
    /// `id`, signed with `key`.
    public static func headers(principal: String, id: String, key: SigningKey, method: String, path: String, body: [UInt8],
                               time: Int64, nonce: String = UUIDv7.make()) throws -> [String: String] {
        let signature: [UInt8]
        do { signature = Array(try key.privateKey.signature(for: message(method: method, path: path, time: time, nonce: nonce, body: body))) } catch {
            throw OfflineTokenError(.malformed, "could not sign the request: \(error)")
        }
        return [principal: id, timeHeader: String(time), nonceHeader: nonce, signatureHeader: Base64URL.encode(signature)]
    }

    /// Whether `signature` (base64url) is `key`'s over the request.
    public static func isValid(signature: String, key: OfflinePublicKey, method: String, path: String, time: Int64, nonce: String,
                               body: [UInt8]) -> Bool {
        guard let raw = Base64URL.decode(signature), raw.count == 64 else { return false }
        return key.isValidSignature(raw, for: message(method: method, path: path, time: time, nonce: nonce, body: body))
    }
}
