import ArgumentParser
import Foundation
import Logging
import Synchronization
import Terminal
import Ledger
import Payments

/// `qrpos wallet transfer|bill|exchange|quote|bank-callback|alerts`: the wallet operations of
/// ``WalletOperations`` from the command line, each with `--json` for rigs.
extension WalletCommand {
    struct Transfer: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send money to another wallet, by wallet id or phone number, with an optional fee.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The paying wallet's id.") var from: String
        @Argument(help: "Amount, e.g. 25.00.") var amount: String
        @Option(help: "The receiving wallet's id.") var to: String?
        @Option(help: "The receiving wallet's phone number.") var phone: String?
        @Option(help: "A fee to the fee account, in the same currency.") var fee: String?
        @Option(help: "A note for both parties.") var memo: String = ""
        @Option(help: "Request id (UUIDv7); give the same one to retry safely.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            try checkRequestID(id)
            guard (to == nil) != (phone == nil) else { throw ValidationError("give exactly one of --to and --phone") }
        }

        func run() throws {
            let ledger = try store.openCore()
            let money = try walletAmount(ledger, from, amount)
            let feeMoney = try fee.map { try walletAmount(ledger, from, $0) }
            let recipient: WalletOperations.Recipient = to.map { .wallet($0) } ?? .phone(phone!)
            try report(try WalletOperations(store: ledger).transfer(requestID: id ?? UUIDv7.make(), from: from, to: recipient, amount: money,
                                                                    fee: feeMoney, memo: memo, now: UnixTime.nowMillis()), json: json)
        }
    }

    struct Bill: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pay a bill to a biller (its account is opened on first use).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The paying wallet's id.") var wallet: String
        @Argument(help: "The biller's account id, e.g. biller-power.") var biller: String
        @Argument(help: "Amount, e.g. 120.00.") var amount: String
        @Option(help: "The bill's reference (customer number, invoice).") var reference: String
        @Option(help: "Request id (UUIDv7); give the same one to retry safely.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws { try checkRequestID(id) }

        func run() throws {
            let ledger = try store.openCore()
            let money = try walletAmount(ledger, wallet, amount)
            try report(try WalletOperations(store: ledger).payBill(requestID: id ?? UUIDv7.make(), wallet: wallet, biller: biller,
                                                                   amount: money, reference: reference, now: UnixTime.nowMillis()), json: json)
        }
    }

    struct Quote: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Quote a currency exchange: rate, fee, what arrives, until when.")
        @Argument(help: "Amount to exchange, e.g. 100.00.") var amount: String
        @Option(help: "Currency paid.") var from: String
        @Option(help: "Currency received.") var to: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let money: Money
            do { money = try Money(parsing: amount, currency: try qrpos.currency(from)) } catch let e as MoneyError { throw Failure(e.message) }
            let quote = try QuoteDesk(rates: .demonstration).quote(money, into: try qrpos.currency(to), now: UnixTime.nowMillis())
            printQuote(quote, json: json)
        }
    }

    struct Exchange: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exchange between two wallets of different currencies at a quote the desk gave.",
            discussion: """
                With --quote, at the quote `wallet quote --json` printed (the line itself, or a file holding \
                it): taken only while it holds (declined quote_expired after, exit 3) and only as the desk gave \
                it (declined quote_invalid if edited). Without, the quote is made and taken in one step, and \
                printed first.
                """)
        @OptionGroup var store: StoreOptions
        @Argument(help: "The paying wallet's id.") var from: String
        @Argument(help: "The receiving wallet's id (another currency).") var to: String
        @Argument(help: "Amount paid, e.g. 100.00.") var amount: String
        @Option(help: ArgumentHelp("The quote to take: the JSON line of `wallet quote --json`, or a file holding it.", valueName: "json|file"))
        var quote: String?
        @Option(help: "Request id (UUIDv7); give the same one to retry safely.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws { try checkRequestID(id) }

        func run() throws {
            let ledger = try store.openCore()
            let money = try walletAmount(ledger, from, amount)
            guard let target = try ledger.account(to), target.kind == .wallet else { throw Failure("no wallet \(to)") }
            let ops = WalletOperations(store: ledger)
            let now = UnixTime.nowMillis()
            let quote = try self.quote.map(parseQuote) ?? ops.quote(money, into: target.currency, now: now)
            guard quote.source == money, quote.target.currency == target.currency else {
                throw Failure("the quote is for \(quote.source) into \(quote.target.currency.code), not \(money) into \(target.currency.code)")
            }
            if self.quote == nil { printQuote(quote, json: json) }
            try report(try ops.exchange(requestID: id ?? UUIDv7.make(), quote: quote, from: from, to: to, now: now), json: json)
        }
    }

    struct BankCallback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bank-callback",
            abstract: "Apply a bank's answer to a held deposit or withdrawal (what the bank's webhook does).",
            discussion: "The first answer decides; the same answer again changes nothing; a contradicting one is refused.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The deposit's or withdrawal's request id.") var reference: String
        @Argument(help: "settled or returned.") var outcome: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard let outcome = BankOutcome(rawValue: outcome) else { throw ValidationError("the outcome is settled or returned") }
            let result = try WalletOperations(store: try store.openCore()).bankCallback(reference: reference, outcome: outcome,
                                                                                          now: UnixTime.nowMillis())
            switch result {
            case .created(let t), .exists(let t):
                if json { printJSON(["status": "applied", "id": t.id, "kind": t.kind.rawValue, "amount": t.amount.decimalString,
                                     "currency": t.amount.currency.code, "replayed": { if case .exists = result { true } else { false } }()]) }
                else { print("\(reference): \(outcome.rawValue) (\(t.id))") }
            case .refused(let r):
                if json { printJSON(["status": "refused", "reason": r.rawValue]) }
                throw Declined(reason: "\(reference): \(r)")
            }
        }
    }

    struct Alerts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wallet events in order from a cursor: every posted change and hold, with the balance after it.",
            discussion: "Each line carries its seq; start again with --after SEQ to resume. With --follow, waits for new events.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "A wallet id (default: every wallet).") var wallet: String?
        @Option(help: "Print events after this seq.") var after: Int64 = 0
        @Flag(help: "Keep waiting for new events (poll every 200 ms).") var follow = false
        @Option(help: "Stop after this many events (0: no limit).") var count: Int = 0
        @Flag(help: "Print JSON lines.") var json = false
        @OptionGroup var phone: PhoneServerOptions

        func run() throws {
            if phone.server != nil {
                guard let wallet, let client = try phone.client(store, wallet: wallet) else { throw Failure("--server follows one wallet: give its id") }
                return try followThroughServer(client)
            }
            let ledger = try store.openCore(existingOnly: true)
            var cursor = after
            var printed = 0
            while true {
                let events = try ledger.events(after: cursor, account: wallet, limit: 500)
                for e in events {
                    if json {
                        printJSON(["seq": e.seq, "account": e.account, "transfer": e.transfer, "kind": e.kind, "delta": e.delta.decimalString,
                                   "currency": e.delta.currency.code, "available_minor": e.available, "balance_minor": e.balance,
                                   "created_at": e.createdAt])
                    } else {
                        print("\(e.seq)\t\(e.account)\t\(e.kind)\t\(e.delta)\tbalance \(Money(minorUnits: e.balance, currency: e.delta.currency).decimalString)\t\(e.transfer)")
                    }
                    cursor = e.seq
                    printed += 1
                    if count > 0 && printed >= count { return }
                }
                fflush(nil)
                if !follow { return }
                if events.isEmpty { Thread.sleep(forTimeInterval: 0.2) }
            }
        }

        /// The wallet's phone, through the ledger server: pages of events, or with --follow its
        /// event stream, picked up again from the last seq whenever the link breaks.
        func followThroughServer(_ client: LedgerClient) throws {
            let printed = Mutex(0)
            let limit = count
            let show = { @Sendable (e: WalletEventWire) -> Bool in
                let money = Money(minorUnits: e.delta, currency: Currency(e.currency) ?? .CNY)
                if json {
                    printJSON(["seq": e.seq, "account": client.terminalID, "transfer": e.transfer, "kind": e.kind, "delta": money.decimalString,
                               "currency": e.currency, "available_minor": e.available, "balance_minor": e.balance, "created_at": e.createdAt])
                } else {
                    print("\(e.seq)\t\(client.terminalID)\t\(e.kind)\t\(money)\tbalance \(Money(minorUnits: e.balance, currency: money.currency).decimalString)\t\(e.transfer)")
                    fflush(nil)
                }
                return printed.withLock { n in
                    n += 1
                    return limit == 0 || n < limit
                }
            }
            var cursor = after
            while true {
                if !follow {
                    let page = try phoneCall { try client.walletEvents(after: cursor, limit: 500) }
                    for e in page.events where !show(e) { return }
                    if page.events.isEmpty { return }
                    cursor = page.next
                    continue
                }
                let (last, broke) = try client.followWalletEvents(after: cursor, seconds: 3_600, show)
                cursor = last
                if limit > 0 && printed.withLock({ $0 }) >= limit { return }
                if let broke {
                    // The link broke: wait a moment, then resume after the last event shown.
                    Logger(label: "qrpos.alerts").notice("event stream broke off (\(broke)); resuming after \(cursor)")
                    Thread.sleep(forTimeInterval: 1)
                }
            }
        }
    }
}

/// A quote as `wallet quote --json` printed it, given as the line itself or a file holding it.
private func parseQuote(_ text: String) throws -> ExchangeQuote {
    let line = FileManager.default.contents(atPath: text).map { String(decoding: $0, as: UTF8.self) } ?? text
    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let source = object["source"] as? String, let sourceCode = (object["source_currency"] as? String).flatMap(Currency.init),
          let target = object["target"] as? String, let targetCode = (object["target_currency"] as? String).flatMap(Currency.init),
          let fee = object["fee"] as? String, let numerator = (object["rate_numerator"] as? NSNumber)?.int64Value,
          let denominator = (object["rate_denominator"] as? NSNumber)?.int64Value, let expiresAt = (object["expires_at"] as? NSNumber)?.int64Value
    else { throw Failure("--quote is the JSON line `qrpos wallet quote --json` prints, or a file holding it") }
    do {
        return ExchangeQuote(source: try Money(parsing: source, currency: sourceCode), target: try Money(parsing: target, currency: targetCode),
                             fee: try Money(parsing: fee, currency: sourceCode), rateNumerator: numerator, rateDenominator: denominator,
                             expiresAt: expiresAt)
    } catch {
        throw Failure("--quote: \(error)")
    }
}

private func printQuote(_ q: ExchangeQuote, json: Bool) {
    if json {
        printJSON(["quote": true, "source": q.source.decimalString, "source_currency": q.source.currency.code,
                   "target": q.target.decimalString, "target_currency": q.target.currency.code, "fee": q.fee.decimalString,
                   "rate_numerator": q.rateNumerator, "rate_denominator": q.rateDenominator, "expires_at": q.expiresAt])
    } else {
        print("\(q.source) -> \(q.target), fee \(q.fee), rate \(q.rateNumerator)/\(q.rateDenominator), until \(q.expiresAt)")
    }
}
