import Payments
import QrposTestSupport
import Receipts
import Testing

@Suite("The receipt record: tax, approval, refund reference, copies, day reports")
struct RecordTests {
    static func line(_ minor: Int64, rate: Int?) -> Receipt.Line {
        Receipt.Line(name: "item", quantity: 1, unitPrice: Fixtures.cny(minor), total: Fixtures.cny(minor), taxRate: rate)
    }

    @Test("tax included in the prices, per rate, rounded half up once per rate")
    func taxes() {
        // 12.50 at 9 %: 1250 × 900 / 10900 = 103.2 → 1.03; 1.00 at 13 %: 11.504 → 0.12; two 0.05 at 13 %: 1.15 → 0.01.
        #expect(Receipt.taxes(of: [Self.line(1_250, rate: 900)], currency: .CNY)
            == [Receipt.Tax(rate: 900, gross: Fixtures.cny(1_250), tax: Fixtures.cny(103))])
        #expect(Receipt.taxes(of: [Self.line(100, rate: 1_300)], currency: .CNY).map(\.tax) == [Fixtures.cny(12)])
        #expect(Receipt.taxes(of: [Self.line(5, rate: 1_300), Self.line(5, rate: 1_300)], currency: .CNY).map(\.tax) == [Fixtures.cny(1)])
        // Exactly half rounds up: 0.113 at 13 % is 0.013 exactly; 1.13 → 0.13; 0.565 → 0.065 → 0.07.
        #expect(Receipt.taxes(of: [Self.line(565, rate: 1_300)], currency: .CNY).map(\.tax) == [Fixtures.cny(65)])
        #expect(Receipt.taxes(of: [Self.line(113, rate: 1_300), Self.line(50, rate: 0), Self.line(70, rate: nil)], currency: .CNY)
            == [Receipt.Tax(rate: 0, gross: Fixtures.cny(50), tax: Fixtures.cny(0)), Receipt.Tax(rate: 1_300, gross: Fixtures.cny(113), tax: Fixtures.cny(13))])
        #expect(Receipt.percent(900) == "9%" && Receipt.percent(550) == "5.5%" && Receipt.percent(1_025) == "10.25%" && Receipt.percent(5) == "0.05%")
    }

    @Test("the new fields are signed: changing any of them breaks the signature; a receipt without them keeps its old bytes")
    func signedFields() throws {
        var receipt = Fixtures.sale
        let before = try ReceiptCodec.canonicalBytes(receipt)
        #expect(!String(decoding: before, as: UTF8.self).contains("authorization"))
        receipt.authorization = .offline
        receipt.approvalCode = "Z7XTZR"
        receipt.lines[0].taxRate = 900
        let signed = try Fixtures.key.sign(receipt)
        let parsed = try ReceiptCodec.parse(compact: try ReceiptCodec.compact(signed))
        #expect(parsed == signed)
        try ReceiptCodec.verify(parsed, publicKey: Fixtures.key.publicKey)
        for change in [{ (r: inout Receipt) in r.authorization = .online }, { $0.approvalCode = "Z7XTZS" }, { $0.lines[0].taxRate = 1_300 }] {
            var forged = signed
            change(&forged.receipt)
            #expect(throws: ReceiptError.self) { try ReceiptCodec.verify(forged, publicKey: Fixtures.key.publicKey) }
        }
        // What a signer refuses.
        var bad = receipt
        bad.approvalCode = "ab-1"
        #expect(throws: ReceiptError.self) { try Fixtures.key.sign(bad) }
        bad = receipt
        bad.refundOfNumber = "T1-000001"
        #expect(throws: ReceiptError.self, "a sale naming an original receipt") { try Fixtures.key.sign(bad) }
        bad = receipt
        bad.lines[0].taxRate = 10_001
        #expect(throws: ReceiptError.self) { try Fixtures.key.sign(bad) }
    }

    @Test("text, ESC/POS and the page show tax, approval, offline status and the refund reference; a copy says so")
    func renderers() throws {
        var sale = Fixtures.sale
        sale.authorization = .offline
        sale.approvalCode = "Z7XTZR"
        sale.lines = sale.lines.map { var l = $0; l.taxRate = 900; return l }
        let signed = try Fixtures.key.sign(sale)
        let text = TextReceipt.render(signed, columns: 42)
        #expect(text.contains("APPROVED OFFLINE") && text.contains("Z7XTZR") && text.contains("incl. VAT 9%"))
        var refund = Fixtures.refund
        refund.refundOfNumber = "T1-000007"
        let refundText = TextReceipt.render(try Fixtures.key.sign(refund), columns: 42)
        #expect(refundText.contains("Refund of receipt") && refundText.contains("T1-000007") && refundText.contains("REFUNDED"))

        let copy = try PrintedStream(try EscPos.render(signed, profile: .epson80, copy: true).bytes)
        let lines = copy.lines.map { String(decoding: $0, as: UTF8.self) }
        #expect(lines.filter { $0.contains(TextReceipt.copyMark) }.count == 2 && copy.endsWithCut)
        #expect(copy.nativeQR.map { String(decoding: $0, as: UTF8.self) } == (try ReceiptCodec.stamp(signed)), "a copy carries the same verification string")
        let page = try HTMLReceipt.render(signed, copy: true)
        #expect(page.contains(TextReceipt.copyMark) && page.contains("Z7XTZR") && page.contains("approved offline"))
        #expect(!(try HTMLReceipt.render(signed)).contains(TextReceipt.copyMark))
    }

    @Test("X and Z reports print as strict ESC/POS on both printers, cut where there is a cutter")
    func reportsPrint() throws {
        var offline = Fixtures.sale
        offline.authorization = .offline
        let receipts = [Fixtures.sale, offline, Fixtures.refund]
        let z = DayReport(kind: .z, number: 12, terminalID: "T1", merchantName: "Corner Noodle Bar", madeAt: 1_800_000_000,
                          since: 1_799_900_000, receipts: receipts)
        let section = try #require(z.sections.first)
        #expect(section.sales.count == 2 && section.offline.count == 1 && section.refunds.count == 1)
        #expect(section.net == 2 * Fixtures.sale.amount.minorUnits - Fixtures.refund.amount.minorUnits)
        for profile in [PrinterProfile.epson80, .cheap58] {
            let printed = try PrintedStream(try EscPos.render(report: z, profile: profile).bytes)
            let lines = printed.lines.map { String(decoding: $0, as: UTF8.self) }
            #expect(lines.contains { $0.contains("Z REPORT 12") } && lines.contains { $0.contains("NET") })
            #expect(printed.lines.allSatisfy { $0.count <= profile.columns })
            #expect(printed.endsWithCut == profile.cutter && printed.nativeQR == nil && printed.rasters.isEmpty)
        }
        let yen = DayReport(kind: .x, number: nil, terminalID: "T1", merchantName: "m", madeAt: 0, since: nil, receipts: [Fixtures.sale, Fixtures.yen])
        #expect(yen.sections.map(\.currency) == ["CNY", "JPY"], "currencies are never added together")
    }
}
