import Crypto
import Foundation
import Synchronization

// The customer-presented code for paying with no network: a certificate the ledger issued to a
// wallet's device while it was online, and, per payment, the device's signature over a counter,
// a time and that certificate. A terminal checks it with nothing but the issuer's public key.
//
// Binary layout, big-endian, then Base45 behind the text prefix `QRPOS:OFF1:`, or `QRPOS:OFF2:`
// for a code that carries a cryptogram:
//
//   certificate   1 format (1) · 8 issuer key id · 16 serial · 1+n wallet id (UTF-8, 1–64) ·
//                 32 device public key · 2 currency (ISO 4217 numeric) · 8 allowance (minor units) ·
//                 8 valid from · 8 valid until (Unix ms) · 64 issuer signature
//   payment       4 counter · 8 time (Unix ms) · 64 device signature · (OFF2) 16 cryptogram
//
// The issuer signs "qrpos offline certificate 1\0" and the certificate's bytes before its
// signature; the device signs "qrpos offline payment 1\0", the whole certificate (signature
// included), the counter and the time. Domain-separated, so neither signature can stand for the
// other or for a receipt's.
//
// The cryptogram is EMV's split between the terminal and the issuer: a terminal, which holds no
// secret, checks the device's signature with public keys; the ledger, which issued the
// certificate, first checks a MAC only it and the phone can make: HMAC-SHA-256, cut to 16 bytes,
// over "qrpos offline cryptogram 1\0" and what the device signs, under a key the issuer derives
// for each certificate from its own seed (HKDF-SHA-256 over the certificate's fields) and hands
// the phone with the certificate, sealed to a one-time X25519 key of the phone's (HPKE, RFC 9180),
// so that it never crosses the network readable. That check costs the ledger a microsecond where
// an Ed25519 verification costs it 126 µs on this project's machine, for every payment a terminal
// forwards. A cryptogram that does not match is not a refusal: the ledger then checks the
// signature, as the terminal did, so a phone cannot pay with a code the terminal takes and the
// ledger refuses (the merchant who handed the goods over is paid either way).

/// Why a text is not an offline token a terminal may accept.
public struct OfflineTokenError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Codable {
        /// Not the token's text, or its bytes do not parse.
        case malformed
        /// Signed by an issuer key this terminal does not know.
        case unknownIssuer = "unknown-issuer"
        /// The issuer's signature does not match the certificate: forged or damaged.
        case badIssuerSignature = "bad-issuer-signature"
        /// The device's signature does not match: forged, or the certificate was lifted.
        case badDeviceSignature = "bad-device-signature"
        /// The certificate's validity has not begun, beyond the clock skew allowed.
        case notYetValid = "not-yet-valid"
        /// The certificate's validity has ended, beyond the clock skew allowed.
        case expired
        /// The payment's time is too far from the terminal's clock: an old code shown again, or
        /// a clock too far off.
        case stale
    }

    public let reason: Reason
    public let message: String
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }
    public var description: String { message }
}

/// An Ed25519 private key (swift-crypto): the ledger's certificate issuer, a wallet device, or a
/// terminal signing its requests. Only its public half (``publicKey``) ever leaves its owner.
public struct SigningKey: Sendable {
    let privateKey: Curve25519.Signing.PrivateKey

    /// A new random key.
    public init() { privateKey = Curve25519.Signing.PrivateKey() }

    /// The key whose 32-byte seed is `seed`, as read back from a key file.
    public init(seed: [UInt8]) throws(OfflineTokenError) {
        do { privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed) } catch {
            throw OfflineTokenError(.malformed, "an Ed25519 key seed is 32 bytes, not \(seed.count)")
        }
    }

    public var seed: [UInt8] { Array(privateKey.rawRepresentation) }
    public var publicKey: OfflinePublicKey { OfflinePublicKey(privateKey.publicKey) }

    /// As an offline issuer: the cryptogram key of `certificate`, which the phone is given with
    /// the certificate and the issuer derives again when the phone's codes come back. Bound to
    /// every field of the certificate (its issuer, serial, wallet, device key, allowance and
    /// validity): another certificate, even for the same serial, has another key.
    public func cryptogramKey(for certificate: OfflineCertificate) -> [UInt8] {
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: privateKey.rawRepresentation),
                                         salt: Self.cryptogramKeySalt, info: Array(SHA256.hash(data: certificate.fieldBytes)),
                                         outputByteCount: 32)
        return key.withUnsafeBytes { Array($0) }
    }

    /// As an offline issuer: `certificate`'s cryptogram key sealed to the phone's one-time
    /// X25519 key (`agreementKey`, 32 bytes; ``CryptogramKeyReceiver``): the encapsulated key
    /// (32 bytes) and the ciphertext (48), HPKE with X25519, HKDF-SHA-256 and ChaCha20-Poly1305.
    public func sealedCryptogramKey(for certificate: OfflineCertificate, to agreementKey: [UInt8]) throws(OfflineTokenError) -> [UInt8] {
        do {
            let recipient = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: agreementKey)
            var sender = try HPKE.Sender(recipientKey: recipient, ciphersuite: .Curve25519_SHA256_ChachaPoly,
                                         info: Data(CryptogramKeyReceiver.info(certificate)))
            let sealed = try sender.seal(cryptogramKey(for: certificate))
            return Array(sender.encapsulatedKey) + Array(sealed)
        } catch {
            throw OfflineTokenError(.malformed, "cannot seal the cryptogram key to that agreement key: \(error)")
        }
    }

    static let cryptogramKeySalt = Array("qrpos offline cryptogram key 1".utf8)
}

/// The phone's side of receiving its certificate's cryptogram key: a one-time X25519 key whose
/// public half goes with the certificate request (signed, like every request of the phone's), so
/// that only this phone can open the key the ledger seals to it.
public struct CryptogramKeyReceiver: Sendable {
    let privateKey = Curve25519.KeyAgreement.PrivateKey()

    public init() {}

    /// The public half, to send with the request.
    public var agreementKey: [UInt8] { Array(privateKey.publicKey.rawRepresentation) }

    /// The key from ``SigningKey/sealedCryptogramKey(for:to:)``'s bytes; an error when they were
    /// not sealed to this receiver for this very certificate, or were changed on the way.
    public func open(_ sealed: [UInt8], for certificate: OfflineCertificate) throws(OfflineTokenError) -> [UInt8] {
        guard sealed.count == 32 + 32 + 16 else {
            throw OfflineTokenError(.malformed, "a sealed cryptogram key is 80 bytes, not \(sealed.count)")
        }
        do {
            var recipient = try HPKE.Recipient(privateKey: privateKey, ciphersuite: .Curve25519_SHA256_ChachaPoly,
                                               info: Data(Self.info(certificate)), encapsulatedKey: Data(sealed.prefix(32)))
            return Array(try recipient.open(sealed.dropFirst(32)))
        } catch {
            throw OfflineTokenError(.malformed, "the sealed cryptogram key does not open: not for this phone or this certificate, or changed")
        }
    }

    static func info(_ certificate: OfflineCertificate) -> [UInt8] {
        Array("qrpos offline cryptogram key sealed 1\0".utf8) + Array(SHA256.hash(data: certificate.bytes))
    }
}

/// The ledger's key for issuing offline certificates. Terminals hold its public half.
public typealias OfflineIssuerKey = SigningKey
/// A wallet device's own key: it signs each offline payment. Made on the device; only its public
/// half goes into the certificate.
public typealias OfflineDeviceKey = SigningKey
/// A terminal's request-signing key (``RequestSignature``), kept in the terminal's own key file.
public typealias TerminalKey = SigningKey

/// An Ed25519 public key (an issuer's or a device's) and its id.
public struct OfflinePublicKey: Sendable, Hashable {
    public let raw: [UInt8]
    let key: Curve25519.Signing.PublicKey

    init(_ key: Curve25519.Signing.PublicKey) {
        self.key = key
        raw = Array(key.rawRepresentation)
    }

    /// The key whose 32 raw bytes are `raw`, as published.
    public init(raw: [UInt8]) throws(OfflineTokenError) {
        do { key = try Curve25519.Signing.PublicKey(rawRepresentation: raw) } catch {
            throw OfflineTokenError(.malformed, "an Ed25519 public key is 32 bytes, not \(raw.count)")
        }
        self.raw = raw
    }

    /// The first 8 bytes of SHA-256 of the key: how a certificate names its issuer.
    public var id: [UInt8] { Array(SHA256.hash(data: raw).prefix(8)) }
    /// The 32 bytes as 64 lower-case hex digits.
    public var hex: String { Hex.string(raw) }
    /// ``id`` as 16 lower-case hex digits.
    public var idHex: String { Hex.string(id) }

    public static func == (a: Self, b: Self) -> Bool { a.raw == b.raw }
    public func hash(into hasher: inout Hasher) { hasher.combine(raw) }

    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: message)
    }
}

/// What the ledger vouches for: this device may spend up to `allowance` of this wallet offline
/// between `validFrom` and `validUntil`. The allowance is reserved on the wallet's account when
/// the certificate is issued, so it cannot also be spent online.
public struct OfflineCertificate: Sendable, Hashable {
    public static let format: UInt8 = 1
    /// The longest wallet id a certificate carries, in UTF-8 bytes.
    public static let walletIDLengthMax = 64

    /// The issuing key's id (``OfflinePublicKey/id``).
    public let issuerKeyID: [UInt8]
    /// The certificate's own id, a UUIDv7: the ledger's reservation of the allowance.
    public let serial: String
    public let walletID: String
    public let devicePublicKey: OfflinePublicKey
    public let allowance: Money
    /// Unix milliseconds.
    public let validFrom: Int64
    public let validUntil: Int64
    public let signature: [UInt8]

    /// Whether `serial` may name a certificate: a UUIDv7 in lower case only. A token carries the
    /// serial's bytes and reads it back in lower case, so a serial reserved in upper case would
    /// never be found when its payments are settled.
    public static func isValidSerial(_ serial: String) -> Bool {
        UUIDv7.isValid(serial) && serial == serial.lowercased()
    }

    /// Issues a certificate: signs its fields with `issuer`.
    public static func issue(serial: String, walletID: String, device: OfflinePublicKey, allowance: Money,
                             validFrom: Int64, validUntil: Int64, issuer: OfflineIssuerKey) throws(OfflineTokenError) -> OfflineCertificate {
        guard isValidSerial(serial) else {
            throw OfflineTokenError(.malformed, "a certificate serial is a lower-case UUIDv7, not '\(serial)'")
        }
        guard (1...walletIDLengthMax).contains(walletID.utf8.count) else {
            throw OfflineTokenError(.malformed, "a wallet id is 1 to \(walletIDLengthMax) bytes")
        }
        guard allowance.minorUnits > 0 else { throw OfflineTokenError(.malformed, "an offline allowance is more than zero") }
        guard validFrom < validUntil else { throw OfflineTokenError(.malformed, "a certificate's validity must end after it begins") }
        let unsigned = OfflineCertificate(issuerKeyID: issuer.publicKey.id, serial: serial, walletID: walletID, devicePublicKey: device,
                                          allowance: allowance, validFrom: validFrom, validUntil: validUntil, signature: [])
        let signature: [UInt8]
        do { signature = Array(try issuer.privateKey.signature(for: Self.certificateDomain + unsigned.fieldBytes)) } catch {
            throw OfflineTokenError(.malformed, "could not sign the certificate: \(error)")
        }
        return OfflineCertificate(issuerKeyID: unsigned.issuerKeyID, serial: serial, walletID: walletID, devicePublicKey: device,
                                  allowance: allowance, validFrom: validFrom, validUntil: validUntil, signature: signature)
    }

    static let certificateDomain = Array("qrpos offline certificate 1\0".utf8)

    /// The fields as signed: everything before the signature.
    var fieldBytes: [UInt8] {
        var w = ByteWriter()
        w.byte(Self.format)
        w.bytes(issuerKeyID)
        w.bytes(UUIDBytes.raw(serial)!)
        w.byte(UInt8(walletID.utf8.count))
        w.bytes(Array(walletID.utf8))
        w.bytes(devicePublicKey.raw)
        w.uint16(UInt16(allowance.currency.numeric)!)
        w.int64(allowance.minorUnits)
        w.int64(validFrom)
        w.int64(validUntil)
        return w.out
    }

    /// The whole certificate, signature included.
    public var bytes: [UInt8] { fieldBytes + signature }

    /// Whether the issuer whose public key is `issuer` signed exactly these fields.
    public func isSigned(by issuer: OfflinePublicKey) -> Bool {
        issuer.id == issuerKeyID && issuer.isValidSignature(signature, for: Self.certificateDomain + fieldBytes)
    }

    static func read(_ r: inout ByteReader) throws(OfflineTokenError) -> OfflineCertificate {
        guard try r.byte() == format else { throw OfflineTokenError(.malformed, "not an offline certificate of format \(format)") }
        let issuer = try r.bytes(8)
        guard let serial = UUIDBytes.text(try r.bytes(16)), UUIDv7.isValid(serial) else {
            throw OfflineTokenError(.malformed, "the certificate's serial is not a UUIDv7")
        }
        let walletLength = Int(try r.byte())
        guard (1...walletIDLengthMax).contains(walletLength), let wallet = String(validating: try r.bytes(walletLength), as: UTF8.self) else {
            throw OfflineTokenError(.malformed, "the certificate's wallet id is not 1 to \(walletIDLengthMax) bytes of UTF-8")
        }
        let device = try OfflinePublicKey(raw: try r.bytes(32))
        let numeric = try r.uint16()
        let digits = String(numeric)
        guard let currency = Currency(String(repeating: "0", count: max(0, 3 - digits.count)) + digits) else {
            throw OfflineTokenError(.malformed, "the certificate's currency \(numeric) is not one qrpos knows")
        }
        let allowance = try r.int64()
        let from = try r.int64(), until = try r.int64()
        guard allowance > 0, from < until else { throw OfflineTokenError(.malformed, "the certificate's allowance or validity is not possible") }
        return OfflineCertificate(issuerKeyID: issuer, serial: serial, walletID: wallet, devicePublicKey: device,
                                  allowance: Money(minorUnits: allowance, currency: currency), validFrom: from, validUntil: until,
                                  signature: try r.bytes(64))
    }
}

extension OfflineCertificate {
    /// A certificate from its bytes (``bytes``), as the wallet stored it.
    public init(bytes: [UInt8]) throws(OfflineTokenError) {
        var r = ByteReader(bytes)
        self = try Self.read(&r)
        guard r.isAtEnd else { throw OfflineTokenError(.malformed, "the certificate has \(r.remaining) bytes too many") }
    }
}

/// One offline payment's code: the certificate, the device's counter (one more each time the
/// phone shows a code) and the time, signed by the device, and the issuer's cryptogram when the
/// phone has its key. It fits one QR (about 400 characters of Base45 with the cryptogram,
/// version 12 at level M).
public struct OfflineToken: Sendable, Hashable {
    /// The prefix of a code without a cryptogram.
    public static let prefix = "QRPOS:OFF1:"
    /// The prefix of a code with one (``cryptogram``).
    public static let prefixWithCryptogram = "QRPOS:OFF2:"
    public static let cryptogramLength = 16

    public let certificate: OfflineCertificate
    public let counter: UInt32
    /// Unix milliseconds on the phone when it made the code.
    public let time: Int64
    public let signature: [UInt8]
    /// The phone's MAC for the ledger's eyes (see the notes at the top of this file), when the
    /// phone was given its certificate's key: what the ledger checks in place of ``signature``.
    public let cryptogram: [UInt8]?

    static let paymentDomain = Array("qrpos offline payment 1\0".utf8)
    static let cryptogramDomain = Array("qrpos offline cryptogram 1\0".utf8)

    /// Signs a payment code with the device's key; `device` must be the certificate's device.
    /// With `cryptogramKey` (given with the certificate) the code carries a cryptogram too.
    public static func make(certificate: OfflineCertificate, device: OfflineDeviceKey, counter: UInt32, time: Int64,
                            cryptogramKey: [UInt8]? = nil) throws(OfflineTokenError) -> OfflineToken {
        guard device.publicKey == certificate.devicePublicKey else {
            throw OfflineTokenError(.badDeviceSignature, "this device key is not the one the certificate names")
        }
        let signed = signedBytes(certificate, counter, time)
        let signature: [UInt8]
        do { signature = Array(try device.privateKey.signature(for: signed)) } catch {
            throw OfflineTokenError(.malformed, "could not sign the payment: \(error)")
        }
        return OfflineToken(certificate: certificate, counter: counter, time: time, signature: signature,
                            cryptogram: cryptogramKey.map { cryptogram(key: $0, signed: signed) })
    }

    static func cryptogram(key: [UInt8], signed: [UInt8]) -> [UInt8] {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: key))
        mac.update(data: cryptogramDomain)
        mac.update(data: signed)
        return Array(mac.finalize().prefix(cryptogramLength))
    }

    /// Whether ``cryptogram`` is the one the phone holding `key` makes for this code (compared
    /// in constant time).
    public func hasValidCryptogram(key: [UInt8]) -> Bool {
        guard let cryptogram, cryptogram.count == Self.cryptogramLength else { return false }
        let expected = Self.cryptogram(key: key, signed: Self.signedBytes(certificate, counter, time))
        return zip(cryptogram, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func signedBytes(_ certificate: OfflineCertificate, _ counter: UInt32, _ time: Int64) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(paymentDomain)
        w.bytes(certificate.bytes)
        w.uint32(counter)
        w.int64(time)
        return w.out
    }

    /// The binary form (certificate, counter, time, signature, and the cryptogram if any).
    public var bytes: [UInt8] {
        var w = ByteWriter()
        w.bytes(certificate.bytes)
        w.uint32(counter)
        w.int64(time)
        w.bytes(signature)
        if let cryptogram { w.bytes(cryptogram) }
        return w.out
    }

    /// The text a QR carries: ``prefix`` (or ``prefixWithCryptogram``) and the bytes in Base45.
    public var text: String { (cryptogram == nil ? Self.prefix : Self.prefixWithCryptogram) + Base45.encode(bytes) }

    /// Whether a scanned text is meant to be an offline token (and so must parse as one).
    public static func looksLikeToken(_ text: String) -> Bool { text.hasPrefix(prefix) || text.hasPrefix(prefixWithCryptogram) }

    /// Parses a scanned text. Checks the form only; ``verify(issuers:now:clockSkewMillis:)`` checks the rest.
    public init(parsing text: String) throws(OfflineTokenError) {
        let withCryptogram = text.hasPrefix(Self.prefixWithCryptogram)
        guard withCryptogram || text.hasPrefix(Self.prefix) else {
            throw OfflineTokenError(.malformed, "not an offline token: it must start with \(Self.prefix) or \(Self.prefixWithCryptogram)")
        }
        guard let raw = Base45.decode(text.dropFirst((withCryptogram ? Self.prefixWithCryptogram : Self.prefix).count)) else {
            throw OfflineTokenError(.malformed, "the offline token is damaged: not Base45")
        }
        var r = ByteReader(raw)
        certificate = try OfflineCertificate.read(&r)
        counter = try r.uint32()
        time = try r.int64()
        signature = try r.bytes(64)
        cryptogram = withCryptogram ? try r.bytes(Self.cryptogramLength) : nil
        guard r.isAtEnd else { throw OfflineTokenError(.malformed, "the offline token has \(r.remaining) bytes too many") }
    }

    init(certificate: OfflineCertificate, counter: UInt32, time: Int64, signature: [UInt8], cryptogram: [UInt8]? = nil) {
        self.certificate = certificate
        self.counter = counter
        self.time = time
        self.signature = signature
        self.cryptogram = cryptogram
    }

    /// Everything a terminal can check with no network: the issuer is one of `issuers` and
    /// signed the certificate; the certificate's device signed this payment; the certificate is
    /// valid at `now`; and the payment was made within `clockSkewMillis` of `now` (either way:
    /// the phone's clock and the terminal's may both be off). What depends on this terminal's
    /// history (counter never seen, limits) is the terminal's to check.
    public func verify(issuers: [OfflinePublicKey], now: Int64, clockSkewMillis: Int64) throws(OfflineTokenError) {
        try verify(issuers: issuers, now: now, clockSkewMillis: clockSkewMillis, certificateChecked: false, cryptogramKey: nil)
    }

    /// ``verify(issuers:now:clockSkewMillis:)``, except the certificate's own signature when
    /// `certificateChecked` (an ``OfflineVerifier`` has checked these very bytes before), and,
    /// given the certificate's `cryptogramKey` (only its issuer has it), the device's signature
    /// only when the code carries no cryptogram that matches.
    func verify(issuers: [OfflinePublicKey], now: Int64, clockSkewMillis: Int64, certificateChecked: Bool,
                cryptogramKey: [UInt8]?) throws(OfflineTokenError) {
        guard let issuer = issuers.first(where: { $0.id == certificate.issuerKeyID }) else {
            throw OfflineTokenError(.unknownIssuer, "the code was issued by a key this terminal does not know")
        }
        guard certificateChecked || certificate.isSigned(by: issuer) else {
            throw OfflineTokenError(.badIssuerSignature, "the code's certificate is not signed by its issuer: forged or damaged")
        }
        let proven = cryptogramKey.map(hasValidCryptogram) ?? false
        guard proven || certificate.devicePublicKey.isValidSignature(signature, for: Self.signedBytes(certificate, counter, time)) else {
            throw OfflineTokenError(.badDeviceSignature, "the code is not signed by the wallet's device: forged or damaged")
        }
        // No arithmetic on the token's own numbers: a device may sign any time at all (Int64.min
        // included), and a subtraction from it would trap. Only the terminal's clock moves.
        let (earliest, latest) = (now - clockSkewMillis, now + clockSkewMillis)
        guard certificate.validFrom <= latest else {
            throw OfflineTokenError(.notYetValid, "the wallet's offline certificate is not valid yet")
        }
        guard certificate.validUntil >= earliest else {
            throw OfflineTokenError(.expired, "the wallet's offline certificate has expired: the customer must go online once")
        }
        guard time >= earliest && time <= latest else {
            throw OfflineTokenError(.stale, "the code's time is more than \(clockSkewMillis / 1000) s from this terminal's: ask for a fresh code")
        }
    }
}

/// Verifies tokens, remembering the certificates whose issuer signature it has checked: a
/// wallet's certificate comes with each of its payments, and one Ed25519 verification of it is
/// enough (the bytes are compared whole, so a changed certificate is checked again).
///
/// A terminal's verifier checks as ``OfflineToken/verify(issuers:now:clockSkewMillis:)`` does:
/// the device's signature every time. The ledger's, made with the issuer's own key (`issuer`),
/// takes a code whose cryptogram matches without its signature, and checks the signature of any
/// other (none, or one that does not match).
public final class OfflineVerifier: Sendable {
    public let issuers: [OfflinePublicKey]
    let issuer: (key: OfflineIssuerKey, id: [UInt8])?
    /// Certificate bytes checked, with their cryptogram key when this verifier can derive it.
    private let checked = Mutex<[[UInt8]: [UInt8]?]>([:])
    /// Certificates remembered at most; past it the memory starts again empty.
    public static let rememberedCountMax = 100_000

    public init(issuers: [OfflinePublicKey], issuer: OfflineIssuerKey? = nil) {
        self.issuers = issuers
        self.issuer = issuer.map { ($0, $0.publicKey.id) }
    }

    public func verify(_ token: OfflineToken, now: Int64, clockSkewMillis: Int64) throws(OfflineTokenError) {
        let bytes = token.certificate.bytes
        let remembered = checked.withLock { $0[bytes] }
        let key = remembered ?? issuer.flatMap { issuer in
            issuer.id == token.certificate.issuerKeyID ? issuer.key.cryptogramKey(for: token.certificate) : nil
        }
        try token.verify(issuers: issuers, now: now, clockSkewMillis: clockSkewMillis, certificateChecked: remembered != nil,
                         cryptogramKey: key)
        if remembered == nil {
            checked.withLock { known in
                if known.count >= Self.rememberedCountMax { known.removeAll() }
                known[bytes] = .some(key)
            }
        }
    }
}

/// A UUID's 16 bytes from its text and back, in hex by hand: Foundation's `UUID(uuidString:)`
/// parses with sscanf and `uuidString` prints with snprintf (then `lowercased()`), which showed in
/// the profile of a server checking a sync batch's tokens.
enum UUIDBytes {
    /// The bytes of a 36-character UUID (either case); nil for anything else.
    static func raw(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        var high: UInt8?
        var index = 0
        for c in text.utf8 {
            defer { index += 1 }
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
                continue
            }
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return index == 36 ? out : nil
    }

    /// The 36 lower-case characters of 16 bytes; nil for another count.
    static func text(_ b: [UInt8]) -> String? {
        guard b.count == 16 else { return nil }
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, byte) in b.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Big-endian fixed-width writing.
struct ByteWriter {
    var out: [UInt8] = []
    mutating func byte(_ b: UInt8) { out.append(b) }
    mutating func bytes(_ b: [UInt8]) { out += b }
    mutating func uint16(_ v: UInt16) { out += [UInt8(v >> 8), UInt8(v & 0xFF)] }
    mutating func uint32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    mutating func int64(_ v: Int64) { for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> Int64(s))) } }
}

/// Big-endian fixed-width reading; running out is a malformed token.
struct ByteReader {
    private let data: [UInt8]
    private var at = 0
    init(_ data: [UInt8]) { self.data = data }
    var isAtEnd: Bool { at == data.count }
    var remaining: Int { data.count - at }

    mutating func bytes(_ n: Int) throws(OfflineTokenError) -> [UInt8] {
        guard remaining >= n else { throw OfflineTokenError(.malformed, "the offline token is cut short") }
        defer { at += n }
        return Array(data[at..<at + n])
    }
    mutating func byte() throws(OfflineTokenError) -> UInt8 { try bytes(1)[0] }
    mutating func uint16() throws(OfflineTokenError) -> UInt16 {
        let b = try bytes(2)
        return UInt16(b[0]) << 8 | UInt16(b[1])
    }
    mutating func uint32() throws(OfflineTokenError) -> UInt32 {
        try bytes(4).reduce(0) { $0 << 8 | UInt32($1) }
    }
    mutating func int64() throws(OfflineTokenError) -> Int64 {
        Int64(bitPattern: try bytes(8).reduce(0) { $0 << 8 | UInt64($1) })
    }
}
