import Payments
import Receipts

/// Receipts built by code, one per shape the tests need.
enum Fixtures {
    static let key = try! ReceiptKey(rawRepresentation: [UInt8](repeating: 7, count: 32))
    static let otherKey = try! ReceiptKey(rawRepresentation: [UInt8](repeating: 9, count: 32))

    static func cny(_ minorUnits: Int64) -> Money { Money(minorUnits: minorUnits, currency: .CNY) }

    static let sale = Receipt(
        number: "T1-000042", kind: .sale,
        merchantID: "M100200", merchantName: "Corner Noodle Bar", merchantCity: "Shanghai",
        terminalID: "T1", paymentID: "7f3a9c2e11d04b5e", orderID: "ORD-881",
        method: "customer code", payer: "code …3456",
        amount: cny(1250), issuedAt: 1_714_566_896,
        lines: [
            .init(name: "Beef noodles", quantity: 1, unitPrice: cny(850), total: cny(850)),
            .init(name: "Tea", quantity: 2, unitPrice: cny(200), total: cny(400)),
        ])

    static let refund = Receipt(
        number: "T1-000043", kind: .refund,
        merchantID: "M100200", merchantName: "Corner Noodle Bar", merchantCity: "Shanghai",
        terminalID: "T1", paymentID: "9b1d4e7a0c2f3a55", refundOf: "7f3a9c2e11d04b5e",
        method: "customer code", payer: "code …3456",
        amount: cny(400), issuedAt: 1_714_570_000)

    static let yen = Receipt(
        number: "T9-1", kind: .sale,
        merchantID: "M9", merchantName: "Kissa", merchantCity: "Kyoto",
        terminalID: "T9", paymentID: "p-1", method: "merchant QR", payer: "wallet …0001",
        amount: Money(minorUnits: 1200, currency: .JPY), issuedAt: 0)

    /// Long CJK merchant name and city, long item names with and without spaces.
    static let long = Receipt(
        number: "T2-" + String(repeating: "9", count: 40), kind: .sale,
        merchantID: "M300400", merchantName: "上海市黄浦区南京东路老字号小笼包子铺旗舰店第一分店",
        merchantCity: "上海市黄浦区南京东路步行街一百二十三号",
        terminalID: "T2", paymentID: "0f8fad5b-d9cb-469f-a165-70867728950e", orderID: "订单-二零二四-五月-第十二号",
        method: "customer code", payer: "code …9999",
        amount: cny(9_223_372_036_854_775_807), issuedAt: 1_714_566_896,
        lines: [
            .init(name: "Extra large family size steamed soup dumplings with crab roe and pork",
                  quantity: 12, unitPrice: cny(1_000_000_000_000), total: cny(12_000_000_000_000)),
            .init(name: "Supercalifragilisticexpialidociousnoodlesoupwithoutanyspaces", quantity: 1,
                  unitPrice: cny(1), total: cny(1)),
            .init(name: "蟹粉小笼包蟹粉小笼包蟹粉小笼包蟹粉小笼包蟹粉小笼包", quantity: 3, unitPrice: cny(3800), total: cny(11400)),
        ])
}
