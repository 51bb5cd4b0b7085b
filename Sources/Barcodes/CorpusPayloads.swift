import SeededRandom
/// Payment-like payloads for the scan corpus: what customers' phones and receipts actually show.
///
/// Barcodes does not depend on Payments, so the EMVCo strings are built here from the
/// structure of the EMV merchant-presented QR specification (ID, two-digit length, value;
/// a CRC-16/CCITT-FALSE over everything up to and including `6304`). They are realistic in shape
/// and length, which is what matters to a decoder: QR version, segment modes and density.
public enum CorpusPayload: String, Sendable, Hashable, CaseIterable {
    /// An EMVCo merchant-presented string, 100–190 characters (QR version 6–9 at level M).
    case emvco
    /// An 18-digit customer payment code, as wallets show them above a barcode.
    case digits18
    /// A base64url token of 24–48 random bytes.
    case base64Token
    /// An https payment link with an order id, an amount and a signature.
    case url
    /// An invoice reference such as `INV-7QK2M9XA`, for Code 128.
    case reference

    /// A payload of this kind drawn from `random`.
    public func make(_ random: inout SplitMix64) -> String {
        switch self {
        case .emvco: return Self.emvco(&random)
        case .digits18:
            // Wallet payment codes start with a two-digit issuer prefix (10–15, 25–30).
            let prefix = random.pick([10, 11, 12, 13, 14, 15, 25, 26, 27, 28, 29, 30])
            return String(prefix) + Self.digits(16, &random)
        case .base64Token:
            let bytes = (0..<random.int(in: 24...48)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            return Self.base64URL(bytes)
        case .url:
            let host = random.pick(["pay.example.com", "checkout.example.org", "p.example.net", "wallet.example.io"])
            let order = Self.characters(random.int(in: 10...18), from: Self.base62, &random)
            let amount = "\(random.int(in: 1...2999)).\(Self.digits(2, &random))"
            let signature = Self.characters(random.int(in: 16...32), from: Self.base62, &random)
            return "https://\(host)/o/\(order)?amount=\(amount)&cur=EUR&sig=\(signature)"
        case .reference:
            let prefix = random.pick(["INV", "ORD", "RCPT", "TX"])
            return prefix + "-" + Self.characters(random.int(in: 8...14), from: Self.upperAlphanumeric, &random)
        }
    }

    // MARK: EMVCo

    private static func emvco(_ random: inout SplitMix64) -> String {
        func field(_ id: String, _ value: String) -> String {
            precondition(value.utf8.count < 100, "an EMV field is at most 99 characters")
            let length = value.utf8.count
            return id + (length < 10 ? "0" : "") + String(length) + value
        }
        let dynamic = random.chance(0.6)
        let guid = random.pick(["com.example.pay", "A000000677010111", "br.gov.bcb.pix", "sg.paynow", "D4100000014"])
        let account = field("00", guid) + field("01", digits(random.int(in: 10...16), &random))
        let merchant = random.pick(["CAFE LUNA", "BAKERY 24", "GREEN GROCER", "KIOSK NORD", "PIZZERIA ROMA",
                                    "BOOKS & MORE", "CITY PHARMACY", "TEA HOUSE"])
        let city = random.pick(["BERLIN", "BANGKOK", "SAO PAULO", "SINGAPORE", "MUMBAI", "LYON"])
        let currency = random.pick(["978", "764", "986", "702", "356"])
        let country = random.pick(["DE", "TH", "BR", "SG", "IN", "FR"])
        var text = field("00", "01") + field("01", dynamic ? "12" : "11")
        text += field(random.pick(["26", "29", "30"]), account)
        text += field("52", random.pick(["5411", "5812", "5814", "5942", "5912", "5999"]))
        text += field("53", currency)
        if dynamic {
            text += field("54", "\(random.int(in: 1...999)).\(digits(2, &random))")
        }
        text += field("58", country) + field("59", merchant) + field("60", city)
        var additional = field("05", characters(random.int(in: 8...20), from: upperAlphanumeric, &random))
        if random.chance(0.5) { additional += field("07", "T" + digits(random.int(in: 3...7), &random)) }
        text += field("62", additional)
        text += "6304"
        return text + hex4(crc16CCITT(Array(text.utf8)))
    }

    /// CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection), as EMV QR uses.
    static func crc16CCITT(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }

    private static func hex4(_ value: UInt16) -> String {
        let digits = Array("0123456789ABCDEF")
        return String((0..<4).map { digits[Int(value >> UInt16(12 - 4 * $0)) & 15] })
    }

    // MARK: Characters

    private static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    private static let upperAlphanumeric = Array("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ")

    private static func digits(_ count: Int, _ random: inout SplitMix64) -> String {
        String((0..<count).map { _ in Character(Unicode.Scalar(UInt8(ascii: "0") + UInt8(random.below(10)))) })
    }

    private static func characters(_ count: Int, from alphabet: [Character], _ random: inout SplitMix64) -> String {
        String((0..<count).map { _ in alphabet[random.below(alphabet.count)] })
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var text = ""
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for (offset, byte) in chunk.enumerated() { value |= Int(byte) << (16 - 8 * offset) }
            let characterCount = chunk.count + 1
            for position in 0..<characterCount { text.append(alphabet[(value >> (18 - 6 * position)) & 63]) }
            index += 3
        }
        return text
    }
}
