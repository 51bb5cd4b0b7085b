import Dispatch
import Foundation
import GRDB
import Ledger
import Payments
import Receipts
import Synchronization
import Terminal
import Testing

@Suite("The receipt book: gapless numbers, copies, X and Z reports")
struct ReceiptBookTests {
    @Test("sales and refunds are numbered without gaps; a decline takes no number; a retried sale keeps its receipt")
    func gaplessNumbers() throws {
        let till = try Till(withBook: true)
        let book = try #require(till.book)
        var numbers: [String] = []
        var firstSale: SignedReceipt?
        for (index, amount) in ["1.00", "2.00", "500.00", "3.00"].enumerated() {
            let code = try till.ledger.issueCode(wallet: till.wallet.id, validityMillis: 60_000, now: till.now).code.digits
            let result = try till.checkout.charge(amount: try till.cny(amount), code: code, now: till.now + Int64(index))
            if amount == "500.00" {
                #expect(result.declineReason != nil)
                continue
            }
            let receipt = try #require(result.receipt)
            firstSale = firstSale ?? receipt
            numbers.append(receipt.receipt.number)
        }
        let sale = try #require(firstSale)
        // The same sale again (a retry by id): the same receipt, no new number.
        let code = try till.ledger.issueCode(wallet: till.wallet.id, validityMillis: 60_000, now: till.now).code.digits
        let saleID = UUIDv7.make()
        let once = try #require(try till.checkout.charge(amount: try till.cny("4.00"), code: code, saleID: saleID, now: till.now + 10).receipt)
        let twice = try #require(try till.checkout.charge(amount: try till.cny("4.00"), code: code, saleID: saleID, now: till.now + 20).receipt)
        #expect(once == twice)
        numbers.append(once.receipt.number)
        let refund = try #require(try till.checkout.refund(payment: sale.receipt.paymentID, amount: try till.cny("0.50"), now: till.now + 30).receipt)
        numbers.append(refund.receipt.number)
        #expect(numbers == (1...5).map { ReceiptBook.number(terminal: "T9", seq: Int64($0)) })
        #expect(refund.receipt.refundOfNumber == sale.receipt.number)
        #expect(refund.receipt.refundOf == sale.receipt.paymentID)
        try ReceiptCodec.verify(refund, publicKey: till.key.publicKey)
        #expect(try book.entries(terminal: "T9").map(\.receipt.receipt.number) == numbers)
        #expect(try book.last(terminal: "T9")?.receipt == refund)
    }

    /// GRDB turns a pool's writer to synchronous=NORMAL when it sets WAL; the book, the journal
    /// and the ledger set FULL back on it, so a commit is on disk (not only in the OS's cache)
    /// before a receipt or an approval is answered. Asked of the writer, not a reader.
    @Test("the receipt book and the terminal journal commit with synchronous=FULL on their writer")
    func durability() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-durable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for settings in [try ReceiptBook(path: folder.appendingPathComponent("book.sqlite").path).durability(),
                         try TerminalJournal(path: folder.appendingPathComponent("journal.sqlite").path).durability()] {
            #expect(settings.journalMode == "wal" && settings.synchronous == 2, "\(settings)")
        }
    }

    @Test("a receipt that fails to be made takes no number: the next one gets it")
    func failedIssueLeavesNoGap() throws {
        let book = try ReceiptBook(path: Self.temporaryPath())
        let key = ReceiptKey()
        struct Boom: Error {}
        #expect(throws: Boom.self) { _ = try book.issue(terminal: "T1", paymentID: "p1") { _ in throw Boom() } }
        // A receipt that does not carry the number the book gave is refused too.
        #expect(throws: CheckoutError.self) {
            _ = try book.issue(terminal: "T1", paymentID: "p1") { _ in try key.sign(Self.receipt(number: "T1-999999", payment: "p1")) }
        }
        let made = try book.issue(terminal: "T1", paymentID: "p1") { try key.sign(Self.receipt(number: $0, payment: "p1")) }
        #expect(made.receipt.number == "T1-000001")
        #expect(try book.entries(terminal: "T1").count == 1)
    }

    @Test("two processes' worth of writers on one book share one sequence: every number once, none skipped")
    func concurrentWriters() throws {
        let path = Self.temporaryPath()
        let books = [try ReceiptBook(path: path), try ReceiptBook(path: path)]
        let key = ReceiptKey()
        let made = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<20 {
                let payment = "p\(worker)-\(i)"
                let signed = try? books[worker % 2].issue(terminal: "T1", paymentID: payment) {
                    try key.sign(Self.receipt(number: $0, payment: payment))
                }
                if let signed { made.withLock { $0.append(signed.receipt.number) } }
            }
        }
        let numbers = made.withLock { $0 }.sorted()
        #expect(numbers == (1...160).map { ReceiptBook.number(terminal: "T1", seq: Int64($0)) })
    }

    @Test("X changes nothing; Z closes the day under the next number, for good; the next X starts from zero")
    func dayClose() throws {
        let path = Self.temporaryPath()
        let book = try ReceiptBook(path: path)
        let key = ReceiptKey()
        func issue(_ payment: String, _ minor: Int64, kind: Receipt.Kind = .sale, authorization: Receipt.Authorization = .online,
                   method: String = "customer code", lines: [Receipt.Line] = []) throws {
            _ = try book.issue(terminal: "T1", paymentID: payment) {
                var r = Self.receipt(number: $0, payment: payment, minor: minor, lines: lines)
                r.kind = kind
                r.refundOf = kind == .refund ? "p1" : nil
                r.authorization = authorization
                r.method = method
                return try key.sign(r)
            }
        }
        let tea = Receipt.Line(name: "tea", quantity: 1, unitPrice: Money(minorUnits: 1_130, currency: .CNY),
                               total: Money(minorUnits: 1_130, currency: .CNY), taxRate: 1_300)
        try issue("p1", 1_130, lines: [tea])
        try issue("p2", 500, authorization: .offline)
        try issue("p3", 2_000, method: "merchant QR")
        try issue("r1", 300, kind: .refund)
        let x = try book.xReport(terminal: "T1", merchantName: "Shop", now: 1_000)
        let cny = try #require(x.sections.first)
        #expect(x.receiptCount == 4 && x.firstReceipt == "T1-000001" && x.lastReceipt == "T1-000004")
        #expect(cny.sales == DayReport.Tally(count: 3, amount: 3_630))
        #expect(cny.refunds == DayReport.Tally(count: 1, amount: 300))
        #expect(cny.net == 3_330)
        #expect(cny.online == DayReport.Tally(count: 2, amount: 3_130) && cny.offline == DayReport.Tally(count: 1, amount: 500))
        #expect(cny.salesByMethod == ["customer code": DayReport.Tally(count: 2, amount: 1_630), "merchant QR": DayReport.Tally(count: 1, amount: 2_000)])
        #expect(cny.taxByRate == [1_300: 130])
        #expect(try book.xReport(terminal: "T1", merchantName: "Shop", now: 1_001).sections == x.sections)

        let z1 = try book.closeDay(terminal: "T1", merchantName: "Shop", now: 1_002)
        #expect(z1.kind == .z && z1.number == 1 && z1.sections == x.sections && z1.since == nil)
        #expect(try book.zReport(terminal: "T1", number: 1) == z1)
        let empty = try book.xReport(terminal: "T1", merchantName: "Shop", now: 1_003)
        #expect(empty.receiptCount == 0 && empty.sections.isEmpty && empty.since == 1_002)
        #expect(empty.text().contains("no sales, no refunds"))

        try issue("p4", 700)
        let z2 = try book.closeDay(terminal: "T1", merchantName: "Shop", now: 1_004)
        #expect(z2.number == 2 && z2.receiptCount == 1 && z2.firstReceipt == "T1-000005" && z2.sections.first?.net == 700)
        #expect(z2.text().contains("Z REPORT 2"))
        #expect(try book.entries(terminal: "T1").map(\.closedBy) == [1, 1, 1, 1, 2])

        // Irreversible, whoever asks: the database itself refuses to change or remove either.
        let db = try DatabaseQueue(path: path)
        for sql in ["DELETE FROM receipt", "UPDATE receipt SET amount = 1 WHERE seq = 1", "UPDATE receipt SET z = NULL",
                    "UPDATE receipt SET z = 2 WHERE seq = 1", "UPDATE receipt SET compact = 'x' WHERE seq = 2",
                    "DELETE FROM z_report", "UPDATE z_report SET report = '{}'"] {
            #expect(throws: DatabaseError.self, "\(sql)") { try db.write { try $0.execute(sql: sql) } }
        }
        #expect(try book.zReport(terminal: "T1", number: 1) == z1)
        #expect(try book.xReport(terminal: "T1", merchantName: "Shop", now: 1_005).receiptCount == 0)
    }

    @Test("printing counts: the first print is the original, later ones are copies")
    func printCount() throws {
        let book = try ReceiptBook(path: Self.temporaryPath())
        let key = ReceiptKey()
        let signed = try book.issue(terminal: "T1", paymentID: "p1") { try key.sign(Self.receipt(number: $0, payment: "p1")) }
        #expect(try book.entry(number: signed.receipt.number)?.printed == 0)
        #expect(try book.printed(number: signed.receipt.number) == 1)
        #expect(try book.printed(number: signed.receipt.number) == 2)
        #expect(throws: CheckoutError.self) { try book.printed(number: "T1-000009") }
        let copy = TextReceipt.render(signed, columns: 32, copy: true)
        #expect(copy.components(separatedBy: TextReceipt.copyMark).count == 3)
        #expect(!TextReceipt.render(signed, columns: 32).contains(TextReceipt.copyMark))
    }

    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-book-\(UUID().uuidString).sqlite").path
    }

    static func receipt(number: String, payment: String, minor: Int64 = 100, lines: [Receipt.Line] = []) -> Receipt {
        Receipt(number: number, kind: .sale, merchantID: "m1", merchantName: "Shop", merchantCity: "Hangzhou", terminalID: "T1",
                paymentID: payment, method: "customer code", payer: "code …1234", amount: Money(minorUnits: minor, currency: .CNY),
                issuedAt: 1_000, lines: lines)
    }
}
