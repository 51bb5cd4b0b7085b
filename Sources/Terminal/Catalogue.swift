import Foundation
import Payments
import Receipts

/// The items a till sells: read from a JSON file (`assets/catalogue.json` is the demo's),
/// prices as decimal text so no price ever passes through a floating-point number.
public struct Catalogue: Sendable {
    public struct Item: Sendable, Equatable {
        public let sku: String
        public let name: String
        /// Price, tax included.
        public let price: Money
        /// The VAT included in the price, in basis points (900 = 9 %); nil when not given.
        public let taxRate: Int?
    }

    public let currency: Currency
    public let items: [Item]

    private struct File: Decodable {
        struct Entry: Decodable { let sku: String; let name: String; let price: String; let vat: String? }
        let currency: String
        let items: [Entry]
    }

    /// Loads a catalogue file; every price must be a valid amount in the catalogue's currency.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckoutError("cannot read the catalogue \(path)") }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw CheckoutError("the catalogue \(path) is not valid: \(error)")
        }
        guard let currency = Currency(file.currency) else { throw CheckoutError("the catalogue \(path) names an unknown currency \(file.currency)") }
        self.currency = currency
        items = try file.items.map { entry in
            let rate = try entry.vat.map { text in
                // A percentage as decimal text ("13", "5.5"), read as basis points without a float.
                guard let points = try? Money(parsing: text, currency: Currency("CNY")!).minorUnits, (0...10_000).contains(points) else {
                    throw CheckoutError("catalogue item \(entry.sku): VAT '\(text)' is not a percentage from 0 to 100 with at most two decimals")
                }
                return Int(points)
            }
            do throws(MoneyError) {
                return Item(sku: entry.sku, name: entry.name, price: try Money(parsing: entry.price, currency: currency), taxRate: rate)
            } catch {
                throw CheckoutError("catalogue item \(entry.sku): \(error.message)")
            }
        }
        guard Set(items.map(\.sku)).count == items.count else { throw CheckoutError("the catalogue \(path) repeats a SKU") }
    }

    public func item(_ sku: String) -> Item? { items.first { $0.sku == sku } }

    /// Receipt lines for `quantities` (SKU → count) and their total. Unknown SKUs are an error.
    public func basket(_ quantities: [(sku: String, quantity: Int)]) throws -> (lines: [Receipt.Line], total: Money) {
        var lines: [Receipt.Line] = []
        var total: Int64 = 0
        for (sku, quantity) in quantities {
            guard let item = item(sku) else { throw CheckoutError("no item \(sku) in the catalogue") }
            guard quantity > 0 else { throw CheckoutError("quantity of \(sku) must be at least 1") }
            let (lineTotal, overflow) = item.price.minorUnits.multipliedReportingOverflow(by: Int64(quantity))
            guard !overflow else { throw CheckoutError("line \(sku) is too large") }
            lines.append(Receipt.Line(name: item.name, quantity: quantity, unitPrice: item.price,
                                      total: Money(minorUnits: lineTotal, currency: currency), taxRate: item.taxRate))
            let (sum, sumOverflow) = total.addingReportingOverflow(lineTotal)
            guard !sumOverflow else { throw CheckoutError("the basket's total is too large") }
            total = sum
        }
        return (lines, Money(minorUnits: total, currency: currency))
    }
}
