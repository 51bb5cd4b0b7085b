import ArgumentParser
import Foundation
import Ledger
import LedgerPostgres
import LedgerSQLite
import Payments
import Receipts
import Terminal

/// Where the terminal keeps its state: the ledger file, its receipt key and its receipts.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Folder for the ledger, the receipt key and receipts (env QRPOS_HOME; default ~/.local/share/qrpos).", valueName: "dir"))
    var home: String?

    @Option(name: .long, help: ArgumentHelp("The ledger: a SQLite file path (default <home>/ledger.sqlite), or postgres://user@host:port/db (env QRPOS_DATABASE).", valueName: "url"))
    var database: String?

    var homeDirectory: String {
        if let home { return home }
        if let env = ProcessInfo.processInfo.environment["QRPOS_HOME"], !env.isEmpty { return env }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/share/qrpos").path
    }

    var databasePath: String {
        database ?? ProcessInfo.processInfo.environment["QRPOS_DATABASE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (homeDirectory as NSString).appendingPathComponent("ledger.sqlite")
    }

    var isPostgres: Bool { databasePath.hasPrefix("postgres://") || databasePath.hasPrefix("postgresql://") }

    /// Opens the ledger's core (wallets, transfers, holds, events, audit) on either store: a
    /// `postgres://` URL or a SQLite file path.
    func openCore(existingOnly: Bool = false) throws -> any TransactionalLedgerStore {
        if isPostgres { return try PostgresLedger(url: databasePath, existingOnly: existingOnly) }
        return try openSQLite(existingOnly: existingOnly)
    }

    /// Opens the ledger with the checkout's side too (codes, charges, orders, refunds): a
    /// `postgres://` URL, or a SQLite file, created unless `existingOnly`.
    func openLedger(existingOnly: Bool = false) throws -> any LedgerStore {
        if isPostgres { return try PostgresLedger(url: databasePath, existingOnly: existingOnly) }
        return try openSQLite(existingOnly: existingOnly)
    }

    /// The embedded SQLite ledger itself.
    func openSQLite(existingOnly: Bool = false) throws -> SQLiteLedger {
        let path = databasePath
        if path.contains("://") { throw Failure("unknown ledger URL \(path): give a SQLite file path") }
        if !existingOnly {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        }
        return try SQLiteLedger(path: path, existingOnly: existingOnly)
    }

    var receiptKeyPath: String { (homeDirectory as NSString).appendingPathComponent("receipt-key") }

    /// The terminal's receipt signing key, made on first use (unless `create` is false) and kept
    /// readable by its owner only.
    func receiptKey(create: Bool = true) throws -> ReceiptKey {
        let path = receiptKeyPath
        guard create || FileManager.default.fileExists(atPath: path) else {
            throw Failure("this terminal has no receipt key at \(path): give --public-key")
        }
        let seed = try keySeed(at: path, what: "receipt key")
        do { return try ReceiptKey(rawRepresentation: seed) } catch {
            throw Failure("the receipt key at \(path) is damaged: \(error)")
        }
    }

    /// The ledger's offline-certificate issuer key (on the embedded ledger it lives beside it),
    /// made on first use.
    func offlineIssuerKey() throws -> OfflineIssuerKey {
        let path = (homeDirectory as NSString).appendingPathComponent("offline-issuer-key")
        do { return try OfflineIssuerKey(seed: try keySeed(at: path, what: "offline issuer key")) } catch let error as OfflineTokenError {
            throw Failure("the offline issuer key at \(path) is damaged: \(error)")
        }
    }

    /// A 32-byte key seed kept at `path`, made at random on first use and readable by its owner
    /// only. Made with O_EXCL: two commands starting at once agree on one key instead of the last
    /// writer silently replacing a key something was already signed with.
    func keySeed(at path: String, what: String) throws -> [UInt8] {
        if !FileManager.default.fileExists(atPath: path) {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 {
                var rng = SystemRandomNumberGenerator()
                let seed = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let written = seed.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                let synced = fsync(fd)
                close(fd)
                guard written == seed.count, synced == 0 else { throw Failure("cannot write the \(what) to \(path)") }
                return seed
            }
            guard errno == EEXIST else { throw Failure("cannot create the \(what) at \(path): \(String(cString: strerror(errno)))") }
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure("cannot read the \(what) at \(path)") }
        return [UInt8](data)
    }

    /// Saves a signed receipt as JSON under <home>/receipts/, returning the file's path.
    /// <home>/receipt-book.sqlite: every receipt this terminal issued, numbered, and its Z reports.
    func receiptBook() throws -> ReceiptBook {
        try FileManager.default.createDirectory(atPath: homeDirectory, withIntermediateDirectories: true)
        do { return try ReceiptBook(path: (homeDirectory as NSString).appendingPathComponent("receipt-book.sqlite")) } catch {
            throw Failure("\(error)")
        }
    }

    func save(_ receipt: SignedReceipt) throws -> String {
        let folder = (homeDirectory as NSString).appendingPathComponent("receipts")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = (folder as NSString).appendingPathComponent(receipt.receipt.number + ".json")
        try Data(ReceiptCodec.json(receipt).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return path
    }
}

/// Which merchant and terminal a command acts for.
struct TerminalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The merchant this terminal serves (env QRPOS_MERCHANT).", valueName: "id"))
    var merchant: String?

    @Option(name: .customLong("terminal-id"), help: ArgumentHelp("This terminal's label (env QRPOS_TERMINAL; default T1).", valueName: "id"))
    var terminalID: String?

    func merchantID() throws -> String {
        if let merchant { return merchant }
        if let env = ProcessInfo.processInfo.environment["QRPOS_MERCHANT"], !env.isEmpty { return env }
        throw Failure("say which merchant this terminal serves: --merchant ID (or QRPOS_MERCHANT); `qrpos merchant create` makes one")
    }

    var terminal: String {
        terminalID ?? ProcessInfo.processInfo.environment["QRPOS_TERMINAL"].flatMap { $0.isEmpty ? nil : $0 } ?? "T1"
    }
}

/// Parses a currency option.
func currency(_ text: String) throws -> Currency {
    guard let c = Currency(text) else {
        throw ValidationError("Unknown currency '\(text)'. Known: \(Currency.known.map(\.code).joined(separator: ", ")).")
    }
    return c
}

/// Checks a caller-made request id: it names files (receipts) and ledger rows, so it is kept to
/// letters, digits and '-' (a UUIDv7 fits).
func checkRequestID(_ id: String?) throws {
    guard let id else { return }
    guard (1...64).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
        throw ValidationError("--id is 1 to 64 letters, digits or '-' (a UUIDv7 fits)")
    }
}

/// Checks a receipt width.
func checkColumns(_ columns: Int) throws {
    guard [32, 42, 48].contains(columns) else { throw ValidationError("--columns is 32, 42 or 48") }
}

/// Prints one JSON object on one line with sorted keys: the stable form rigs parse.
func printJSON(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    ProgressLine.aside {
        print(String(decoding: data, as: UTF8.self))
        // Each line is whole the moment it is printed: a rig reading a command that then waits
        // (merchant-qr --wait, alerts --follow) sees it at once, not when the process ends.
        fflush(nil)
    }
    ProgressLine.active.withLock { $0 }?.note(object["case"] as? String)
}

func outcomeJSON(_ outcome: Outcome) -> [String: Any] {
    switch outcome.result {
    case .posted(let t):
        var object: [String: Any] = ["status": t.flags.contains(.pending) ? "held" : "posted", "id": t.id, "kind": t.kind.rawValue, "amount": t.amount.decimalString,
                                     "currency": t.amount.currency.code, "debit": t.debitAccount, "credit": t.creditAccount,
                                     "replayed": outcome.replayed, "created_at": t.createdAt]
        if let r = t.refundOf { object["refund_of"] = r }
        if let o = t.orderID { object["order_id"] = o }
        return object
    case .declined(let d):
        return ["status": "declined", "id": outcome.requestID, "reason": d.rawValue, "message": d.description, "replayed": outcome.replayed]
    }
}

/// The offline rules a terminal takes payments by while it cannot reach the ledger: each option
/// replaces one of ``OfflinePolicy/standard(for:)``'s (amounts are in the sale's currency, and
/// the defaults are for one with two decimals, scaled for others). The merchant carries every
/// offline approval's risk until it is settled, so these are the merchant's to set; the till,
/// the kiosk, `charge` and `sync status` take the same ones.
struct OfflinePolicyOptions: ParsableArguments {
    @Option(name: .customLong("offline-floor-limit"), help: ArgumentHelp("The most one offline payment may be (default 200.00).", valueName: "amount"))
    var floorLimit: String?
    @Option(name: .customLong("offline-wallet-limit"),
            help: ArgumentHelp("The most one wallet may spend offline at this terminal under one certificate (default 500.00).", valueName: "amount"))
    var walletLimit: String?
    @Option(name: .customLong("offline-max-age"),
            help: ArgumentHelp("No more offline payments once the oldest unsynced one is this old: 90s, 30m, up to 24h (the default, Square's; the ledger keeps an ended certificate's allowance 25 h for what comes late).", valueName: "age"))
    var maxAge: String?
    @Option(name: .customLong("offline-max-unsynced"),
            help: ArgumentHelp("No more offline payments past this total waiting unsynced (default 20000.00).", valueName: "amount"))
    var maxUnsynced: String?
    @Option(name: .customLong("offline-max-payments"), help: ArgumentHelp("No more offline payments past this many waiting unsynced (default 500).", valueName: "count"))
    var maxPayments: Int?
    @Option(name: .customLong("offline-clock-skew"),
            help: ArgumentHelp("How far a phone's clock may be off this terminal's, and so how old an offline code may be: 90s, 5m, up to 15m (default 5m).", valueName: "age"))
    var clockSkew: String?

    func validate() throws {
        for (name, text, max) in [("--offline-max-age", maxAge, Self.maxAgeMax), ("--offline-clock-skew", clockSkew, Self.clockSkewMax)] {
            if let text { _ = try Self.millis(text, option: name, max: max) }
        }
        if let maxPayments, maxPayments < 1 { throw ValidationError("--offline-max-payments is at least 1") }
    }

    /// The policy for sales in `currency`: the standard one with the options given.
    func policy(for currency: Currency) throws -> OfflinePolicy {
        var policy = OfflinePolicy.standard(for: currency)
        func amount(_ text: String?, _ option: String) throws -> Int64? {
            guard let text else { return nil }
            let money: Money
            do { money = try Money(parsing: text, currency: currency) } catch { throw ValidationError("\(option): \(error)") }
            guard money.minorUnits > 0 else { throw ValidationError("\(option) is above zero, not \(text)") }
            return money.minorUnits
        }
        if let v = try amount(floorLimit, "--offline-floor-limit") { policy.floorLimit = v }
        if let v = try amount(walletLimit, "--offline-wallet-limit") { policy.walletLimit = v }
        if let v = try amount(maxUnsynced, "--offline-max-unsynced") { policy.unsyncedAmountMax = v }
        if let maxPayments { policy.unsyncedCountMax = maxPayments }
        if let maxAge { policy.unsyncedAgeMaxMillis = try Self.millis(maxAge, option: "--offline-max-age", max: Self.maxAgeMax) }
        if let clockSkew { policy.clockSkewMillis = try Self.millis(clockSkew, option: "--offline-clock-skew", max: Self.clockSkewMax) }
        return policy
    }

    /// At most 24 hours unsynced: the ledger keeps an ended certificate's allowance 25 hours for
    /// what terminals forward late, and past that an overspend is settled as the customer's debt.
    static let maxAgeMax: Int64 = 24 * 3_600_000
    /// At most 15 minutes of clock skew: the skew is also how old a code may be, and a backdated
    /// code must not reach a certificate whose allowance was released.
    static let clockSkewMax: Int64 = 15 * 60_000

    /// A duration such as 90s, 30m, 24h or 2d, in milliseconds, from 1 s to `max`.
    static func millis(_ text: String, option: String, max: Int64) throws -> Int64 {
        let units: [Character: Int64] = ["s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int64(text.dropLast()), count > 0, count <= max / unit else {
            throw ValidationError("\(option) is a number with s, m, h or d after it (90s, 30m, 24h), from 1s to \(max / 1_000) s, not '\(text)'")
        }
        return count * unit
    }
}
