/// An ISO 4217 currency: its alphabetic code, its numeric code (as EMVCo tag 53 carries it) and
/// its exponent, the number of decimal places of its minor unit.
public struct Currency: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Three upper-case letters, e.g. "CNY".
    public let code: String
    /// Three digits, e.g. "156".
    public let numeric: String
    /// Decimal places of the minor unit: 2 for CNY, 0 for JPY, 3 for KWD.
    public let exponent: Int

    public var description: String { code }

    /// The currencies qrpos knows. A currency not listed cannot be used: an unknown exponent would
    /// make every amount ambiguous.
    public static let known: [Currency] = [
        Currency(code: "CNY", numeric: "156", exponent: 2),
        Currency(code: "HKD", numeric: "344", exponent: 2),
        Currency(code: "USD", numeric: "840", exponent: 2),
        Currency(code: "EUR", numeric: "978", exponent: 2),
        Currency(code: "GBP", numeric: "826", exponent: 2),
        Currency(code: "SGD", numeric: "702", exponent: 2),
        Currency(code: "MYR", numeric: "458", exponent: 2),
        Currency(code: "THB", numeric: "764", exponent: 2),
        Currency(code: "IDR", numeric: "360", exponent: 2),
        Currency(code: "INR", numeric: "356", exponent: 2),
        Currency(code: "BRL", numeric: "986", exponent: 2),
        Currency(code: "AUD", numeric: "036", exponent: 2),
        Currency(code: "CHF", numeric: "756", exponent: 2),
        Currency(code: "JPY", numeric: "392", exponent: 0),
        Currency(code: "KRW", numeric: "410", exponent: 0),
        Currency(code: "VND", numeric: "704", exponent: 0),
        Currency(code: "KWD", numeric: "414", exponent: 3),
        Currency(code: "BHD", numeric: "048", exponent: 3),
    ]

    public static let CNY = Currency.known[0]
    public static let HKD = Currency.known[1]
    public static let USD = Currency.known[2]
    public static let EUR = Currency.known[3]
    public static let JPY = Currency(code: "JPY", numeric: "392", exponent: 0)

    /// The currency with this alphabetic ("CNY") or numeric ("156") code, case-insensitively.
    public init?(_ codeOrNumeric: String) {
        let key = codeOrNumeric.uppercased()
        guard let found = Currency.known.first(where: { $0.code == key || $0.numeric == key }) else { return nil }
        self = found
    }

    private init(code: String, numeric: String, exponent: Int) {
        self.code = code
        self.numeric = numeric
        self.exponent = exponent
    }

    /// 10^exponent: how many minor units make one major unit.
    public var minorPerMajor: Int64 {
        var result: Int64 = 1
        for _ in 0..<exponent { result *= 10 }
        return result
    }
}
