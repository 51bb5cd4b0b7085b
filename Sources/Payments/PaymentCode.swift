import Foundation
import Crypto
/// The customer's one-time payment code, the "online kind": 18 digits like Alipay's and WeChat's,
/// shown by the wallet as a QR and a Code 128 barcode and read by the terminal.
///
/// The digits are random: the ledger keeps a digest of each code it issued next to the wallet,
/// so the code tells an onlooker nothing about whose wallet it is; the ledger stores only a keyed
/// digest of it. The last digit is a Luhn check digit so a misread barcode is refused
/// at the terminal before anything reaches the ledger.
public struct PaymentCode: Sendable, Hashable, CustomStringConvertible {
    /// Every qrpos code starts with these two digits (Alipay uses 25–30, WeChat 10–15).
    public static let prefix = "28"
    public static let length = 18

    /// The 18 digits.
    public let digits: String

    /// Parses a scanned or typed code. Spaces are ignored (wallets show the code in groups of four).
    public init(_ text: String) throws(PaymentCodeError) {
        let compact = text.filter { $0 != " " }
        guard compact.count == Self.length, compact.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw PaymentCodeError("'\(text)' is not a payment code: it must be \(Self.length) digits")
        }
        guard compact.hasPrefix(Self.prefix) else {
            throw PaymentCodeError("'\(text)' is not a qrpos payment code: it must start with \(Self.prefix)")
        }
        guard Self.luhnValid(compact) else {
            throw PaymentCodeError("'\(text)' fails its check digit: misread or mistyped")
        }
        digits = compact
    }

    /// A new random code.
    public static func random(using rng: inout some RandomNumberGenerator) -> PaymentCode {
        var body = prefix
        for _ in 0..<(length - prefix.count - 1) { body.append(Character(String(Int.random(in: 0...9, using: &rng)))) }
        let code = body + String(luhnCheckDigit(body))
        return try! PaymentCode(code)   // built valid just above
    }

    public var description: String { digits }

    /// The code in groups of four, as a wallet shows it under the barcode.
    public var grouped: String {
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && i % 4 == 0 { out.append(" ") }
            out.append(ch)
        }
        return out
    }

    /// Only the last four digits, for receipts and logs.
    public var masked: String { "code …" + digits.suffix(4) }

    static func luhnCheckDigit(_ body: String) -> Int {
        var sum = 0
        for (i, ch) in body.reversed().enumerated() {
            var d = ch.wholeNumberValue!
            if i % 2 == 0 { d *= 2; if d > 9 { d -= 9 } }
            sum += d
        }
        return (10 - sum % 10) % 10
    }

    static func luhnValid(_ digits: String) -> Bool {
        luhnCheckDigit(String(digits.dropLast())) == digits.last!.wholeNumberValue!
    }
}

/// Why a text is not a payment code.
public struct PaymentCodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}


extension PaymentCode {
    /// HMAC-SHA-256 of the digits under the ledger's own secret, hex: what the ledger stores
    /// instead of the code. Keyed, because 10^15 codes are few enough to hash them all: an
    /// unkeyed digest of a leaked table would give the live codes back.
    public func digest(key: [UInt8]) -> String {
        precondition(key.count >= 32, "a code digest key has at least 256 bits")
        let mac = HMAC<SHA256>.authenticationCode(for: Array(digits.utf8), using: SymmetricKey(data: key))
        return Hex.string(mac)
    }
}
