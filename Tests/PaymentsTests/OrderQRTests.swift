import Payments
import Testing

@Suite("qrpos order QR")
struct OrderQRTests {
    static func order(
        name: String = "NOODLE BAR", city: String = "SHANGHAI", amount: Money = Money(minorUnits: 2372, currency: .CNY),
        orderID: String = "ORD-20240101-0001", reference: String? = "***", terminal: String? = "T01"
    ) throws(EMVQRError) -> OrderQR {
        try OrderQR(
            merchantID: "M-000123", merchantName: name, merchantCity: city, categoryCode: "5812",
            countryCode: "CN", amount: amount, orderID: orderID, referenceLabel: reference,
            terminalLabel: terminal, expiresAt: 1_767_225_600)
    }

    @Test("An order QR encodes to a dynamic EMV payload and parses back equal")
    func roundTrip() throws {
        let order = try Self.order()
        let text = order.encoded()
        #expect(try OrderQR.parse(text) == order)
        let qr = try MerchantQR.parse(text)
        #expect(qr.initiation == .dynamicCode)
        #expect(qr.merchantTemplate(gui: OrderQR.gui) == EMVTemplate(id: "26", gui: OrderQR.gui, fields: [TLV(id: "01", value: "M-000123")]))
        #expect(qr.unreservedTemplate(gui: OrderQR.gui)?.id == "80")
        #expect(qr.unreservedTemplate(gui: OrderQR.gui)?.value("01") == "1767225600")
        #expect(qr.amount == Money(minorUnits: 2372, currency: .CNY))
        #expect(qr.additionalData == AdditionalData(billNumber: "ORD-20240101-0001", referenceLabel: "***", terminalLabel: "T01"))
        let expected = "000201" + "010212"
            + "2629" + "0013com.qrpos.pay" + "0108M-000123"
            + "52045812" + "5303156" + "540523.72" + "5802CN" + "5910NOODLE BAR" + "6008SHANGHAI"
            + "6235" + "0117ORD-20240101-0001" + "0503***" + "0703T01"
            + "8031" + "0013com.qrpos.pay" + "01101767225600"
            + "6304"
        #expect(text == expected + CRC16.hex(CRC16.ccittFalse(expected.utf8)))
    }

    @Test("Merchant names in any script round-trip, with lengths counted in characters", arguments: [
        ("最佳运输", "北京"),
        ("Café Zoë", "Zürich"),
        ("ร้านก๋วยเตี๋ยว", "กรุงเทพ"),
        ("👩‍🍳 Kitchen", "Città"),
    ])
    func utf8Names(name: String, city: String) throws {
        let order = try Self.order(name: name, city: city)
        let text = order.encoded()
        #expect(try OrderQR.parse(text) == order)
        let nameLength = name.unicodeScalars.count, cityLength = city.unicodeScalars.count
        #expect(text.contains("59" + (nameLength < 10 ? "0" : "") + "\(nameLength)" + name))
        #expect(text.contains("60" + (cityLength < 10 ? "0" : "") + "\(cityLength)" + city))
    }

    @Test("A ZWJ emoji counts as its three Unicode scalars, not as one character")
    func emojiCountsScalars() throws {
        let order = try Self.order(name: "👩‍🍳")
        #expect(order.encoded().contains("5903👩‍🍳"))
    }

    @Test("A JPY order writes whole yen (exponent 0) and currency 392")
    func yen() throws {
        let order = try Self.order(amount: Money(minorUnits: 1200, currency: .JPY))
        let text = order.encoded()
        #expect(text.contains("5303392"))
        #expect(text.contains("54041200"))
        #expect(try OrderQR.parse(text) == order)
    }

    @Test("Optional labels may be left out")
    func withoutLabels() throws {
        let order = try Self.order(reference: nil, terminal: nil)
        #expect(try OrderQR.parse(order.encoded()) == order)
        #expect(try MerchantQR.parse(order.encoded()).additionalData == AdditionalData(billNumber: "ORD-20240101-0001"))
    }

    @Test("Other EMV payloads are not order QRs", arguments: Vectors.all)
    func otherPayloads(_ vector: String) throws {
        let error = #expect(throws: EMVQRError.self) { try OrderQR.parse(vector) }
        #expect(error?.code == .notOrderQR)
    }

    @Test("An order QR needs our template 26, an amount, 62-01 and the expiry template")
    func missingParts() throws {
        let full = try Self.order().merchantQR
        var variants: [MerchantQR] = []
        var qr = full; qr.initiation = .staticCode; variants.append(qr)
        qr = full; qr.merchantAccounts = [.template(EMVTemplate(id: "26", gui: "br.gov.bcb.pix", fields: [TLV(id: "01", value: "x")]))]; variants.append(qr)
        qr = full; qr.merchantAccounts = [.template(EMVTemplate(id: "26", gui: OrderQR.gui))]; variants.append(qr)
        qr = full; qr.amount = nil; variants.append(qr)
        qr = full; qr.additionalData?.billNumber = nil; variants.append(qr)
        qr = full; qr.unreserved = []; variants.append(qr)
        for variant in variants {
            let error = #expect(throws: EMVQRError.self) { try OrderQR(variant) }
            #expect(error?.code == .notOrderQR, "\(error?.message ?? "")")
        }
    }

    @Test("Extra fields a wallet may add do not stop an order QR from being read")
    func extraFields() throws {
        let order = try Self.order()
        var qr = order.merchantQR
        qr.tip = .promptConsumer
        qr.language = LanguageTemplate(languagePreference: "ZH", merchantName: "面馆")
        qr.merchantAccounts.append(.primitive(TLV(id: "02", value: "4111111111111111")))
        #expect(try OrderQR(MerchantQR.parse(qr.encoded())) == order)
    }

    @Test("An order QR refuses values the payload cannot carry")
    func invalidValues() throws {
        let cases: [(EMVQRError.Code, () throws(EMVQRError) -> OrderQR)] = [
            (.badField, { () throws(EMVQRError) in try Self.order(name: String(repeating: "N", count: 26)) }),
            (.badLength, { () throws(EMVQRError) in try Self.order(city: "") }),
            (.badField, { () throws(EMVQRError) in try Self.order(amount: Money(minorUnits: 0, currency: .CNY)) }),
            (.badField, { () throws(EMVQRError) in try Self.order(orderID: String(repeating: "1", count: 26)) }),
            (.badField, { () throws(EMVQRError) in try Self.order(orderID: "订单1") }),
            (.badField, { () throws(EMVQRError) in try Self.order(amount: Money(minorUnits: 1_000_000_000_000_001, currency: .CNY)) }),
            (.badLength, { () throws(EMVQRError) in try Self.order(orderID: "") }),
            (.tooLong, { () throws(EMVQRError) in
                try OrderQR(merchantID: String(repeating: "m", count: 90), merchantName: "A", merchantCity: "B",
                            categoryCode: "5812", countryCode: "CN", amount: Money(minorUnits: 1, currency: .CNY),
                            orderID: "1", expiresAt: 0)
            }),
            (.badField, { () throws(EMVQRError) in
                try OrderQR(merchantID: "m", merchantName: "A", merchantCity: "B", categoryCode: "5812",
                            countryCode: "CN", amount: Money(minorUnits: 1, currency: .CNY), orderID: "1", expiresAt: -1)
            }),
        ]
        for (code, make) in cases {
            let error = #expect(throws: EMVQRError.self) { try make() }
            #expect(error?.code == code, "\(error?.message ?? "no error")")
        }
    }
}
