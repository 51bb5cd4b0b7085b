import ArgumentParser
import Barcodes
import Foundation
import Ledger
import Payments
import Terminal

struct WalletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wallet",
        abstract: "The customer's side: wallets, top-ups, withdrawals, payment codes, paying a merchant QR.",
        subcommands: [Create.self, Deposit.self, Withdraw.self, Balance.self, History.self, Code.self, Token.self, Pay.self,
                      Transfer.self, Bill.self, Quote.self, Exchange.self, Refund.self, BankCallback.self, Alerts.self, Key.self]
    )

    /// `qrpos refund` under the wallet's commands too, so every money movement of the wallet is
    /// reachable here: a refund is still the merchant's act (`--merchant`, the terminal's receipt
    /// book), back to the wallet that paid, never above the payment in total.
    struct Refund: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refund all or part of a merchant's payment back to the wallet that paid it (as `qrpos refund`).")
        @OptionGroup var refund: RefundCommand
        func validate() throws { try refund.validate() }
        func run() throws { try refund.run() }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open a wallet; prints its id.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The holder's name.") var name: String
        @Option(help: "The holder's phone number (unique).") var phone: String?
        @Option(help: "ISO 4217 currency.") var currency: String = "CNY"
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let account = try store.openCore().createWallet(name: name, phone: phone, currency: try qrpos.currency(currency), now: UnixTime.nowMillis())
            if json { printJSON(["id": account.id, "name": account.name, "currency": account.currency.code]) } else { print(account.id) }
        }
    }

    struct Deposit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Top up a wallet with cash at the counter or from a linked bank.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Wallet id.") var wallet: String
        @Argument(help: "Amount, e.g. 100.00.") var amount: String
        @Option(help: "cash or bank.") var source: String = "cash"
        @Option(help: "Request id (UUIDv7); give the same one to retry safely.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws { try checkRequestID(id) }

        func run() throws {
            guard let source = DepositSource(rawValue: source) else { throw ValidationError("--source is cash or bank") }
            let ledger = try store.openCore()
            let money = try walletAmount(ledger, wallet, amount)
            let requestID = id ?? UUIDv7.make()
            switch source {
            case .cash:
                try report(try ledger.deposit(requestID: requestID, wallet: wallet, amount: money, source: .cash, now: UnixTime.nowMillis()), json: json)
            case .bank:
                // Held until the bank answers: `qrpos wallet bank-callback ID settled|returned`.
                try report(try WalletOperations(store: ledger).bankDeposit(requestID: requestID, wallet: wallet, amount: money,
                                                                           now: UnixTime.nowMillis()), json: json)
            }
        }
    }

    struct Withdraw: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw from a wallet to its bank.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Wallet id.") var wallet: String
        @Argument(help: "Amount, e.g. 20.00.") var amount: String
        @Option(help: "Request id (UUIDv7); give the same one to retry safely.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws { try checkRequestID(id) }

        func run() throws {
            let ledger = try store.openCore()
            let money = try walletAmount(ledger, wallet, amount)
            // Held at once, settled when the bank answers: `qrpos wallet bank-callback ID settled|returned`.
            try report(try WalletOperations(store: ledger).bankWithdrawal(requestID: id ?? UUIDv7.make(), wallet: wallet, amount: money,
                                                                          now: UnixTime.nowMillis()), json: json)
        }
    }

    struct Balance: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an account's balance (wallet or merchant), and what is available when some is held.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Account id.") var account: String
        @Flag(help: "Print JSON.") var json = false
        @OptionGroup var phone: PhoneServerOptions

        func run() throws {
            if let client = try phone.client(store, wallet: account) {
                let b = try phoneCall { try client.walletBalance() }
                if json { printJSON(b) } else { print("\(b["balance"] ?? "?") \(b["currency"] ?? "")") }
                return
            }
            guard let a = try store.openCore().account(account) else { throw Failure("no account \(account)") }
            if json {
                printJSON(["id": a.id, "kind": a.kind.rawValue, "balance": a.balance.decimalString, "currency": a.currency.code,
                           "minor_units": a.balance.minorUnits, "available": a.available.decimalString,
                           "available_minor_units": a.available.minorUnits])
            } else {
                // Held money (a withdrawal the bank has not settled) is owned but not spendable.
                print(a.available == a.balance ? "\(a.balance)" : "\(a.balance) (available \(a.available.decimalString))")
            }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an account's transfers, newest first.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Account id.") var account: String
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "Print JSON lines.") var json = false

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit is at least 1") }
        }

        func run() throws {
            let ledger = try store.openCore()
            guard try ledger.account(account) != nil else { throw Failure("no account \(account)") }
            for t in try ledger.history(account: account, limit: limit) {
                if json {
                    printJSON(outcomeJSON(Outcome(requestID: t.id, result: .posted(t), replayed: false)))
                } else {
                    let sign = t.creditAccount == account ? "+" : "-"
                    let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(t.createdAt) / 1000))
                    print("\(when)  \(t.kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(sign)\(t.amount)  \(t.id)")
                }
            }
        }
    }

    struct Code: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a one-time payment code (18 digits, 60 s, one payment) as a QR and a Code 128 barcode.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Wallet id.") var wallet: String
        @Option(help: "Write the QR to this PNG.") var png: String?
        @Option(name: .customLong("barcode-png"), help: "Write the Code 128 barcode to this PNG.") var barcodePNG: String?
        @Option(help: "Seconds the code stays valid.") var validity: Int = 60
        @Flag(help: "Draw the QR and barcode in the terminal.") var terminal = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard validity > 0 && validity <= 600 else { throw ValidationError("--validity is 1 to 600 seconds") }
            let issued = try store.openLedger().issueCode(wallet: wallet, validityMillis: Int64(validity) * 1000, now: UnixTime.nowMillis())
            let digits = issued.code.digits
            if let png { try ImageFile.write(Render.raster(try QREncoder.encode(digits), moduleSize: 8), to: png) }
            if let barcodePNG { try ImageFile.write(Render.raster(code128: try Code128.encode(digits), moduleWidth: 3, height: 120), to: barcodePNG) }
            if terminal {
                print(Render.terminal(try QREncoder.encode(digits)))
                print(Render.terminal(code128: try Code128.encode(digits)))
            }
            if json {
                printJSON(["code": digits, "expires_at": issued.expiresAt])
            } else {
                print(digits)
            }
        }
    }

    struct Pay: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pay a merchant's dynamic QR (the EMVCo payload) from a wallet, exactly once.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The EMVCo payload the QR carries.") var payload: String
        @Option(help: "The paying wallet.") var wallet: String
        @Option(help: "Request id (UUIDv7); give the same one to retry safely.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        @OptionGroup var phone: PhoneServerOptions

        func validate() throws { try checkRequestID(id) }

        func run() throws {
            if let client = try phone.client(store, wallet: wallet) {
                // Through the ledger server, signed by the phone.
                let qr: OrderQR
                do { qr = try OrderQR(MerchantQR.parse(payload)) } catch { throw Failure("not a payable merchant QR: \(error)") }
                let answer = try phoneCall { try client.pay(WalletPaymentWire(id: id ?? UUIDv7.make(), order: qr.orderID, merchant: qr.merchantID,
                                                                              amount: qr.amount.minorUnits, currency: qr.amount.currency.code)) }
                guard answer.status == "approved" else { throw Declined(reason: answer.reason ?? "declined") }
                if json { printJSON(["status": "posted", "id": answer.id, "replayed": answer.replayed ?? false]) } else { print(answer.id) }
                return
            }
            try report(try payOrder(ledger: store.openLedger(), payload: payload, wallet: wallet, requestID: id ?? UUIDv7.make(),
                                now: UnixTime.nowMillis()), json: json)
        }
    }

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the wallet's phone key (64 hex digits), made on first use: what the ledger server's --wallets file lists, so the phone may call it.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Wallet id.") var wallet: String

        func run() throws {
            print(try PhoneState.device(store, wallet: wallet).key.publicKey.hex)
        }
    }
}

/// `--server`: the phone talks to the ledger server (`qrpos ledger serve --wallets …`), signing
/// with its own key (`qrpos wallet key`), instead of opening the ledger itself.
struct PhoneServerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A ledger server to call as the wallet's phone (signed with its key, `qrpos wallet key`).", valueName: "url"))
    var server: String?
    @Option(name: .customLong("timeout"), help: "With --server: seconds to wait for each answer.") var timeoutSeconds: Double = 10

    func client(_ store: StoreOptions, wallet: String) throws -> LedgerClient? {
        guard let server else { return nil }
        guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https" else { throw Failure("--server is an http:// URL, not \(server)") }
        return LedgerClient(server: url, wallet: wallet, key: try PhoneState.device(store, wallet: wallet).key, timeoutSeconds: timeoutSeconds)
    }
}

/// A call to the ledger server from the phone; its failures are one clear line.
func phoneCall<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let failed as LedgerClient.Failed { throw Failure(failed.description) }
}

/// The wallet's side of a merchant-presented payment: read the order QR, check it, pay it.
func payOrder(ledger: any LedgerStore, payload: String, wallet: String, requestID: String, now: Int64) throws -> Outcome {
    let qr: OrderQR
    do {
        qr = try OrderQR(MerchantQR.parse(payload))
    } catch {
        throw Failure("not a payable merchant QR: \(error)")
    }
    return try ledger.payOrder(requestID: requestID, orderID: qr.orderID, wallet: wallet, merchant: qr.merchantID,
                               amount: qr.amount, now: now)
}

/// Parses an amount in the wallet's own currency.
func walletAmount(_ ledger: any LedgerCore, _ wallet: String, _ text: String) throws -> Money {
    guard let account = try ledger.account(wallet), account.kind == .wallet else { throw Failure("no wallet \(wallet)") }
    do { return try Money(parsing: text, currency: account.currency) } catch { throw Failure(error.message) }
}

/// Prints a money-moving outcome; a decline is thrown so the command exits 3 with its reason.
func report(_ outcome: Outcome, json: Bool) throws {
    if json { printJSON(outcomeJSON(outcome)) }
    switch outcome.result {
    case .posted(let t):
        let state = t.flags.contains(.pending) ? "held until the bank answers" : "posted"
        if !json { print("\(t.kind.rawValue) \(t.amount) \(state): \(t.id)\(outcome.replayed ? " (already done earlier)" : "")") }
    case .declined(let d):
        throw Declined(reason: d.description)
    }
}
