import Payments
import Testing

@Suite("Money parsing")
struct MoneyTests {
    @Test("Decimal amounts parse to exact minor units", arguments: [
        ("12.50", Int64(1250)), ("0.01", 1), ("12", 1200), ("12.5", 1250), ("0", 0), ("007.10", 710),
        ("92233720368547758.07", Int64.max),
    ])
    func valid(text: String, minorUnits: Int64) throws {
        #expect(try Money(parsing: text, currency: .CNY).minorUnits == minorUnits)
    }

    @Test("JPY has no minor unit, KWD has three decimals")
    func exponents() throws {
        #expect(try Money(parsing: "1200", currency: .JPY).minorUnits == 1200)
        let kwd = try #require(Currency("KWD"))
        #expect(try Money(parsing: "1.005", currency: kwd).minorUnits == 1005)
        #expect(Money(minorUnits: 1200, currency: .JPY).decimalString == "1200")
        #expect(Money(minorUnits: 5, currency: .CNY).decimalString == "0.05")
    }

    @Test("Text that is not a plain decimal in the currency is refused", arguments: [
        ("", Currency.CNY), (".", .CNY), ("1.", .CNY), ("-1", .CNY), ("1e3", .CNY), (" 1", .CNY),
        ("1 ", .CNY), ("+1", .CNY), ("1,00", .CNY), ("1..0", .CNY), ("1.2.3", .CNY), ("١٢", .CNY),
        ("1.005", .CNY), ("1.5", .JPY),
        ("92233720368547758.08", .CNY), ("99999999999999999999", .JPY),
    ])
    func invalid(text: String, currency: Currency) {
        #expect(throws: MoneyError.self) { try Money(parsing: text, currency: currency) }
    }

    @Test("Currencies are found by alphabetic or numeric code, and unknown codes give nil")
    func currencyLookup() {
        #expect(Currency("156") == .CNY)
        #expect(Currency("cny") == .CNY)
        #expect(Currency("392") == .JPY)
        #expect(Currency("999") == nil)
    }
}
