/// An amount of money: an integer count of minor units (fen, cents) in one ISO 4217 currency.
/// Never a floating-point number: every amount is exact.
public struct Money: Sendable, Hashable, Codable, CustomStringConvertible {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// Parses a decimal amount such as "12.50", "12.5", "12" or "0.01" in `currency`.
    ///
    /// Accepts digits with at most one '.', and no more decimals than the currency has (so "1.005"
    /// is an error in CNY and "1.5" is an error in JPY). Rejects signs, spaces, exponents, empty
    /// strings and amounts past `Int64.max` minor units, each with a sentence saying why.
    public init(parsing text: String, currency: Currency) throws(MoneyError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty || parts.count == 2 else {
            throw MoneyError("'\(text)' is not an amount: write digits with at most one '.', such as 12.50")
        }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard (whole + fraction).allSatisfy({ $0.isASCII && $0.isNumber }), !(whole + fraction).isEmpty else {
            throw MoneyError("'\(text)' is not an amount: write digits with at most one '.', such as 12.50")
        }
        if parts.count == 2 && fraction.isEmpty {
            throw MoneyError("'\(text)' is not an amount: digits must follow the '.'")
        }
        guard fraction.count <= currency.exponent else {
            throw MoneyError(currency.exponent == 0
                ? "'\(text)' has decimals, but \(currency.code) has no minor unit"
                : "'\(text)' has more than \(currency.exponent) decimals for \(currency.code)")
        }
        let paddedFraction = fraction + String(repeating: "0", count: currency.exponent - fraction.count)
        var units: Int64 = 0
        for digit in whole.drop(while: { $0 == "0" }) + paddedFraction {
            let (times10, o1) = units.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(digit.wholeNumberValue!))
            guard !o1, !o2 else { throw MoneyError("'\(text)' is too large an amount") }
            units = sum
        }
        self.init(minorUnits: units, currency: currency)
    }

    /// The amount as a plain decimal with exactly the currency's decimals: "12.50", "1200" (JPY).
    /// This is also the form EMVCo tag 54 carries.
    public var decimalString: String {
        let per = currency.minorPerMajor
        let sign = minorUnits < 0 ? "-" : ""
        let magnitude = minorUnits.magnitude
        let major = magnitude / UInt64(per)
        guard currency.exponent > 0 else { return sign + String(major) }
        let minor = String(magnitude % UInt64(per))
        return sign + String(major) + "." + String(repeating: "0", count: currency.exponent - minor.count) + minor
    }

    /// "12.50 CNY".
    public var description: String { "\(decimalString) \(currency.code)" }
}

/// Why a text is not an amount of money.
public struct MoneyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
