import Crypto
import Foundation
import Payments

/// The receipt's canonical bytes, its stamp (what its QR carries), its one-line compact form,
/// and verification.
///
/// What the terminal signs is the **stamp**: a line of text a person can read and a small QR can
/// hold, `QRV1*<number>*<terminal>*<kind>*<currency>*<amount>*<issuedAt>*<digest>*<keyID>`, where
/// `amount` is in minor units, `digest` is the base64url SHA-256 of the receipt's canonical JSON,
/// and `*` and `%` inside the number and terminal are percent-escaped. The verification string
/// is the stamp, `*`, and the base64url Ed25519 signature of the stamp's bytes. One signature
/// so covers both the whole receipt (through the digest) and the stamp alone: a customer's phone
/// checks the QR with nothing else, and a receipt file checked against its QR is told which
/// printed field differs.
///
/// The compact form carries the whole receipt: `QRR2.<payload>.<keyID>.<signature>`, the payload
/// the base64url (no padding) of the canonical JSON. (`QRR1` receipts signed the JSON itself;
/// none were issued outside development.)
public enum ReceiptCodec {
    /// The first field of every compact receipt; the digit is the format version.
    public static let compactPrefix = "QRR2"
    /// The first field of every stamp.
    public static let stampPrefix = "QRV1"

    /// A receipt's stamp, as read back from its QR.
    public struct Stamp: Sendable, Equatable {
        public let number: String
        public let terminalID: String
        public let kind: Receipt.Kind
        public let currency: String
        public let amount: Int64
        public let issuedAt: Int64
        /// SHA-256 of the receipt's canonical JSON.
        public let digest: [UInt8]
        public let keyID: String
        public let signature: [UInt8]
        /// The signed text: everything before the last `*`.
        public let body: String
    }

    /// The text the terminal signs for `receipt` under key `keyID` (the stamp without its signature).
    public static func stampBody(_ receipt: Receipt, keyID: String) throws(ReceiptError) -> String {
        let digest = Array(SHA256.hash(data: try canonicalBytes(receipt)))
        return [stampPrefix, escape(receipt.number), escape(receipt.terminalID), receipt.kind.rawValue, receipt.amount.currency.code,
                String(receipt.amount.minorUnits), String(receipt.issuedAt), Base64URL.encode(digest), keyID].joined(separator: "*")
    }

    /// The verification string the receipt's QR carries: the stamp and its signature.
    public static func stamp(_ signed: SignedReceipt) throws(ReceiptError) -> String {
        try checkShape(signed)
        return try stampBody(signed.receipt, keyID: signed.keyID) + "*" + Base64URL.encode(signed.signature)
    }

    /// Reads a stamp (from a receipt's QR). Checks the shape only; `verify(stamp:publicKey:)`
    /// says whether to trust it.
    public static func parseStamp(_ text: String) throws(ReceiptError) -> Stamp {
        guard text.utf8.count <= 1_024 else { throw ReceiptError(.tooLarge, "a receipt stamp is at most 1,024 bytes, this is \(text.utf8.count)") }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = trimmed.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == stampPrefix else {
            if trimmed.hasPrefix("QRV") { throw ReceiptError(.unsupportedVersion, "stamp format '\(parts[0].prefix(8))' is not one this qrpos reads (\(stampPrefix))") }
            throw ReceiptError(.malformed, "not a qrpos receipt stamp: it does not start with '\(stampPrefix)*'")
        }
        guard parts.count == 10 else { throw ReceiptError(.malformed, "a receipt stamp has 10 fields separated by '*', this one has \(parts.count)") }
        guard let number = unescape(parts[1]), let terminal = unescape(parts[2]), !number.isEmpty, !terminal.isEmpty else {
            throw ReceiptError(.malformed, "the stamp's receipt number or terminal is damaged")
        }
        guard let kind = Receipt.Kind(rawValue: parts[3]) else { throw ReceiptError(.malformed, "the stamp's kind '\(parts[3].prefix(10))' is not sale or refund") }
        guard let amount = Int64(parts[5]), amount > 0, let issuedAt = Int64(parts[6]) else {
            throw ReceiptError(.malformed, "the stamp's amount or time is not a number")
        }
        guard let digest = Base64URL.decode(parts[7]), digest.count == 32 else { throw ReceiptError(.malformed, "the stamp's digest is not 32 bytes of base64url") }
        guard let signature = Base64URL.decode(parts[9]) else { throw ReceiptError(.malformed, "the stamp's signature is not base64url text") }
        let stamp = Stamp(number: number, terminalID: terminal, kind: kind, currency: parts[4], amount: amount, issuedAt: issuedAt,
                          digest: digest, keyID: parts[8], signature: signature, body: parts[0..<9].joined(separator: "*"))
        try checkShape(keyID: stamp.keyID, signature: signature)
        return stamp
    }

    /// Checks that `stamp` was signed by `publicKey`: what a customer's phone does with the QR alone.
    public static func verify(stamp: Stamp, publicKey: Curve25519.Signing.PublicKey) throws(ReceiptError) {
        let expected = ReceiptKey.keyID(of: publicKey)
        guard stamp.keyID == expected else {
            throw ReceiptError(.keyMismatch, "receipt \(stamp.number) was signed by key \(stamp.keyID), not by key \(expected)")
        }
        guard publicKey.isValidSignature(stamp.signature, for: Data(stamp.body.utf8)) else {
            throw ReceiptError(.signatureInvalid, "the stamp of receipt \(stamp.number) does not match its signature: a field was changed, or it is damaged")
        }
    }

    /// What differs between a receipt and a stamp (its QR, or another copy's): each printed field
    /// by name, and the rest as one. Empty when the stamp is this receipt's.
    public static func mismatches(_ signed: SignedReceipt, stamp: Stamp) throws(ReceiptError) -> [String] {
        let r = signed.receipt
        var found: [String] = []
        func compare(_ field: String, _ receipt: String, _ qr: String) {
            if receipt != qr { found.append("\(field): the receipt says \(receipt), its QR says \(qr)") }
        }
        compare("number", r.number, stamp.number)
        compare("terminal", r.terminalID, stamp.terminalID)
        compare("kind", r.kind.rawValue, stamp.kind.rawValue)
        compare("currency", r.amount.currency.code, stamp.currency)
        compare("amount", String(r.amount.minorUnits), String(stamp.amount))
        compare("time", String(r.issuedAt), String(stamp.issuedAt))
        compare("key", signed.keyID, stamp.keyID)
        if found.isEmpty, Array(SHA256.hash(data: try canonicalBytes(r))) != stamp.digest {
            found.append("the receipt's other fields (items, merchant, payer, payment…) are not those its QR was signed over")
        }
        return found
    }

    /// `%` and `*` as %25 and %2A, so a stamp splits unambiguously on `*`.
    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "*", with: "%2A")
    }

    private static func unescape(_ text: String) -> String? {
        guard !text.contains("*") else { return nil }
        var out = "", rest = Substring(text)
        while let i = rest.firstIndex(of: "%") {
            out += rest[..<i]
            let code = rest[i...].prefix(3)
            switch code {
            case "%25": out += "%"
            case "%2A": out += "*"
            default: return nil
            }
            rest = rest[i...].dropFirst(3)
        }
        return out + rest
    }

    /// What is signed: the receipt as JSON with keys sorted by their bytes, no whitespace,
    /// integers in plain decimal, strings as UTF-8 escaping only `"`, `\` and control characters.
    ///
    /// Written by hand rather than by `JSONEncoder`, so that a Foundation update that escapes
    /// differently (`/`, non-ASCII) cannot invalidate every receipt already signed.
    /// Throws what `Receipt.validate()` throws: an invalid receipt has no canonical form.
    public static func canonicalBytes(_ receipt: Receipt) throws(ReceiptError) -> [UInt8] {
        try receipt.validate()
        var fields: [(String, CanonicalJSON)] = [
            ("number", .string(receipt.number)),
            ("kind", .string(receipt.kind.rawValue)),
            ("merchantID", .string(receipt.merchantID)),
            ("merchantName", .string(receipt.merchantName)),
            ("merchantCity", .string(receipt.merchantCity)),
            ("terminalID", .string(receipt.terminalID)),
            ("paymentID", .string(receipt.paymentID)),
            ("method", .string(receipt.method)),
            ("payer", .string(receipt.payer)),
            ("currency", .string(receipt.amount.currency.code)),
            ("amount", .integer(receipt.amount.minorUnits)),
            ("issuedAt", .integer(receipt.issuedAt)),
            ("lines", .array(receipt.lines.map { line in
                var fields: [(String, CanonicalJSON)] = [
                    ("name", .string(line.name)),
                    ("quantity", .integer(Int64(line.quantity))),
                    ("unitPrice", .integer(line.unitPrice.minorUnits)),
                    ("total", .integer(line.total.minorUnits)),
                ]
                if let rate = line.taxRate { fields.append(("taxRate", .integer(Int64(rate)))) }
                return .object(fields)
            })),
        ]
        // Absent rather than null, as Codable's encodeIfPresent leaves them: a receipt signed
        // before a field existed keeps its exact bytes, so its signature still holds.
        if let refundOf = receipt.refundOf { fields.append(("refundOf", .string(refundOf))) }
        if let orderID = receipt.orderID { fields.append(("orderID", .string(orderID))) }
        if let authorization = receipt.authorization { fields.append(("authorization", .string(authorization.rawValue))) }
        if let approvalCode = receipt.approvalCode { fields.append(("approvalCode", .string(approvalCode))) }
        if let number = receipt.refundOfNumber { fields.append(("refundOfNumber", .string(number))) }
        var out: [UInt8] = []
        CanonicalJSON.object(fields).write(into: &out)
        return out
    }

    /// The one-line form for a QR code and for `qrpos receipt verify STRING`.
    public static func compact(_ signed: SignedReceipt) throws(ReceiptError) -> String {
        try checkShape(signed)
        let payload = try canonicalBytes(signed.receipt)
        return [compactPrefix, Base64URL.encode(payload), signed.keyID, Base64URL.encode(signed.signature)]
            .joined(separator: ".")
    }

    /// A receipt file: the signed receipt as pretty JSON with sorted keys, read back by `parse`.
    public static func json(_ signed: SignedReceipt) throws(ReceiptError) -> String {
        try checkShape(signed)
        try signed.receipt.validate()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(signed), as: UTF8.self) + "\n"
        } catch {
            throw ReceiptError(.malformed, "could not encode receipt \(signed.receipt.number): \(error)")
        }
    }

    /// Reads a compact string, or a receipt file's JSON (text starting with `{`), surrounding
    /// whitespace ignored. Checks the shape only; call `verify` to trust what it says.
    ///
    /// A compact payload must be exactly the canonical bytes of the receipt it decodes to, so a
    /// compact string round-trips byte for byte and nothing unsigned can ride along in it.
    public static func parse(compact text: String) throws(ReceiptError) -> SignedReceipt {
        guard text.utf8.count <= Receipt.Limits.parseBytesMax else {
            throw ReceiptError(.tooLarge, "the receipt text is \(text.utf8.count) bytes; the most is \(Receipt.Limits.parseBytesMax)")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") {
            return try parseFile(trimmed)
        }
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard let first = parts.first, first == compactPrefix else {
            if trimmed.hasPrefix("QRR1.") {
                throw ReceiptError(.unsupportedVersion, "a QRR1 receipt is from a development build of qrpos, which signed receipts differently; this qrpos reads \(compactPrefix)")
            }
            if trimmed.hasPrefix("QRR") {
                throw ReceiptError(.unsupportedVersion, "receipt format '\(parts[0].prefix(8))' is not one this qrpos reads (\(compactPrefix))")
            }
            throw ReceiptError(.malformed, "not a qrpos receipt: it does not start with '\(compactPrefix).'")
        }
        guard parts.count == 4 else {
            throw ReceiptError(.malformed, "a receipt string has 4 parts separated by '.', this one has \(parts.count)")
        }
        guard let payload = Base64URL.decode(parts[1]) else {
            throw ReceiptError(.malformed, "the receipt payload is not base64url text (damaged or cut short?)")
        }
        let receipt: Receipt
        do {
            receipt = try JSONDecoder().decode(Receipt.self, from: Data(payload))
        } catch {
            throw ReceiptError(.malformed, "the receipt payload is not a receipt: \(explain(error))")
        }
        guard try canonicalBytes(receipt) == payload else {
            throw ReceiptError(.notCanonical, "the receipt payload is not in canonical form, so it is not what was signed")
        }
        guard let signature = Base64URL.decode(parts[3]) else {
            throw ReceiptError(.malformed, "the receipt signature is not base64url text (damaged or cut short?)")
        }
        let signed = SignedReceipt(receipt: receipt, keyID: String(parts[2]), signature: signature)
        try checkShape(signed)
        return signed
    }

    /// Checks that `signed` was signed by `publicKey` and has not changed since.
    ///
    /// Errors: `.keyMismatch` when the receipt names another key (checked first, so a receipt
    /// from another terminal says so rather than looking forged); `.invalidField` for a receipt
    /// no signer would sign; `.signatureInvalid` when any signed field or the signature differs.
    public static func verify(_ signed: SignedReceipt, publicKey: Curve25519.Signing.PublicKey) throws(ReceiptError) {
        let expected = ReceiptKey.keyID(of: publicKey)
        guard signed.keyID == expected else {
            throw ReceiptError(.keyMismatch, "receipt \(signed.receipt.number) was signed by key \(signed.keyID), not by key \(expected)")
        }
        try checkShape(signed)
        let body = try stampBody(signed.receipt, keyID: signed.keyID)
        guard publicKey.isValidSignature(signed.signature, for: Data(body.utf8)) else {
            throw ReceiptError(.signatureInvalid, "receipt \(signed.receipt.number) does not match its signature: it was changed after signing, or the signature is damaged")
        }
    }

    /// The key id and signature of `signed` have the sizes the format fixes.
    private static func checkShape(_ signed: SignedReceipt) throws(ReceiptError) {
        try checkShape(keyID: signed.keyID, signature: signed.signature)
    }

    /// The key id and signature have the sizes the format fixes.
    private static func checkShape(keyID: String, signature: [UInt8]) throws(ReceiptError) {
        guard keyID.utf8.count == 16, keyID.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw ReceiptError(.malformed, "key id '\(keyID.prefix(24))' is not 16 lower-case hex digits")
        }
        guard signature.count == 64 else {
            throw ReceiptError(.malformed, "the signature is \(signature.count) bytes; an Ed25519 signature is 64")
        }
    }

    private static func parseFile(_ text: String) throws(ReceiptError) -> SignedReceipt {
        let signed: SignedReceipt
        do {
            signed = try JSONDecoder().decode(SignedReceipt.self, from: Data(text.utf8))
        } catch {
            throw ReceiptError(.malformed, "not a qrpos receipt file: \(explain(error))")
        }
        try checkShape(signed)
        try signed.receipt.validate()
        return signed
    }

    /// DecodingError's own description is a paragraph; a person needs the field and the reason.
    private static func explain(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            let full = path(context.codingPath + [key])
            return "field '\(full)' is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "field '\(path(context.codingPath))' has the wrong type"
        case DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "field '\(path(context.codingPath))': \(context.debugDescription)"
        case DecodingError.dataCorrupted:
            return "it is not valid JSON"
        default:
            return "\(error)"
        }
    }
}

/// The little JSON the canonical form needs: strings, integers, arrays, objects. No floats, so
/// no number formatting to disagree about.
indirect enum CanonicalJSON {
    case string(String)
    case integer(Int64)
    case array([CanonicalJSON])
    case object([(String, CanonicalJSON)])

    func write(into out: inout [UInt8]) {
        switch self {
        case .string(let text):
            Self.writeString(text, into: &out)
        case .integer(let value):
            out.append(contentsOf: String(value).utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            // Byte order of the UTF-8 keys: the same on every platform and locale.
            let sorted = fields.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            for (index, (key, value)) in sorted.enumerated() {
                precondition(index == 0 || sorted[index - 1].0 != key, "duplicate key \(key) in canonical JSON")
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x00..<0x20:
                let hex = String(byte, radix: 16)
                out.append(contentsOf: ("\\u00" + (byte < 16 ? "0" : "") + hex).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
