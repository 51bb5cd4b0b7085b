/// One EMV QR data object: a two-digit id and its value, as the payload writes it.
public struct TLV: Sendable, Hashable, Codable {
    /// Two ASCII digits, "00" to "99".
    public var id: String
    /// The value. On the wire its length is its count of Unicode scalars, which must be 1 to 99.
    public var value: String

    /// A data object with this id and value.
    public init(id: String, value: String) {
        self.id = id
        self.value = value
    }
}

/// The id + length + value layer of EMV QR, shared by the payload and by every template in it.
public enum EMVTLV {
    /// Writes each field as its id, its length as two digits and its value, in the order given.
    ///
    /// Lengths count Unicode scalars, not bytes: the EMVCo sample writes `最佳运输` with length 04.
    /// - Precondition: every id is two ASCII digits and every value has at most 99 scalars. A field
    ///   that breaks this cannot be written at all; `MerchantQR.validate()` reports it as an error.
    public static func encode(_ fields: [TLV]) -> String {
        var out = ""
        for field in fields {
            let length = field.value.unicodeScalars.count
            precondition(EMVText.isTwoDigits(field.id), "EMV QR field id '\(field.id)' is not two digits")
            precondition(length <= 99, "EMV QR field \(field.id) is \(length) characters; a length has two digits")
            out += field.id
            out += length < 10 ? "0\(length)" : "\(length)"
            out += field.value
        }
        return out
    }

    /// Splits `s` into data objects, in the order they appear.
    ///
    /// Rejects a header or value running past the end (`truncated`), a non-digit id (`nonDigitID`),
    /// a non-digit or zero length (`badLength`) and an id seen twice (`duplicateID`). `context`
    /// names `s` in error messages, e.g. "the payload" or "template 62"; offsets are into `s`.
    public static func parse(_ s: String, context: String) throws(EMVQRError) -> [TLV] {
        var result: [TLV] = []
        for field in try scan(Array(s.unicodeScalars), base: 0, context: context, path: "") {
            result.append(field.tlv)
        }
        return result
    }

    /// The scanner behind `parse`, keeping where each field starts so that later checks can name an
    /// offset in the whole payload. `base` is the offset of `scalars[0]` in the payload and `path`
    /// prefixes ids in messages ("62-" makes id 05 read as 62-05).
    static func scan(
        _ scalars: [Unicode.Scalar], base: Int, context: String, path: String
    ) throws(EMVQRError) -> [EMVField] {
        var fields: [EMVField] = []
        var seen: [String: Int] = [:]
        var i = 0
        while i < scalars.count {
            let remaining = scalars.count - i
            guard remaining >= 4 else {
                throw EMVQRError(.truncated, "\(EMVText.sentence(context)) ends at offset \(base + i) inside a data object header: \(remaining) character\(remaining == 1 ? "" : "s") left, but an id and a length take 4.", offset: base + i)
            }
            guard let idNumber = EMVText.twoDigits(scalars[i], scalars[i + 1]) else {
                let shown = EMVText.quoted(scalars[i..<i + 2])
                throw EMVQRError(.nonDigitID, "\(EMVText.sentence(context)) has a non-digit id \(shown) at offset \(base + i); ids are two digits.", offset: base + i)
            }
            let id = EMVText.idString(idNumber)
            guard let length = EMVText.twoDigits(scalars[i + 2], scalars[i + 3]) else {
                let shown = EMVText.quoted(scalars[i + 2..<i + 4])
                throw EMVQRError(.badLength, "Field \(path)\(id) at offset \(base + i) in \(context) has a non-digit length \(shown); lengths are two digits.", offset: base + i + 2)
            }
            guard length > 0 else {
                throw EMVQRError(.badLength, "Field \(path)\(id) at offset \(base + i) in \(context) has length 00; EMV QR leaves empty fields out.", offset: base + i + 2)
            }
            guard remaining - 4 >= length else {
                throw EMVQRError(.truncated, "Field \(path)\(id) at offset \(base + i) in \(context) declares \(length) characters, but only \(remaining - 4) follow.", offset: base + i)
            }
            if let first = seen[id] {
                throw EMVQRError(.duplicateID, "Field \(path)\(id) appears twice in \(context), at offsets \(first) and \(base + i).", offset: base + i)
            }
            seen[id] = base + i
            var value = String.UnicodeScalarView()
            value.append(contentsOf: scalars[i + 4..<i + 4 + length])
            fields.append(EMVField(id: id, number: idNumber, value: String(value), offset: base + i, path: path))
            i += 4 + length
        }
        return fields
    }
}

/// A data object read from a payload, with where it was found.
struct EMVField: Sendable {
    /// Two digits.
    var id: String
    /// The id as a number, 0–99.
    var number: Int
    var value: String
    /// Offset of the id in the whole payload.
    var offset: Int
    /// The enclosing template's id and a dash ("62-"), or "" at the top level.
    var path: String

    var tlv: TLV { TLV(id: id, value: value) }
    /// Offset of the first value character in the whole payload.
    var valueOffset: Int { offset + 4 }
    var scalarCount: Int { value.unicodeScalars.count }

    /// "field 62-05 (reference label) at offset 80": how every message about this field starts.
    var label: String {
        let name = EMVText.fieldName(path: path, number: number)
        return "field \(path)\(id)\(name.map { " (\($0))" } ?? "") at offset \(offset)"
    }

    /// The fields inside this one's value, which must be a template.
    func subfields() throws(EMVQRError) -> [EMVField] {
        try EMVTLV.scan(Array(value.unicodeScalars), base: valueOffset, context: "template \(path)\(id)", path: "\(path)\(id)-")
    }

    /// Checks the value's length and characters and returns it.
    func checked(_ charset: EMVCharset, _ lengths: ClosedRange<Int>) throws(EMVQRError) -> String {
        let count = scalarCount
        guard lengths.contains(count) else {
            let allowed = lengths.count == 1 ? "exactly \(lengths.lowerBound)" : "\(lengths.lowerBound) to \(lengths.upperBound)"
            throw EMVQRError(.badField, "\(EMVText.sentence(label)) is \(count) character\(count == 1 ? "" : "s") long; it must be \(allowed).", offset: offset)
        }
        for (index, scalar) in value.unicodeScalars.enumerated() where !charset.allows(scalar) {
            throw EMVQRError(.badField, "\(EMVText.sentence(label)) must hold \(charset.description), but offset \(valueOffset + index) holds \(EMVText.quoted([scalar])).", offset: valueOffset + index)
        }
        return value
    }

    /// A `badField` error about this field, `problem` finishing the sentence after its label.
    func bad(_ problem: String) -> EMVQRError {
        EMVQRError(.badField, "\(EMVText.sentence(label)) \(problem)", offset: offset)
    }
}

/// The character sets of the EMV QR specification's data formats.
enum EMVCharset: CustomStringConvertible {
    /// "N": the digits 0–9.
    case numeric
    /// "ans": printable ASCII, space to tilde.
    case ans
    /// "S": any Unicode text. Control characters are still refused: a receipt printer or a log
    /// line should never be handed one from a scanned code.
    case string

    func allows(_ scalar: Unicode.Scalar) -> Bool {
        switch self {
        case .numeric: return ("0"..."9").contains(scalar)
        case .ans: return (" "..."~").contains(scalar)
        case .string: return !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value))
        }
    }

    var description: String {
        switch self {
        case .numeric: return "digits only"
        case .ans: return "printable ASCII only"
        case .string: return "no control characters"
        }
    }
}

/// Text helpers for the codec; Foundation-free on purpose so the codec runs anywhere Swift does.
enum EMVText {
    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    static func isTwoDigits(_ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        return scalars.count == 2 && twoDigits(scalars[0], scalars[1]) != nil
    }

    /// The number two digit scalars spell, or nil when either is not a digit.
    static func twoDigits(_ tens: Unicode.Scalar, _ ones: Unicode.Scalar) -> Int? {
        guard isDigit(tens), isDigit(ones) else { return nil }
        return Int(tens.value - 48) * 10 + Int(ones.value - 48)
    }

    /// The number 0–99 as a two-digit id.
    static func idString(_ number: Int) -> String { number < 10 ? "0\(number)" : "\(number)" }

    /// The number of an id that is two digits, else nil.
    static func idNumber(_ id: String) -> Int? {
        let scalars = Array(id.unicodeScalars)
        guard scalars.count == 2 else { return nil }
        return twoDigits(scalars[0], scalars[1])
    }

    /// Scalars in single quotes, with control characters written as U+XXXX so a message stays on one line.
    static func quoted(_ scalars: some Sequence<Unicode.Scalar>) -> String {
        var out = "'"
        for scalar in scalars {
            if EMVCharset.string.allows(scalar) {
                out.unicodeScalars.append(scalar)
            } else {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            }
        }
        return out + "'"
    }

    /// `s` with its first letter capitalised, to start a sentence with a label.
    static func sentence(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }

    /// The specification's name for a field, for messages.
    static func fieldName(path: String, number: Int) -> String? {
        switch path {
        case "":
            switch number {
            case 0: return "payload format indicator"
            case 1: return "point of initiation method"
            case 2...51: return "merchant account information"
            case 52: return "merchant category code"
            case 53: return "transaction currency"
            case 54: return "transaction amount"
            case 55: return "tip or convenience indicator"
            case 56: return "fixed convenience fee"
            case 57: return "percentage convenience fee"
            case 58: return "country code"
            case 59: return "merchant name"
            case 60: return "merchant city"
            case 61: return "postal code"
            case 62: return "additional data"
            case 63: return "CRC"
            case 64: return "alternate language template"
            case 65...79: return "reserved for future use"
            default: return "unreserved template"
            }
        case "62-":
            switch number {
            case 1: return "bill number"
            case 2: return "mobile number"
            case 3: return "store label"
            case 4: return "loyalty number"
            case 5: return "reference label"
            case 6: return "customer label"
            case 7: return "terminal label"
            case 8: return "purpose of transaction"
            case 9: return "additional consumer data request"
            default: return nil
            }
        case "64-":
            switch number {
            case 0: return "language preference"
            case 1: return "alternate merchant name"
            case 2: return "alternate merchant city"
            default: return nil
            }
        default:
            return number == 0 ? "globally unique identifier" : nil
        }
    }
}
