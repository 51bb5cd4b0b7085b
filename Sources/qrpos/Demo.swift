import ArgumentParser
import Barcodes
import Foundation
import Ledger
import LedgerSQLite
import Payments
import Receipts
import Terminal

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a whole checkout, both flows, on an embedded ledger in a temporary folder; exits 0 only if every step did what it should.")
    @Option(help: "Keep the demo's files in this folder instead of a temporary one.") var keep: String?
    @Option(help: "Receipt width in columns: 32, 42 or 48.") var columns = 32
    @Option(help: "The catalogue the first sale's basket comes from (default: assets/catalogue.json when run from the repository).")
    var catalogue: String?
    @Option(help: ArgumentHelp("Also print every receipt on this printer: file:/dev/usb/lp0, tcp://HOST:9100 or cups:QUEUE.", valueName: "url"))
    var printer: String?
    @Option(name: .customLong("printer-profile"), help: ArgumentHelp("tm-t20ii, pos-5890, or a profile JSON file.", valueName: "name"))
    var printerProfile = "tm-t20ii"

    func validate() throws {
        try checkColumns(columns)
        if let printer { _ = try PrinterAddress(printer) }
    }

    func run() throws {
        let folder = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-demo-\(UUIDv7.make())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: folder) } }
        var demo = try DemoRun(folder: folder, columns: columns, catalogue: try cataloguePath(catalogue).map(Catalogue.init(path:)))
        try demo.run()
        if let printer {
            // A printer that fails is a failed check, and undoes nothing: the payments stand.
            print("\n== Printing on \(printer)")
            let profile = try qrpos.printerProfile(printerProfile)
            // Every receipt, then the first again: the book makes that one a copy.
            for (index, number) in (demo.receipts.map(\.receipt.number) + demo.receipts.prefix(1).map(\.receipt.number)).enumerated() {
                let reprint = index == demo.receipts.count
                do {
                    var bytes = 0
                    let copy = try demo.book.print(number: number) { receipt, copy in
                        bytes = try printReceipt(receipt, printer: printer, profile: profile, timeout: 10, copy: copy)
                    }
                    demo.check(copy == reprint, "receipt \(number) \(reprint ? "reprinted, marked as a copy" : "printed") (\(bytes) bytes of ESC/POS)")
                } catch {
                    demo.check(false, "receipt \(number) not printed: \(error)")
                }
            }
            if let z = demo.zReport {
                do {
                    let bytes = try send(try EscPos.render(report: z, profile: profile), printer: printer, timeout: 10)
                    demo.check(true, "Z report \(z.number ?? 0) printed (\(bytes) bytes)")
                } catch {
                    demo.check(false, "Z report not printed: \(error)")
                }
            }
        }
        if demo.failures.isEmpty {
            print("\nDEMO PASSED: \(demo.steps) checks, every step did what it should.")
        } else {
            print("\nDEMO FAILED: \(demo.failures.count) of \(demo.steps) checks failed:")
            for f in demo.failures { print("  - \(f)") }
            throw ExitCode.failure
        }
    }
}

/// The demo's script. Every step goes through the real parts: SQLite, qrencode, PNG files, zbar.
struct DemoRun {
    let folder: String
    let columns: Int
    let ledger: SQLiteLedger
    let key = ReceiptKey()
    let scanner = CodeScanner()
    var steps = 0
    var failures: [String] = []
    var receipts: [SignedReceipt] = []
    /// The terminal's receipt book (numbers, reports), in the demo's folder.
    let book: ReceiptBook
    var zReport: DayReport?

    let catalogue: Catalogue?

    init(folder: String, columns: Int, catalogue: Catalogue?) throws {
        self.folder = folder
        self.columns = columns
        self.catalogue = catalogue
        ledger = try SQLiteLedger(path: (folder as NSString).appendingPathComponent("ledger.sqlite"))
        book = try ReceiptBook(path: (folder as NSString).appendingPathComponent("receipt-book.sqlite"))
    }

    mutating func check(_ ok: Bool, _ what: String) {
        steps += 1
        print("  [\(ok ? "ok" : "FAILED")] \(what)")
        if !ok { failures.append(what) }
    }

    func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }

    func heading(_ text: String) { print("\n== \(text)") }

    /// Renders `text` as a QR into a PNG file, reads the file back and decodes it with zbar.
    func throughImage(_ text: String, file: String) throws -> (decoded: [String], version: Int) {
        let matrix = try QREncoder.encode(text)
        try ImageFile.write(Render.raster(matrix, moduleSize: 4), to: path(file))
        let frame = try ImageFile.read(path: path(file))
        return (scanner.scan(frame).compactMap(\.text), matrix.version)
    }

    mutating func run() throws {
        let now = UnixTime.nowMillis()
        heading("Setting up a merchant and two customers (ledger: \(ledger.path))")
        let merchant = try ledger.createMerchant(name: "Demo Grocery", city: "Hangzhou", categoryCode: "5411",
                                                 countryCode: "CN", currency: .CNY, now: now)
        let alice = try ledger.createWallet(name: "Alice", phone: "+8613800000001", currency: .CNY, now: now)
        let bob = try ledger.createWallet(name: "Bob", phone: "+8613800000002", currency: .CNY, now: now)
        let checkout = Checkout(ledger: ledger, merchant: merchant, terminalID: "DEMO-T1", receiptKey: key, book: book)
        print("  merchant \(merchant.id) \(merchant.name); wallets \(alice.id) (Alice), \(bob.id) (Bob)")
        let d1 = try ledger.deposit(requestID: UUIDv7.make(), wallet: alice.id, amount: cny("200.00"), source: .cash, now: now)
        let d2 = try ledger.deposit(requestID: UUIDv7.make(), wallet: bob.id, amount: cny("20.00"), source: .bank, now: now)
        check(d1.transfer != nil && d2.transfer != nil, "Alice deposits 200.00 cash, Bob 20.00 from his bank")

        heading("Customer-presented: Alice shows her payment code, the cashier scans it")
        let aliceCode = try ledger.issueCode(wallet: alice.id, validityMillis: 60_000, now: now)
        print("  Alice's code: \(aliceCode.code.grouped) (valid 60 s, one payment)")
        let scanned = try throughImage(aliceCode.code.digits, file: "alice-code.png")
        check(scanned.decoded == [aliceCode.code.digits], "the code, rendered to alice-code.png (QR version \(scanned.version)), reads back through zbar")
        let barcode = Render.raster(code128: try Code128.encode(aliceCode.code.digits))
        try ImageFile.write(barcode, to: path("alice-code-128.png"))
        check(scanner.scan(try ImageFile.read(path: path("alice-code-128.png"))).map(\.text) == [aliceCode.code.digits],
              "the same code as a Code 128 barcode reads back through zbar")
        // The basket: 2 soy milk and a bun from the catalogue, 12.50 in all (or just the amount without one).
        let basket = try catalogue?.basket([("SOY-500", 2), ("BUN-PORK", 1)])
        if let basket {
            check(basket.total == cny("12.50"), "the basket from the catalogue (2 soy milk, 1 bun) comes to 12.50")
        } else {
            print("  (no catalogue given: the sale has no item lines)")
        }
        let sale1 = try checkout.charge(amount: cny("12.50"), frame: try ImageFile.read(path: path("alice-code.png")), scanner: scanner,
                                        lines: basket?.lines ?? [], now: now + 2_000)
        check(sale1.receipt != nil, "charge 12.50 with the scanned code: approved")
        if basket != nil {
            let taxes = sale1.receipt?.receipt.taxes ?? []
            check(taxes.map(\.rate) == [900] && taxes.first?.tax == cny("1.03"),
                  "the receipt states the 9% VAT its lines include: 1.03 of 12.50")
        }
        printReceipt(sale1)

        heading("Merchant-presented: the terminal shows a dynamic QR, Alice's wallet pays it")
        // The basket: two green teas, 36.80 (or just the amount without a catalogue).
        let teas = try catalogue?.basket([("TEA-GREEN", 2)])
        if let teas { check(teas.total == cny("36.80"), "the basket from the catalogue (2 green tea) comes to 36.80") }
        let presented = try checkout.presentOrder(amount: cny("36.80"), lines: teas?.lines ?? [], now: now + 3_000)
        print("  order \(presented.order.id): \(presented.payload)")
        let shown = try throughImage(presented.payload, file: "order-qr.png")
        check(shown.decoded == [presented.payload], "the order QR, rendered to order-qr.png (version \(shown.version)), reads back through zbar")
        let parsed = try OrderQR(MerchantQR.parse(shown.decoded.first ?? ""))
        check(parsed.amount == cny("36.80") && parsed.orderID == presented.order.id && parsed.merchantID == merchant.id,
              "the wallet parses the EMVCo payload: 36.80 CNY to \(merchant.name), order \(parsed.orderID)")
        let paid = try ledger.payOrder(requestID: UUIDv7.make(), orderID: parsed.orderID, wallet: alice.id,
                                       merchant: parsed.merchantID, amount: parsed.amount, now: now + 4_000)
        check(paid.transfer != nil, "Alice's wallet pays the order")
        let again = try ledger.payOrder(requestID: UUIDv7.make(), orderID: parsed.orderID, wallet: bob.id,
                                        merchant: parsed.merchantID, amount: parsed.amount, now: now + 4_500)
        check(again.decline == .orderPaid, "paying the same QR again is declined: \(again.decline?.description ?? "not declined!")")
        let sale2 = try checkout.awaitPayment(of: presented, now: { now + 5_000 }, sleep: { _ in })
        check(sale2.receipt?.receipt.paymentID == paid.transfer?.id, "the terminal sees the order paid")
        if let teas {
            check(sale2.receipt?.receipt.lines == teas.lines, "its receipt lists what was sold: 2 green tea at 18.40")
        }
        printReceipt(sale2)

        heading("Partial refund of the first sale")
        let paymentID = sale1.receipt?.receipt.paymentID ?? "?"
        let refund = try checkout.refund(payment: paymentID, amount: cny("5.00"), now: now + 6_000)
        check(refund.receipt?.receipt.kind == .refund, "refund 5.00 of 12.50: approved")
        check(refund.receipt?.receipt.refundOfNumber == sale1.receipt?.receipt.number,
              "the refund receipt names the sale's receipt, \(sale1.receipt?.receipt.number ?? "?")")
        printReceipt(refund)
        let tooMuch = try checkout.refund(payment: paymentID, amount: cny("7.51"), now: now + 6_500)
        check(tooMuch.declineReason != nil, "refunding 7.51 more (above what is left) is declined: \(tooMuch.declineReason ?? "not declined!")")

        heading("Declines")
        let bobCode = try ledger.issueCode(wallet: bob.id, validityMillis: 60_000, now: now + 7_000)
        let bobScan = try throughImage(bobCode.code.digits, file: "bob-code.png")
        let poor = try checkout.charge(amount: cny("50.00"), code: bobScan.decoded.first ?? "", now: now + 7_500)
        check(poor.declineReason == Decline.insufficientFunds.description, "Bob's 50.00 with 20.00 in his wallet: \(poor.declineReason ?? "approved!")")
        let replay = try checkout.charge(amount: cny("1.00"), frame: try ImageFile.read(path: path("alice-code.png")), scanner: scanner, now: now + 8_000)
        check(replay.declineReason == Decline.codeUsed.description, "Alice's code replayed from the same image: \(replay.declineReason ?? "approved!")")

        heading("Balances")
        let balances = try [alice.id, bob.id, merchant.id, "settlement-CNY"].map { try ledger.account($0)! }
        for a in balances { print("  \(a.name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(a.balance)") }
        let expected: [Int64] = [15_570, 2_000, 4_430, 22_000]
        check(balances.map(\.balance.minorUnits) == expected,
              "Alice 155.70, Bob 20.00, merchant 44.30, settlement 220.00")

        heading("The day's end: X report, then Z report")
        let numbers = receipts.map(\.receipt.number)
        check(numbers == ["DEMO-T1-000001", "DEMO-T1-000002", "DEMO-T1-000003"],
              "receipts are numbered without gaps: \(numbers.joined(separator: ", "))")
        let x = try book.xReport(terminal: "DEMO-T1", merchantName: merchant.name, now: now / 1000 + 10)
        print(x.text(columns: columns).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        let section = x.sections.first
        check(section?.sales == DayReport.Tally(count: 2, amount: 4_930) && section?.refunds == DayReport.Tally(count: 1, amount: 500)
              && section?.net == balances[2].balance.minorUnits,
              "X report: 2 sales 49.30, 1 refund 5.00, net 44.30, what the merchant's account holds")
        let z = try book.closeDay(terminal: "DEMO-T1", merchantName: merchant.name, now: now / 1000 + 11)
        zReport = z
        let after = try book.xReport(terminal: "DEMO-T1", merchantName: merchant.name, now: now / 1000 + 12)
        check(z.number == 1 && z.sections == x.sections && after.receiptCount == 0 && after.sections.isEmpty,
              "Z report 1 closes the day with the X report's totals; the next X report starts from zero")

        heading("Receipts and audit")
        check(receipts.allSatisfy { (try? ReceiptCodec.verify($0, publicKey: key.publicKey)) != nil }, "all \(receipts.count) receipt signatures verify")
        let report = try ledger.audit()
        for v in report.violations { print("  VIOLATION \(v)") }
        check(report.passed, "ledger audit: \(report.transfers) transfers over \(report.accounts) accounts, debits = credits, every invariant holds")
    }

    mutating func printReceipt(_ result: SaleResult) {
        guard let receipt = result.receipt else { return }
        receipts.append(receipt)
        print("")
        for line in TextReceipt.render(receipt, columns: columns).split(separator: "\n", omittingEmptySubsequences: false) {
            print("    " + line)
        }
    }
}

func cny(_ text: String) -> Money {
    try! Money(parsing: text, currency: .CNY)
}
