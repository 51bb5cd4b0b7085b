import Barcodes
import Foundation
import Ledger
import LedgerSQLite
import Payments
import Receipts
import Terminal
import Testing

/// A checkout on a real SQLite ledger in a temporary folder.
struct Till {
    let ledger: SQLiteLedger
    let checkout: Checkout
    let merchant: Merchant
    let wallet: Account
    let key = ReceiptKey()
    let now: Int64 = 1_800_000_000_000
    let dir: URL
    /// The terminal's receipt book, when made `withBook`.
    let book: ReceiptBook?

    init(walletCash: String = "100.00", withBook: Bool = false) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-till-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        ledger = try SQLiteLedger(path: dir.appendingPathComponent("ledger.sqlite").path)
        merchant = try ledger.createMerchant(name: "Tea House 茶馆", city: "Hangzhou", categoryCode: "5812", countryCode: "CN", currency: .CNY, now: now)
        wallet = try ledger.createWallet(name: "Carol", phone: nil, currency: .CNY, now: now)
        _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: wallet.id, amount: try Money(parsing: walletCash, currency: .CNY), source: .cash, now: now)
        book = withBook ? try ReceiptBook(path: dir.appendingPathComponent("receipt-book.sqlite").path) : nil
        checkout = Checkout(ledger: ledger, merchant: merchant, terminalID: "T9", receiptKey: key, book: book)
    }

    func cny(_ s: String) throws -> Money { try Money(parsing: s, currency: .CNY) }
}

@Suite("Checkout on the embedded ledger")
struct CheckoutTests {
    @Test("a code read from a rendered image by zbar is charged, and the receipt is signed")
    func chargeFromImage() throws {
        let till = try Till()
        let code = try till.ledger.issueCode(wallet: till.wallet.id, validityMillis: 60_000, now: till.now)
        let frame = try ImageFile.read(bytes: try ImageFile.png(Render.raster(try QREncoder.encode(code.code.digits))), name: "phone")
        let result = try till.checkout.charge(amount: try till.cny("8.80"), frame: frame, scanner: CodeScanner(), now: till.now + 1)
        let receipt = try #require(result.receipt)
        #expect(receipt.receipt.amount == (try till.cny("8.80")))
        #expect(receipt.receipt.payer == code.code.masked)
        #expect(!receipt.receipt.payer.contains(String(code.code.digits.prefix(14))))
        try ReceiptCodec.verify(receipt, publicKey: till.key.publicKey)
        #expect(try till.ledger.audit().passed)
    }

    @Test("retrying a sale with the same id charges once and returns the same payment")
    func retrySameSale() throws {
        let till = try Till()
        let code = try till.ledger.issueCode(wallet: till.wallet.id, validityMillis: 60_000, now: till.now).code.digits
        let saleID = UUIDv7.make()
        let first = try #require(try till.checkout.charge(amount: try till.cny("10.00"), code: code, saleID: saleID, now: till.now).receipt)
        let retry = try #require(try till.checkout.charge(amount: try till.cny("10.00"), code: code, saleID: saleID, now: till.now + 3_000).receipt)
        #expect(first.receipt.paymentID == retry.receipt.paymentID)
        #expect(try till.ledger.account(till.wallet.id)?.balance == till.cny("90.00"))
    }

    @Test("an image without a code, or with a foreign code, is declined before the ledger is asked")
    func noCode() throws {
        let till = try Till()
        let blank = try till.checkout.charge(amount: try till.cny("1.00"), frame: LumaFrame(width: 200, height: 200), scanner: CodeScanner(), now: till.now)
        #expect(blank.declineReason == "no code found in the image")
        let url = Render.raster(try QREncoder.encode("https://example.com/"))
        let foreign = try till.checkout.charge(amount: try till.cny("1.00"), frame: url, scanner: CodeScanner(), now: till.now)
        #expect(foreign.declineReason?.contains("18 digits") == true)
        #expect(try till.ledger.history(account: till.wallet.id, limit: 10).count == 1)
    }

    @Test("a presented order is seen paid by polling, and an unpaid one expires")
    func presentAndAwait() throws {
        let till = try Till()
        let presented = try till.checkout.presentOrder(amount: try till.cny("23.00"), now: till.now)
        let qr = try OrderQR(MerchantQR.parse(presented.payload))
        #expect(qr.merchantName == "Tea House 茶馆")
        var clock = till.now
        var polls = 0
        let result = try till.checkout.awaitPayment(of: presented, now: { clock }, sleep: { ms in
            polls += 1
            clock += ms
            if polls == 3 {
                _ = try? till.ledger.payOrder(requestID: UUIDv7.make(), orderID: qr.orderID, wallet: till.wallet.id,
                                              merchant: qr.merchantID, amount: qr.amount, now: clock)
            }
        })
        #expect(polls == 3)
        #expect(result.receipt?.receipt.method == "merchant QR")
        #expect(result.receipt?.receipt.orderID == qr.orderID)

        let unpaid = try till.checkout.presentOrder(amount: try till.cny("1.00"), now: till.now)
        clock = till.now
        let expired = try till.checkout.awaitPayment(of: unpaid, now: { clock }, sleep: { clock += $0 })
        #expect(expired.declineReason == Decline.orderExpired.description)
        #expect(clock == till.now + Limits.standard.orderValidityMillis)
        // Closed at the ledger: the customer's late scan cannot pay it any more.
        let late = try OrderQR(MerchantQR.parse(unpaid.payload))
        #expect(try till.ledger.payOrder(requestID: UUIDv7.make(), orderID: late.orderID, wallet: till.wallet.id,
                                         merchant: late.merchantID, amount: late.amount, now: till.now + 1).decline == .orderExpired)
    }

    @Test("a basket is kept in the book before the ledger is asked: a merchant QR's receipt lists it, and the day's close drops week-old baskets")
    func basketKept() throws {
        let till = try Till(withBook: true)
        let book = try #require(till.book)
        let lines = [Receipt.Line(name: "Soy milk", quantity: 2, unitPrice: try till.cny("3.50"), total: try till.cny("7.00"), taxRate: 900),
                     Receipt.Line(name: "Steamed bun", quantity: 1, unitPrice: try till.cny("5.50"), total: try till.cny("5.50"))]
        let presented = try till.checkout.presentOrder(amount: try till.cny("12.50"), lines: lines, now: till.now)
        #expect(try book.basket(sale: presented.order.id) == lines, "kept under the order id before anyone paid")
        let qr = try OrderQR(MerchantQR.parse(presented.payload))
        _ = try till.ledger.payOrder(requestID: UUIDv7.make(), orderID: qr.orderID, wallet: till.wallet.id, merchant: qr.merchantID,
                                     amount: qr.amount, now: till.now + 1)
        let receipt = try #require(try till.checkout.awaitPayment(of: presented, now: { till.now + 2 }, sleep: { _ in }).receipt)
        #expect(receipt.receipt.lines == lines)
        try ReceiptCodec.verify(receipt, publicKey: till.key.publicKey)

        // A sale's first basket stands: a retry with other lines does not replace it.
        try book.keepBasket(sale: presented.order.id, lines: [lines[1]], now: till.now + 3)
        #expect(try book.basket(sale: presented.order.id) == lines)
        let week = ReceiptBook.basketKeepMillis
        try book.keepBasket(sale: "later", lines: [lines[1]], now: till.now + week)
        _ = try book.closeDay(terminal: "T9", merchantName: till.merchant.name, now: till.now + week + 10)
        #expect(try book.basket(sale: presented.order.id).isEmpty, "a week old: dropped")
        #expect(try book.basket(sale: "later") == [lines[1]], "younger: kept")
    }

    @Test("a terminal id the receipt cannot carry is refused before any money moves")
    func badTerminalID() throws {
        let till = try Till()
        let bad = Checkout(ledger: till.ledger, merchant: till.merchant, terminalID: "T\u{1B}[2J", receiptKey: till.key)
        let code = try till.ledger.issueCode(wallet: till.wallet.id, validityMillis: 60_000, now: till.now).code.digits
        #expect(throws: CheckoutError.self) { try bad.charge(amount: try till.cny("1.00"), code: code, now: till.now) }
        #expect(try till.ledger.account(till.wallet.id)?.balance == till.cny("100.00"))
        #expect(try till.checkout.charge(amount: try till.cny("1.00"), code: code, now: till.now).receipt != nil, "the code is still good")
    }

    @Test("amounts above the terminal's limit, zero or malformed are refused")
    func amounts() throws {
        let till = try Till()
        #expect(throws: CheckoutError.self) { try till.checkout.amount("0") }
        #expect(throws: CheckoutError.self) { try till.checkout.amount("50000.01") }
        #expect(throws: CheckoutError.self) { try till.checkout.amount("1,00") }
        #expect(try till.checkout.amount("50000.00").minorUnits == 5_000_000)
    }

    @Test("a refund of another merchant's payment is refused")
    func refundOtherMerchant() throws {
        let till = try Till()
        let other = try till.ledger.createMerchant(name: "Other", city: "Beijing", categoryCode: "5411", countryCode: "CN", currency: .CNY, now: till.now)
        let code = try till.ledger.issueCode(wallet: till.wallet.id, validityMillis: 60_000, now: till.now).code
        let payment = try #require(try till.ledger.charge(requestID: UUIDv7.make(), code: code, merchant: other.id,
                                                          amount: try till.cny("5.00"), memo: "", now: till.now).transfer)
        let r = try till.checkout.refund(payment: payment.id, amount: try till.cny("5.00"), now: till.now)
        #expect(r.declineReason == Decline.merchantMismatch.description)
    }
}
