import ArgumentParser
import Barcodes
import Foundation
import Ledger
import Logging
import Payments
import Receipts
import Terminal

struct MerchantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "merchant", abstract: "Merchants.", subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a merchant; prints its id.")
        @OptionGroup var store: StoreOptions
        @Option(help: "Name as the QR and receipts show it (≤ 25 characters).") var name: String
        @Option(help: "City (≤ 15 characters).") var city: String
        @Option(help: "ISO 18245 merchant category code.") var mcc: String = "5411"
        @Option(help: "ISO 3166 alpha-2 country.") var country: String = "CN"
        @Option(help: "ISO 4217 currency.") var currency: String = "CNY"
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (1...25).contains(name.unicodeScalars.count) else { throw ValidationError("--name is 1 to 25 characters (EMVCo tag 59)") }
            guard (1...15).contains(city.unicodeScalars.count) else { throw ValidationError("--city is 1 to 15 characters (EMVCo tag 60)") }
        }

        func run() throws {
            let m = try store.openCore().createMerchant(name: name, city: city, categoryCode: mcc, countryCode: country,
                                                          currency: try qrpos.currency(currency), now: UnixTime.nowMillis())
            if json { printJSON(["id": m.id, "name": m.name, "city": m.city, "currency": m.currency.code]) } else { print(m.id) }
        }
    }
}

/// Builds the checkout for the merchant and terminal the options name.
func makeCheckout(_ store: StoreOptions, _ terminal: TerminalOptions, limits: Limits = .standard) throws -> Checkout {
    let ledger = try store.openLedger()
    let id = try terminal.merchantID()
    guard let merchant = try ledger.merchant(id) else { throw Failure("no merchant \(id): `qrpos merchant create` makes one") }
    return Checkout(ledger: ledger, merchant: merchant, terminalID: terminal.terminal, receiptKey: try store.receiptKey(), limits: limits,
                    book: try store.receiptBook())
}

/// Prints an approved sale's receipt (text, or JSON) and saves it; a decline is thrown (exit 3).
func finish(_ result: SaleResult, store: StoreOptions, columns: Int, json: Bool) throws {
    switch result {
    case .approved(let receipt):
        // The money has moved: say so first, and let nothing after it turn the sale into an error.
        var saved: String?
        var problem: String?
        do { saved = try store.save(receipt) } catch { problem = "receipt not saved: \(error)" }
        if json {
            var object: [String: Any] = ["status": "approved", "payment_id": receipt.receipt.paymentID,
                                         "amount": receipt.receipt.amount.decimalString,
                                         "currency": receipt.receipt.amount.currency.code,
                                         "receipt": (try? ReceiptCodec.compact(receipt)) ?? ""]
            if let saved { object["receipt_file"] = saved }
            printJSON(object)
        } else {
            print(TextReceipt.render(receipt, columns: columns))
            if let saved { print("receipt saved: \(saved)") }
        }
        if let problem { FileHandle.standardError.write(Data("warning: \(problem)\n".utf8)) }
    case .declined(let reason):
        if json { printJSON(["status": "declined", "reason": reason]) }
        throw Declined(reason: reason)
    }
}

struct Charge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Customer-presented: charge the customer's payment code, typed or read from an image, and print the receipt.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var terminal: TerminalOptions
    @Option(help: "Amount in the merchant's currency, e.g. 12.50.") var amount: String
    @Option(help: "The customer's 18-digit code, or an offline code (QRPOS:OFF1:… or QRPOS:OFF2:…, from `qrpos wallet token`).") var code: String?
    @Option(help: "A PNG or PGM image of the customer's code, read with zbar.") var image: String?
    @Option(help: "Sale id (UUIDv7): the ledger request id; repeat it to retry without charging twice.") var id: String?
    @Option(help: "Receipt width in columns: 32, 42 or 48.") var columns = 32
    @Option(name: .customLong("issuer-key"), help: ArgumentHelp("The ledger's offline issuer public key, 64 hex digits (`qrpos ledger issuer-key`; env QRPOS_ISSUER_KEY); default: the embedded ledger's own.", valueName: "hex"))
    var issuerKey: String?
    @Option(help: ArgumentHelp("A ledger server (qrpos ledger serve): the code is charged there first, signed with <home>/terminal-key; an offline code goes offline only when the server gives no answer within --online-timeout.", valueName: "url"))
    var server: String?
    @Option(name: .customLong("online-timeout"), help: "With --server: seconds to wait for the ledger's answer before taking an offline code offline.")
    var onlineTimeout: Double = 3
    @OptionGroup(title: "Offline rules") var offline: OfflinePolicyOptions
    @Flag(help: "Print JSON.") var json = false

    /// The key offline codes must be issued by: given, or the embedded ledger's (beside it in <home>).
    func issuer() throws -> OfflinePublicKey {
        if let hex = issuerKey ?? ProcessInfo.processInfo.environment["QRPOS_ISSUER_KEY"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let raw = Hex.bytes(hex), let key = try? OfflinePublicKey(raw: raw) else { throw Failure("--issuer-key is 64 hex digits") }
            return key
        }
        return try store.offlineIssuerKey().publicKey
    }

    func validate() throws {
        guard (code == nil) != (image == nil) else { throw ValidationError("Give exactly one of --code and --image.") }
        try checkColumns(columns)
        try checkRequestID(id)
        guard onlineTimeout > 0 && onlineTimeout <= 60 else { throw ValidationError("--online-timeout is above 0 and at most 60 seconds") }
    }

    func run() throws {
        if let server { return try runOnlineFirst(server) }
        let checkout = try makeCheckout(store, terminal)
        let money = try checkout.amount(amount)
        let saleID = id ?? UUIDv7.make()
        // Said before the ledger is asked: if this process dies mid-call, `--id` with this id
        // retries the same sale without charging twice.
        Logger(label: "qrpos.charge").notice("sale \(saleID): authorizing \(money) (retry with --id \(saleID))")
        let result: SaleResult
        let texts = try code.map { [$0] } ?? CodeScanner().scan(try ImageFile.read(path: image!)).compactMap(\.text)
        if let token = texts.first(where: OfflineToken.looksLikeToken) {
            // An offline code: the offline rules and this terminal's journal (`qrpos sync push`
            // forwards it to the ledger).
            let journal = try TerminalJournal(path: (store.homeDirectory as NSString).appendingPathComponent("journal.sqlite"))
            result = try checkout.chargeOffline(amount: money, token: token, journal: journal, issuers: [try issuer()],
                                                policy: try offline.policy(for: money.currency), saleID: saleID)
        } else if let code {
            result = try checkout.charge(amount: money, code: code, saleID: saleID)
        } else {
            result = try checkout.charge(amount: money, frame: try ImageFile.read(path: image!), scanner: CodeScanner(), saleID: saleID)
        }
        try finish(result, store: store, columns: columns, json: json)
    }
}

extension Charge {
    /// `--server`: the terminal of a fleet. Its configuration (merchant, issuer keys) comes from
    /// the server and is kept in <home>/terminal-config.json for when the server is away.
    func runOnlineFirst(_ server: String) throws {
        let client = try ledgerClient(server, store: store, terminal: terminal, timeout: onlineTimeout)
        let checkout = try remoteCheckout(client, store: store, terminal: terminal)
        var issuers = try TerminalConfigFile(store).load(client).issuers()
        if issuerKey != nil { issuers.append(try issuer()) }
        let money = try checkout.amount(amount)
        let saleID = id ?? UUIDv7.make()
        Logger(label: "qrpos.charge").notice("sale \(saleID): authorizing \(money) at \(server) (retry with --id \(saleID))")
        let texts = try code.map { [$0] } ?? CodeScanner().scan(try ImageFile.read(path: image!)).compactMap(\.text)
        guard let text = texts.first(where: { OfflineToken.looksLikeToken($0) || (try? PaymentCode($0)) != nil }) ?? texts.first else {
            throw Declined(reason: "no code found in the image")
        }
        let journal = try TerminalJournal(path: journalPath(store))
        let result = try checkout.chargeOnlineFirst(amount: money, code: text, journal: journal, online: client, issuers: issuers,
                                                    policy: try offline.policy(for: money.currency), saleID: saleID)
        try finish(result, store: store, columns: columns, json: json)
    }
}

/// A client of the ledger server at `server`, signing as this terminal.
func ledgerClient(_ server: String, store: StoreOptions, terminal: TerminalOptions, timeout: Double) throws -> LedgerClient {
    guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https" else { throw Failure("--server is an http:// URL, not \(server)") }
    return LedgerClient(server: url, terminalID: terminal.terminal, key: try store.terminalKey(), timeoutSeconds: timeout)
}

/// <home>/journal.sqlite: the terminal's journal.
func journalPath(_ store: StoreOptions) -> String {
    (store.homeDirectory as NSString).appendingPathComponent("journal.sqlite")
}

/// A checkout that works through the ledger server: its merchant from the server's
/// configuration (kept in <home>/terminal-config.json for when it is away).
func remoteCheckout(_ client: LedgerClient, store: StoreOptions, terminal: TerminalOptions, limits: Limits = .standard) throws -> Checkout {
    let config = try TerminalConfigFile(store).load(client)
    guard let merchant = config.merchant.merchant else { throw Failure("the ledger server's merchant profile is not valid") }
    if let asked = terminal.merchant, asked != merchant.id {
        throw Failure("terminal \(terminal.terminal) acts for merchant \(merchant.id) at the ledger server, not \(asked)")
    }
    return Checkout(ledger: nil, merchant: merchant, terminalID: terminal.terminal, receiptKey: try store.receiptKey(), limits: limits,
                    book: try store.receiptBook())
}

/// <home>/terminal-config.json: the ledger server's `GET /v1/terminal`, fetched when it answers
/// and kept for when it does not. A copy younger than ten minutes is used as it is: a sale does
/// not wait for a second round trip (or, offline, a second timeout).
struct TerminalConfigFile {
    let path: String
    static let freshSeconds: TimeInterval = 600

    init(_ store: StoreOptions) {
        path = (store.homeDirectory as NSString).appendingPathComponent("terminal-config.json")
    }

    func load(_ client: LedgerClient) throws -> TerminalConfigWire {
        if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
           -modified.timeIntervalSinceNow < Self.freshSeconds, let data = FileManager.default.contents(atPath: path),
           let kept = try? JSONDecoder().decode(TerminalConfigWire.self, from: data), kept.terminal == client.terminalID {
            return kept
        }
        do {
            let fresh = try client.configuration()
            try save(fresh)
            return fresh
        } catch {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure("the ledger server cannot be reached (\(error)) and this terminal has no configuration kept from it yet")
            }
            do { return try JSONDecoder().decode(TerminalConfigWire.self, from: data) } catch {
                throw Failure("\(path) is damaged: \(error)")
            }
        }
    }
}

extension TerminalConfigWire {
    /// The offline issuers' public keys the server named, parsed.
    func issuers() throws -> [OfflinePublicKey] {
        try issuerKeys.map { hex in
            guard let raw = Hex.bytes(hex), let key = try? OfflinePublicKey(raw: raw) else { throw Failure("the ledger server's issuer key \(hex) is not valid") }
            return key
        }
    }
}

extension TerminalConfigFile {
    func save(_ config: TerminalConfigWire) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

struct RefundCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "refund", abstract: "Refund all or part of a payment, back to the wallet that paid.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var terminal: TerminalOptions
    @Argument(help: "The sale's receipt number (T1-000042) or its payment id.") var payment: String
    @Option(help: "Amount to refund.") var amount: String
    @Option(help: "Refund id (UUIDv7); repeat it to retry safely.") var id: String?
    @Option(help: "Receipt width in columns: 32, 42 or 48.") var columns = 32
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try checkColumns(columns)
        try checkRequestID(id)
    }

    func run() throws {
        let checkout = try makeCheckout(store, terminal)
        let money = try checkout.amount(amount)
        // A receipt number from the book stands for its payment.
        let paymentID = try checkout.book?.entry(number: payment).map { entry in
            guard entry.receipt.receipt.kind == .sale else { throw Failure("receipt \(payment) is a refund, not a sale") }
            return entry.receipt.receipt.paymentID
        } ?? payment
        try finish(try checkout.refund(payment: paymentID, amount: money, refundID: id ?? UUIDv7.make()), store: store, columns: columns, json: json)
    }
}

struct MerchantQRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merchant-qr",
        abstract: "Merchant-presented: open an order and print its dynamic EMVCo QR payload; or --parse a payload.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var terminal: TerminalOptions
    @Option(help: "Amount, e.g. 12.50.") var amount: String?
    @Option(help: "ISO 4217 currency; must be the merchant's.") var currency: String?
    @Option(help: "Order id (≤ 25 characters; default: made here).") var order: String?
    @Option(help: "Write the QR to this PNG.") var png: String?
    @Option(help: "Write the QR to this SVG.") var svg: String?
    @Flag(name: .customLong("terminal"), help: "Draw the QR in this terminal.") var drawInTerminal = false
    @Flag(help: "Wait until the order is paid or expires, then print the receipt.") var wait = false
    @Option(help: "Print the fields of this EMVCo payload as JSON instead; exits 1 if it is not valid.") var parse: String?
    @Option(help: ArgumentHelp("A ledger server (qrpos ledger serve) to open the order at, signed with <home>/terminal-key; its events tell the terminal of the payment.", valueName: "url"))
    var server: String?
    @Option(name: .customLong("wait-seconds"), help: "With --wait: give up after this many seconds (default: when the order expires), then ask the ledger and cancel.")
    var waitSeconds: Int?
    @Option(name: .customLong("timeout"), help: "With --server: seconds to wait for each of the server's answers.") var timeoutSeconds: Double = 5
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (parse == nil) != (amount == nil) else { throw ValidationError("Give --amount to make an order, or --parse PAYLOAD.") }
        if let order, !(1...25).contains(order.unicodeScalars.count) { throw ValidationError("--order is 1 to 25 characters (EMVCo 62-01)") }
    }

    func run() throws {
        if let parse {
            let qr: MerchantQR
            do { qr = try MerchantQR.parse(parse) } catch { throw Failure("invalid EMVCo payload: \(error)") }
            printJSON(merchantQRJSON(qr, payload: parse))
            return
        }
        let remote = try server.map { server -> (LedgerClient, TerminalJournal, Checkout) in
            let client = try ledgerClient(server, store: store, terminal: terminal, timeout: timeoutSeconds)
            return (client, try TerminalJournal(path: journalPath(store)), try remoteCheckout(client, store: store, terminal: terminal))
        }
        let checkout = try remote?.2 ?? makeCheckout(store, terminal)
        if let currency, try qrpos.currency(currency) != checkout.merchant.currency {
            throw Failure("merchant \(checkout.merchant.id) takes \(checkout.merchant.currency.code), not \(currency)")
        }
        let presented = try remote.map { try checkout.presentOrder(amount: try checkout.amount(amount!), client: $0.0, journal: $0.1, orderID: order) }
            ?? checkout.presentOrder(amount: try checkout.amount(amount!), orderID: order)
        let matrix = try QREncoder.encode(presented.payload)
        if let png { try ImageFile.write(Render.raster(matrix, moduleSize: 6), to: png) }
        if let svg { try Data(Render.svg(matrix).utf8).write(to: URL(fileURLWithPath: svg)) }
        if drawInTerminal { print(Render.terminal(matrix)) }
        if json {
            printJSON(["order_id": presented.order.id, "payload": presented.payload, "expires_at": presented.order.expiresAt,
                       "qr_version": matrix.version, "amount": presented.order.amount.decimalString,
                       "currency": presented.order.amount.currency.code])
        } else {
            print(presented.payload)
            FileHandle.standardError.write(Data("order \(presented.order.id), QR version \(matrix.version)-\(matrix.errorCorrection.rawValue)\n".utf8))
        }
        if wait {
            let log = Logger(label: "qrpos.order")
            log.notice("waiting for payment", metadata: ["order": "\(presented.order.id)", "expires_at": "\(presented.order.expiresAt)"])
            let result = try remote.map { try checkout.awaitPayment(of: presented, client: $0.0, journal: $0.1, waitMillis: waitSeconds.map { Int64($0) * 1000 }) }
                ?? checkout.awaitPayment(of: presented)
            log.notice("order settled", metadata: ["order": "\(presented.order.id)", "paid": "\(result.receipt != nil)"])
            try finish(result, store: store, columns: 32, json: json)
        }
    }
}

struct OrderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "order", abstract: "Merchant-presented orders.", subcommands: [Status.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show whether an order is open, paid or expired.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Order id.") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard let order = try store.openLedger().order(id, now: UnixTime.nowMillis()) else { throw Failure("no order \(id)") }
            if json {
                var object: [String: Any] = ["id": order.id, "status": order.status.rawValue, "amount": order.amount.decimalString,
                                             "currency": order.amount.currency.code, "merchant": order.merchantID,
                                             "terminal": order.terminalID, "expires_at": order.expiresAt]
                if let p = order.paymentID { object["payment_id"] = p }
                printJSON(object)
            } else {
                print("\(order.status.rawValue)\(order.paymentID.map { " by payment \($0)" } ?? "")")
            }
        }
    }
}

struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ledger", abstract: "The wallet ledger.",
                                                    subcommands: [Audit.self, Expire.self, Correct.self, ServeCommand.self, ProxyCommand.self, IssuerKey.self,
                                                                  LedgerStress.self, IDs.self])

    struct Correct: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Correct an earlier transfer by a new one (never an edit): move some or all of it back, saying why.",
            discussion: """
                The correction moves --amount from the account the transfer credited back to the one it \
                debited, as a transfer of kind correction whose memo names the transfer and the reason. \
                The corrections of one transfer never move back more than it moved; one the accounts cannot \
                take (the money spent since) is declined, exit 3. A payment is refunded (qrpos refund), not \
                corrected, when the customer is to get the money back.
                """)
        @OptionGroup var store: StoreOptions
        @Argument(help: "The transfer to correct.") var transfer: String
        @Option(help: "How much of it to move back, e.g. 90.00.") var amount: String
        @Option(help: "Why, for the audit trail (1 to 200 characters).") var reason: String
        @Option(help: "Request id (UUIDv7); repeat it to retry safely.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws { try checkRequestID(id) }

        func run() throws {
            let ledger = try store.openCore(existingOnly: true)
            guard let original = try ledger.transfer(transfer) else { throw Failure("no transfer \(transfer) in the ledger") }
            let money: Money
            do { money = try Money(parsing: amount, currency: original.amount.currency) } catch { throw Failure("--amount: \(error)") }
            try report(try WalletOperations(store: ledger).correct(requestID: id ?? UUIDv7.make(), transfer: transfer, amount: money,
                                                                   reason: reason, now: UnixTime.nowMillis()), json: json)
        }
    }

    struct IssuerKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issuer-key", abstract: "Print the ledger's offline issuer public key (64 hex digits), for terminals' --issuer-key.")
        @OptionGroup var store: StoreOptions
        func run() throws { print(try store.offlineIssuerKey().publicKey.hex) }
    }

    struct IDs: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ids", abstract: "Print the id of every transfer in the ledger, one a line (for rigs and crash tests).")
        @OptionGroup var store: StoreOptions

        func run() throws {
            for id in try store.openCore(existingOnly: true).transferIDs() { print(id) }
        }
    }

    struct Expire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release the holds whose timeout has passed, and the offline allowances whose certificate ended (with 25 hours' grace for forwarding); prints their ids.")
        @OptionGroup var store: StoreOptions

        func run() throws {
            for id in try LedgerSweep.run(try store.openCore(existingOnly: true), now: UnixTime.nowMillis()) { print(id) }
        }
    }

    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every ledger invariant; exits 1 listing each violation.")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let report = try store.openCore(existingOnly: true).audit()
            if json {
                printJSON(["passed": report.passed, "accounts": report.accounts, "transfers": report.transfers, "totals": report.totals,
                           "violations": report.violations.map { ["check": $0.check, "detail": $0.detail] }])
            } else {
                for v in report.violations { print("VIOLATION \(v)") }
                print("audit \(report.passed ? "passed" : "FAILED"): \(report.accounts) accounts, \(report.transfers) transfers, "
                      + report.totals.sorted(by: { $0.key < $1.key }).map { "\($0.key) debits = credits = \($0.value)" }.joined(separator: ", "))
            }
            if !report.passed { throw ExitCode.failure }
        }
    }
}

struct ReceiptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "receipt", abstract: "Signed receipts.",
                                                    subcommands: [Verify.self, Show.self, Print.self, List.self, Recover.self])

    struct Recover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the receipts of this terminal's payments that have none (it stopped between the ledger's answer and the receipt).",
            discussion: """
                Reads the merchant's latest payments in the embedded ledger (a customer's code names the terminal; \
                a merchant QR through its order) and the terminal's journal, and receipts every one the book lacks, \
                numbered on. `qrpos till` and `qrpos kiosk` do this when they start, and `qrpos report z` before it \
                closes the day. Prints each receipt made (its number and payment), or nothing when none is missing.
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var terminal: TerminalOptions
        @Flag(help: "Print JSON lines.") var json = false

        func run() throws {
            let journal = FileManager.default.fileExists(atPath: journalPath(store)) ? try TerminalJournal(path: journalPath(store)) : nil
            for receipt in try makeCheckout(store, terminal).recoverReceipts(journal: journal) {
                let r = receipt.receipt
                if json {
                    printJSON(["number": r.number, "payment_id": r.paymentID, "amount": r.amount.decimalString, "currency": r.amount.currency.code])
                } else {
                    print("\(r.number)  \(r.amount)  payment \(r.paymentID)")
                }
            }
        }
    }

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a receipt on an ESC/POS printer: file:/dev/usb/lp0, tcp://HOST:9100 or cups:QUEUE.",
            discussion: """
                The receipt is a number from this terminal's receipt book (T1-000042), --last (the book's newest), \
                a saved file, or its string. A receipt the book has printed before is printed marked as a COPY. \
                --profile names the printer's capabilities: tm-t20ii (80 mm, native QR, cutter) or pos-5890 (58 mm, \
                QR as an image, no cutter), or a JSON file as in hardware/printers/. Text the printer's code page \
                cannot show is transliterated and listed on stderr. A printer that is off, stalls or drops the \
                connection is an error (exit 1); the receipt stays in the book, and printing again is safe.
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var terminal: TerminalOptions
        @Argument(help: "A receipt number, a receipt file (JSON) or the receipt string (QRR2.…).") var receipt: String?
        @Flag(help: "This terminal's newest receipt.") var last = false
        @Option(help: ArgumentHelp("The printer: file:PATH, tcp://HOST:9100 or cups:QUEUE (env QRPOS_PRINTER).", valueName: "url")) var printer: String?
        @Option(help: ArgumentHelp("tm-t20ii, pos-5890, or a profile JSON file.", valueName: "name")) var profile = "tm-t20ii"
        @Option(help: "Seconds to wait for the printer.") var timeout: Double = 10

        func validate() throws {
            guard (receipt == nil) == last else { throw ValidationError("Give a receipt, or --last.") }
        }

        func run() throws {
            let book = try store.receiptBook()
            let url = try printerURL(printer)
            let chosen = try printerProfile(profile)
            let signed: SignedReceipt
            if last {
                guard let newest = try book.last(terminal: terminal.terminal) else {
                    throw Failure("terminal \(terminal.terminal) has no receipts in \(book.path)")
                }
                signed = newest.receipt
            } else {
                signed = try findReceipt(receipt!, in: book)
            }
            var bytes = 0
            var copy = false
            if try book.entry(number: signed.receipt.number) != nil {
                copy = try book.print(number: signed.receipt.number) { receipt, copy in
                    bytes = try printReceipt(receipt, printer: url, profile: chosen, timeout: timeout, copy: copy)
                }
            } else {
                bytes = try printReceipt(signed, printer: url, profile: chosen, timeout: timeout)
            }
            print("receipt \(signed.receipt.number)\(copy ? " (copy)" : "") printed on \(url) (\(bytes) bytes)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "This terminal's receipts, from its receipt book, in number order.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var terminal: TerminalOptions
        @Flag(help: "Only the open day's (not yet closed by a Z report).") var open = false
        @Flag(help: "One JSON object per receipt.") var json = false

        func run() throws {
            for entry in try store.receiptBook().entries(terminal: terminal.terminal, openOnly: open) {
                let r = entry.receipt.receipt
                if json {
                    var object: [String: Any] = ["number": r.number, "kind": r.kind.rawValue, "payment_id": r.paymentID,
                                                 "amount": r.amount.decimalString, "currency": r.amount.currency.code, "method": r.method,
                                                 "issued_at": r.issuedAt, "printed": entry.printed]
                    if let z = entry.closedBy { object["z"] = z }
                    if let a = r.authorization { object["authorization"] = a.rawValue }
                    if let original = r.refundOfNumber { object["refund_of_number"] = original }
                    printJSON(object)
                } else {
                    let z = entry.closedBy.map { "Z\($0)" } ?? "open"
                    print("\(r.number)  \(TextReceipt.utcDateTime(r.issuedAt))  \(r.kind.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) "
                          + "\(r.amount.currency.code) \(r.amount.decimalString)  \(r.method)  printed \(entry.printed)  \(z)")
                }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a receipt's signature, or its QR's; exits 1 if it fails, naming what does not match.",
            discussion: """
                The receipt is a file, its string (QRR2.…), or what its QR carries (the stamp, QRV1*…): a stamp \
                alone checks the number, terminal, amount and time printed beside it. --qr STAMP checks a receipt \
                against a QR too (a reprint, a photo of the paper) and names each field that differs.
                """)
        @OptionGroup var store: StoreOptions
        @Argument(help: "A receipt number from the receipt book, a receipt file (JSON), the receipt string (QRR2.…) or its QR's stamp (QRV1*…).")
        var receipt: String
        @Option(help: ArgumentHelp("Also check the receipt against this QR stamp (QRV1*…).", valueName: "stamp")) var qr: String?
        @Option(name: .customLong("public-key"), help: "The terminal's public key, 64 hex digits (default: this terminal's own).") var publicKey: String?

        func run() throws {
            let key = try publicKey.map { hex in
                guard let bytes = Hex.bytes(hex) else { throw ValidationError("--public-key is 64 hex digits") }
                return try ReceiptKey.publicKey(rawRepresentation: bytes)
            } ?? store.receiptKey(create: false).publicKey
            if receipt.trimmingCharacters(in: .whitespaces).hasPrefix(ReceiptCodec.stampPrefix + "*") {
                let stamp: ReceiptCodec.Stamp
                do { stamp = try ReceiptCodec.parseStamp(receipt) } catch { throw Failure("not a receipt stamp: \(error)") }
                do { try ReceiptCodec.verify(stamp: stamp, publicKey: key) } catch { throw Failure("receipt \(stamp.number) is NOT valid: \(error)") }
                let amount = Currency(stamp.currency).map { Money(minorUnits: stamp.amount, currency: $0).description } ?? "\(stamp.amount) \(stamp.currency)"
                print("receipt \(stamp.number) stamp valid: \(stamp.kind.rawValue) \(amount) at terminal \(stamp.terminalID), "
                      + "\(TextReceipt.utcDateTime(stamp.issuedAt)), signed by key \(stamp.keyID)")
                return
            }
            let signed = try findReceipt(receipt, in: store.receiptBook())
            do { try ReceiptCodec.verify(signed, publicKey: key) } catch { throw Failure("receipt \(signed.receipt.number) is NOT valid: \(error)") }
            if let qr {
                let stamp: ReceiptCodec.Stamp
                do { stamp = try ReceiptCodec.parseStamp(qr) } catch { throw Failure("--qr is not a receipt stamp: \(error)") }
                do { try ReceiptCodec.verify(stamp: stamp, publicKey: key) } catch { throw Failure("the QR is NOT valid: \(error)") }
                let differences = try ReceiptCodec.mismatches(signed, stamp: stamp)
                guard differences.isEmpty else {
                    throw Failure("receipt \(signed.receipt.number) does NOT match the QR: " + differences.joined(separator: "; "))
                }
            }
            print("receipt \(signed.receipt.number) valid: \(signed.receipt.kind.rawValue) \(signed.receipt.amount), signed by key \(signed.keyID)"
                  + (qr == nil ? "" : "; the QR matches it"))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a receipt as text, or as a page (--html) the customer opens and can print.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "A receipt number from the receipt book, a receipt file (JSON) or the receipt string (QRR2.…).") var receipt: String
        @Option(help: "Width in columns: 32, 42 or 48.") var columns = 32
        @Flag(help: "An HTML page (self-contained: the QR inline, no script).") var html = false

        func validate() throws { try checkColumns(columns) }

        func run() throws {
            let signed = try findReceipt(receipt, in: store.receiptBook())
            if html {
                do { print(try HTMLReceipt.render(signed), terminator: "") } catch { throw Failure("\(error)") }
            } else {
                print(TextReceipt.render(signed, columns: columns))
            }
        }
    }
}

/// A printer profile by name (tm-t20ii, pos-5890) or from a JSON file as in hardware/printers/.
func printerProfile(_ name: String) throws -> PrinterProfile {
    switch name {
    case PrinterProfile.epson80.name: return .epson80
    case PrinterProfile.cheap58.name: return .cheap58
    default:
        guard let data = FileManager.default.contents(atPath: name) else { throw Failure("no printer profile \(name)") }
        do { return try JSONDecoder().decode(PrinterProfile.self, from: data) } catch { throw Failure("\(name) is not a printer profile: \(error)") }
    }
}

/// Renders `signed` for the profile and sends it to the printer at `url`; what the code page
/// could not show is listed on stderr. Returns the bytes sent.
func printReceipt(_ signed: SignedReceipt, printer url: String, profile: PrinterProfile, timeout: Double, copy: Bool = false) throws -> Int {
    let job: EscPos.Output
    do { job = try EscPos.render(signed, profile: profile, copy: copy) } catch { throw Failure("\(error)") }
    return try send(job, printer: url, timeout: timeout)
}

/// Sends rendered ESC/POS to the printer at `url`; what the code page could not show is listed
/// on stderr. Returns the bytes sent.
func send(_ job: EscPos.Output, printer url: String, timeout: Double) throws -> Int {
    fflush(nil)
    for replaced in job.replaced { FileHandle.standardError.write(Data("transliterated: \(replaced)\n".utf8)) }
    do { try Printer(try PrinterAddress(url), timeoutSeconds: timeout).send(job.bytes) } catch { throw Failure("\(error)") }
    return job.bytes.count
}

/// The printer named by `--printer`, else by QRPOS_PRINTER.
func printerURL(_ option: String?) throws -> String {
    guard let url = option ?? ProcessInfo.processInfo.environment["QRPOS_PRINTER"].flatMap({ $0.isEmpty ? nil : $0 }) else {
        throw Failure("say which printer: --printer file:/dev/usb/lp0, tcp://HOST:9100 or cups:QUEUE (or QRPOS_PRINTER)")
    }
    return url
}

/// A receipt by its number in the book, else from a file or its string.
func findReceipt(_ text: String, in book: ReceiptBook) throws -> SignedReceipt {
    try book.entry(number: text)?.receipt ?? loadReceipt(text)
}

/// The catalogue to use: the one named, else the repository's demo catalogue when run from it.
func cataloguePath(_ option: String?) -> String? {
    option ?? (FileManager.default.fileExists(atPath: "assets/catalogue.json") ? "assets/catalogue.json" : nil)
}

func loadReceipt(_ fileOrString: String) throws -> SignedReceipt {
    var text = fileOrString
    if let data = FileManager.default.contents(atPath: fileOrString) { text = String(decoding: data, as: UTF8.self) }
    do { return try ReceiptCodec.parse(compact: text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
        throw Failure("not a receipt: \(error)")
    }
}
