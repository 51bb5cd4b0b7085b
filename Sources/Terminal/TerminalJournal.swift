import Foundation
import GRDB
import LedgerSQLite
import Payments
import Synchronization

/// One payment as the terminal's journal holds it.
public struct JournalEntry: Sendable, Equatable, Codable {
    public enum Method: String, Sendable, Codable {
        case customerCode = "customer-code"
        case offlineToken = "offline-token"
        case merchantQR = "merchant-qr"
    }

    public enum Status: String, Sendable, Codable {
        /// Written before the ledger was asked; the answer is not known yet.
        case authorizing
        case approved
        case declined
    }

    /// Made on the terminal (UUIDv7) and the ledger's request id: asking again cannot charge twice.
    public let id: String
    public let terminal: String
    public let merchant: String
    public let method: Method
    public let amount: Money
    public let status: Status
    /// Approved by the offline rules, not by the ledger; to be forwarded.
    public let offline: Bool
    /// The offline token as scanned (what the ledger checks again when it is forwarded).
    public let token: String?
    public let wallet: String?
    public let certificate: String?
    public let counter: Int64?
    public let decline: String?
    public let createdAt: Int64
    /// When the ledger acknowledged a forwarded offline payment; nil while it waits.
    public let syncedAt: Int64?
    /// What the ledger answered: how it settled the payment, or why it refused it.
    public let syncResult: String?
    /// The ledger's payment id, when it differs from the sale's (a merchant-presented order is
    /// paid by the wallet's own request).
    public let payment: String?
}

/// What waits to be forwarded, for `qrpos sync status` and the offline limits.
public struct SyncStatus: Sendable, Equatable, Codable {
    /// Offline approvals not yet acknowledged by the ledger.
    public let unsyncedCount: Int
    /// Their total, per currency code, in minor units.
    public let unsyncedAmounts: [String: Int64]
    /// Age of the oldest, in milliseconds; nil when none waits.
    public let oldestAgeMillis: Int64?
    /// Sales written before the ledger was asked whose answer never came (the terminal stopped
    /// while it waited): asked again, with their ids, on the next start.
    public let undecidedCount: Int

    public init(unsyncedCount: Int, unsyncedAmounts: [String: Int64], oldestAgeMillis: Int64?, undecidedCount: Int) {
        self.unsyncedCount = unsyncedCount
        self.unsyncedAmounts = unsyncedAmounts
        self.oldestAgeMillis = oldestAgeMillis
        self.undecidedCount = undecidedCount
    }
}

/// The terminal's own journal: one SQLite file (WAL, `synchronous=FULL`) holding every payment
/// with its terminal-made id, written before any network call, and every offline approval until
/// the ledger has it. An offline approval returns only once it is on disk.
public final class TerminalJournal: Sendable {
    public let path: String
    private let pool: DatabasePool
    /// Checkpoints beside the writers, so no approval waits for one (``Checkpointer``).
    private let checkpointer: Checkpointer
    /// Remembers the wallet certificates whose issuer signature it has checked, for the issuer
    /// keys last given: a phone shows the same certificate with every payment, and checking it
    /// once saves one of an approval's two Ed25519 verifications (about 125 µs here,
    /// `openssl speed ed25519`). The device's signature over each payment is checked every time.
    private let verifier = Mutex<OfflineVerifier?>(nil)

    /// The journal mode and `synchronous` level its writer commits with ("wal", 2 = FULL).
    public func durability() throws -> (journalMode: String, synchronous: Int) {
        try DurablePool.settings(pool)
    }

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA cache_size = -16384")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Checkpointer.walPagesMax)")
        }
        do {
            pool = try DurablePool.open(path: path, configuration: config)
            try Self.migrator.migrate(pool)
            checkpointer = try Checkpointer(path: path)
        } catch {
            throw CheckoutError("cannot open the terminal journal at \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: payments, offline approvals, sync") { db in
            try db.execute(sql: """
                CREATE TABLE entry (
                    id TEXT PRIMARY KEY,
                    terminal TEXT NOT NULL,
                    merchant TEXT NOT NULL,
                    method TEXT NOT NULL CHECK (method IN ('customer-code', 'offline-token', 'merchant-qr')),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL CHECK (length(currency) = 3),
                    status TEXT NOT NULL CHECK (status IN ('authorizing', 'approved', 'declined')),
                    offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
                    token TEXT,
                    wallet TEXT,
                    device_key TEXT,
                    certificate TEXT,
                    counter INTEGER,
                    decline TEXT,
                    created_at INTEGER NOT NULL,
                    decided_at INTEGER,
                    synced_at INTEGER,
                    CHECK (offline = 0 OR (token IS NOT NULL AND wallet IS NOT NULL AND device_key IS NOT NULL
                                           AND certificate IS NOT NULL AND counter IS NOT NULL)),
                    CHECK ((status = 'declined') = (decline IS NOT NULL)),
                    CHECK (synced_at IS NULL OR (offline = 1 AND status = 'approved'))
                );
                -- A counter is spent once per wallet device at this terminal: a code shown twice is refused.
                CREATE UNIQUE INDEX entry_counter ON entry(wallet, device_key, counter) WHERE offline = 1 AND status = 'approved';
                -- What the offline rules sum, each covered by its index (no table rows read).
                CREATE INDEX entry_unsynced ON entry(currency, created_at, id) WHERE offline = 1 AND status = 'approved' AND synced_at IS NULL;
                CREATE INDEX entry_wallet_unsynced ON entry(wallet, currency, amount)
                    WHERE offline = 1 AND status = 'approved' AND synced_at IS NULL;
                CREATE INDEX entry_by_certificate ON entry(certificate, amount) WHERE offline = 1 AND status = 'approved';
                -- Count and total of what waits unsynced, per currency, kept with every approval
                -- and acknowledgement: the rules read one row, not the whole backlog.
                CREATE TABLE backlog (
                    currency TEXT PRIMARY KEY,
                    count INTEGER NOT NULL CHECK (count >= 0),
                    total INTEGER NOT NULL CHECK (total >= 0)
                );
                """)
        }
        migrator.registerMigration("v2: what the ledger answered to a forwarded payment") { db in
            try db.execute(sql: "ALTER TABLE entry ADD COLUMN sync_result TEXT")
        }
        migrator.registerMigration("v3: offline codes the ledger approved online count like those taken offline") { db in
            // A code approved online carries its wallet, device, certificate and counter too
            // (offline = 0): its counter is spent here, and it spends the certificate's allowance.
            try db.execute(sql: """
                DROP INDEX entry_counter;
                CREATE UNIQUE INDEX entry_counter ON entry(wallet, device_key, counter) WHERE status = 'approved' AND counter IS NOT NULL;
                DROP INDEX entry_by_certificate;
                CREATE INDEX entry_by_certificate ON entry(certificate, amount) WHERE status = 'approved' AND certificate IS NOT NULL;
                """)
        }
        migrator.registerMigration("v4: the ledger's payment id of an order") { db in
            try db.execute(sql: "ALTER TABLE entry ADD COLUMN payment TEXT")
        }
        return migrator
    }

    // MARK: Writing

    /// Writes a sale before the ledger is asked (status `authorizing`). The same id again with the
    /// same fields is a no-op (a retry); with other fields it is an error.
    public func begin(id: String, terminal: String, merchant: String, method: JournalEntry.Method, amount: Money, now: Int64) throws {
        try write { db in
            if let existing = try Self.entry(db, id) {
                guard existing.terminal == terminal, existing.merchant == merchant, existing.method == method, existing.amount == amount else {
                    throw CheckoutError("sale \(id) is already in the journal with other fields")
                }
                return
            }
            try db.execute(sql: """
                INSERT INTO entry (id, terminal, merchant, method, amount, currency, status, created_at)
                VALUES (?, ?, ?, ?, ?, ?, 'authorizing', ?)
                """, arguments: [id, terminal, merchant, method.rawValue, amount.minorUnits, amount.currency.code, now])
        }
    }

    /// Records the ledger's answer to a sale begun with ``begin(id:terminal:merchant:method:amount:now:)``.
    /// An offline code the ledger approved online (`token`) is kept with its wallet, device,
    /// certificate and counter, so the same code is refused here afterwards, online or not.
    /// Returns the entry as it stands (a sale decided before keeps its first answer).
    /// A paid order keeps the ledger's `payment` id and the `wallet` that paid.
    @discardableResult
    public func decide(id: String, approved: Bool, decline: String?, token: OfflineToken? = nil, payment: String? = nil,
                       wallet: String? = nil, now: Int64) throws -> JournalEntry {
        try write { db in
            guard let existing = try Self.entry(db, id) else { throw CheckoutError("sale \(id) is not in the journal") }
            guard existing.status == .authorizing else { return existing }
            let code = approved ? token : nil
            try db.execute(sql: """
                UPDATE entry SET status = ?, decline = ?, decided_at = ?, token = ?, wallet = ?, device_key = ?, certificate = ?,
                                 counter = ?, payment = ?
                WHERE id = ?
                """, arguments: [approved ? "approved" : "declined", approved ? nil : (decline ?? "declined"), now, code?.text,
                                 code?.certificate.walletID ?? (approved ? wallet : nil), code?.certificate.devicePublicKey.hex,
                                 code?.certificate.serial, code.map { Int64($0.counter) }, approved ? payment : nil, id])
            return try Self.entry(db, id)!
        }
    }

    /// Sales written before the ledger was asked whose answer is not known, oldest first.
    public func undecided(method: JournalEntry.Method) throws -> [JournalEntry] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM entry WHERE status = 'authorizing' AND method = ? ORDER BY created_at, id",
                             arguments: [method.rawValue]).map(Self.entry)
        }
    }

    /// Takes a payment on the offline rules, or declines it with the reason; either way the
    /// answer is on disk before it returns, and the same id again returns the same answer.
    ///
    /// One write transaction checks and records, so two checkouts of this terminal cannot both
    /// spend the same counter or the same allowance: the token's signatures and times
    /// (``OfflineToken/verify(issuers:now:clockSkewMillis:)``), its currency, the floor limit,
    /// what waits unsynced (count, total, oldest), the counter never approved here before for
    /// that wallet's device, what this terminal has taken under the certificate (within its
    /// allowance) and what it holds unsynced of the wallet (within the per-wallet limit).
    public func approveOffline(id: String, terminal: String, merchant: String, amount: Money, token: OfflineToken,
                               issuers: [OfflinePublicKey], policy: OfflinePolicy, now: Int64) throws -> Result<JournalEntry, OfflineDecline> {
        // The signatures need no journal: checked before the write lock is taken.
        var invalid: OfflineDecline?
        let verifier = self.verifier.withLock { current in
            if let current, current.issuers == issuers { return current }
            current = OfflineVerifier(issuers: issuers)
            return current!
        }
        do { try verifier.verify(token, now: now, clockSkewMillis: policy.clockSkewMillis) } catch {
            invalid = OfflineDecline(.invalidToken, error.message)
        }
        return try write { db in
            if let existing = try Self.entry(db, id), existing.status != .authorizing {
                guard existing.amount == amount, existing.merchant == merchant else {
                    throw CheckoutError("sale \(id) is already in the journal with other fields")
                }
                if existing.status == .approved { return .success(existing) }
                // Stored as "reason: message" (``OfflineDecline/stored``); a decline the ledger gave is kept whole.
                let stored = existing.decline ?? ""
                let reason = stored.split(separator: ":", maxSplits: 1).first.flatMap { OfflineDecline.Reason(rawValue: String($0)) }
                return .failure(OfflineDecline(reason ?? .invalidToken, stored))
            }
            let cert = token.certificate
            let device = cert.devicePublicKey.hex
            let decision = try invalid ?? Self.offlineDecision(db, amount: amount, token: token, device: device, policy: policy, now: now)
            try db.cachedStatement(sql: """
                INSERT INTO entry (id, terminal, merchant, method, amount, currency, status, offline, token, wallet, device_key,
                                   certificate, counter, decline, created_at, decided_at)
                VALUES (?, ?, ?, 'offline-token', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET method = excluded.method, status = excluded.status, offline = excluded.offline,
                    token = excluded.token, wallet = excluded.wallet, device_key = excluded.device_key,
                    certificate = excluded.certificate, counter = excluded.counter, decline = excluded.decline,
                    decided_at = excluded.decided_at
                """).execute(arguments: [id, terminal, merchant, amount.minorUnits, amount.currency.code,
                                 decision == nil ? "approved" : "declined", decision == nil ? 1 : 0, token.text, cert.walletID, device,
                                 cert.serial, Int64(token.counter), decision?.stored, now, now])
            if let decision { return .failure(decision) }
            try db.cachedStatement(sql: """
                INSERT INTO backlog (currency, count, total) VALUES (?, 1, ?)
                ON CONFLICT (currency) DO UPDATE SET count = count + 1, total = total + excluded.total
                """).execute(arguments: [amount.currency.code, amount.minorUnits])
            return .success(try Self.entry(db, id)!)
        }
    }

    /// The rules that need the journal, for a token whose signatures and times verified.
    private static func offlineDecision(_ db: Database, amount: Money, token: OfflineToken, device: String,
                                        policy: OfflinePolicy, now: Int64) throws -> OfflineDecline? {
        let cert = token.certificate
        guard cert.allowance.currency == amount.currency else {
            return OfflineDecline(.currencyMismatch, "the customer's offline code is for \(cert.allowance.currency), the sale is in \(amount.currency)")
        }
        guard amount.minorUnits <= policy.floorLimit else {
            return OfflineDecline(.aboveFloorLimit, "\(amount) is above the offline limit of \(Money(minorUnits: policy.floorLimit, currency: amount.currency)) a payment")
        }
        let backlog = try Row.fetchOne(db.cachedStatement(sql: "SELECT count, total FROM backlog WHERE currency = ?"), arguments: [amount.currency.code])
        let (count, total): (Int, Int64) = (backlog?[0] ?? 0, backlog?[1] ?? 0)
        let oldest = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT MIN(created_at) FROM entry WHERE offline = 1 AND status = 'approved' AND synced_at IS NULL AND currency = ?
            """), arguments: [amount.currency.code])
        if let why = policy.syncRequired(count: count, total: Money(minorUnits: total, currency: amount.currency),
                                         oldestAgeMillis: oldest.map { now - $0 }, adding: amount.minorUnits) {
            return OfflineDecline(.syncRequired, why)
        }
        if try Bool.fetchOne(db.cachedStatement(sql: """
            SELECT EXISTS (SELECT 1 FROM entry WHERE wallet = ? AND device_key = ? AND counter = ? AND status = 'approved')
            """), arguments: [cert.walletID, device, Int64(token.counter)]) == true {
            return OfflineDecline(.replayed, "this code was already used: ask the customer for a fresh one")
        }
        // The certificate's allowance counts everything taken under it here, online or offline,
        // synced or not (what other terminals took is the ledger's to settle); the limit per
        // wallet counts what is still unsettled, across the wallet's certificates.
        let spent = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT COALESCE(SUM(amount), 0) FROM entry WHERE certificate = ? AND status = 'approved'
            """), arguments: [cert.serial]) ?? 0
        let exposed = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT COALESCE(SUM(amount), 0) FROM entry
            WHERE wallet = ? AND currency = ? AND offline = 1 AND status = 'approved' AND synced_at IS NULL
            """), arguments: [cert.walletID, amount.currency.code]) ?? 0
        let left = min(cert.allowance.minorUnits - spent, policy.walletLimit - exposed)
        guard amount.minorUnits <= left else {
            return OfflineDecline(.walletLimit, "the wallet can spend \(Money(minorUnits: max(0, left), currency: amount.currency)) more offline here")
        }
        return nil
    }

    /// Marks forwarded offline payments as acknowledged by the ledger.
    public func markSynced(_ ids: [String], now: Int64) throws {
        try markSynced(Dictionary(uniqueKeysWithValues: ids.map { ($0, "settled") }), now: now)
    }

    /// Marks forwarded offline payments as acknowledged by the ledger, each with what it
    /// answered (how it was settled, or why it refused it: the merchant's to follow up).
    ///
    /// A few statements for a whole batch (an `UPDATE … FROM (VALUES …)` per 400 entries, then
    /// the backlog once per currency): one statement per entry and another for its backlog took
    /// 57–77 ms of a 500-entry batch's 250 (`qrpos bench sync`), a third of the upload.
    ///
    /// Not synced to disk (`synchronous = NORMAL` for this one commit; the next approval's syncs
    /// it): a mark a power cut undoes is only an answer asked for again, and the ledger answers a
    /// repeat with the first settlement. It saved 2.5 of the 12.5 ms a 500-entry batch spent here.
    public func markSynced(_ results: [String: String], now: Int64) throws {
        let ordered = results.sorted { $0.key < $1.key }
        try write(synced: false) { db in
            var drained: [String: (count: Int64, total: Int64)] = [:]
            // 3 parameters an entry; SQLite takes 32,766 in one statement.
            for start in stride(from: 0, to: ordered.count, by: 400) {
                let chunk = ordered[start..<min(start + 400, ordered.count)]
                var arguments: StatementArguments = [now]
                for (id, result) in chunk { arguments += [id, result] }
                let values = repeatElement("(?, ?)", count: chunk.count).joined(separator: ", ")
                // Only entries still waiting change, so a repeated answer drains the backlog once.
                let rows = try Row.fetchAll(db, sql: """
                    UPDATE entry SET synced_at = ?, sync_result = v.column2 FROM (VALUES \(values)) AS v
                    WHERE entry.id = v.column1 AND entry.offline = 1 AND entry.status = 'approved' AND entry.synced_at IS NULL
                    RETURNING entry.currency, entry.amount
                    """, arguments: arguments)
                for row in rows {
                    let currency: String = row[0]
                    drained[currency, default: (0, 0)].count += 1
                    drained[currency, default: (0, 0)].total += row[1] as Int64
                }
            }
            for (currency, gone) in drained.sorted(by: { $0.key < $1.key }) {
                try db.execute(sql: "UPDATE backlog SET count = count - ?, total = total - ? WHERE currency = ?",
                               arguments: [gone.count, gone.total, currency])
            }
        }
    }

    // MARK: Reading

    public func entry(_ id: String) throws -> JournalEntry? {
        try read { db in try Self.entry(db, id) }
    }

    /// The latest `limit` sales `terminal` approved, online or offline, oldest first.
    public func approved(terminal: String, limit: Int) throws -> [JournalEntry] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM entry WHERE status = 'approved' AND terminal = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                             arguments: [terminal, limit]).map(Self.entry).reversed()
        }
    }

    /// Offline approvals waiting for the ledger, oldest first.
    ///
    /// Read a currency at a time, in the order of `entry_unsynced` (currency, created_at, id),
    /// and merged: one query ordered by time alone visited every waiting entry and sorted them
    /// all (46 ms a batch with 30,000 waiting, a quadratic upload), as no index has that order.
    public func unsynced(limit: Int) throws -> [JournalEntry] {
        guard limit > 0 else { return [] }
        return try read { db in
            var waiting: [JournalEntry] = []
            var currency = ""
            while let next = try String.fetchOne(db.cachedStatement(sql: Self.nextUnsyncedCurrencySQL), arguments: [currency]) {
                waiting += try Row.fetchAll(db.cachedStatement(sql: Self.unsyncedSQL), arguments: [next, limit]).map(Self.entry)
                currency = next
            }
            return Array(waiting.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }.prefix(limit))
        }
    }

    /// The next currency after `?` of which something waits, found in `entry_unsynced`.
    static let nextUnsyncedCurrencySQL = """
        SELECT MIN(currency) FROM entry WHERE currency > ? AND offline = 1 AND status = 'approved' AND synced_at IS NULL
        """
    /// The oldest `?` entries waiting in one currency, read in `entry_unsynced`'s order.
    static let unsyncedSQL = """
        SELECT \(entryColumns) FROM entry WHERE currency = ? AND offline = 1 AND status = 'approved' AND synced_at IS NULL
        ORDER BY created_at, id LIMIT ?
        """

    public func syncStatus(now: Int64) throws -> SyncStatus {
        try read { db in
            var amounts: [String: Int64] = [:]
            var count = 0
            var oldest: Int64?
            for row in try Row.fetchAll(db, sql: """
                SELECT currency, COUNT(*), SUM(amount), MIN(created_at) FROM entry
                WHERE offline = 1 AND status = 'approved' AND synced_at IS NULL GROUP BY currency
                """) {
                amounts[row[0]] = row[2]
                count += row[1] as Int
                let first: Int64 = row[3]
                oldest = min(oldest ?? first, first)
            }
            let undecided = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM entry WHERE status = 'authorizing'") ?? 0
            return SyncStatus(unsyncedCount: count, unsyncedAmounts: amounts, oldestAgeMillis: oldest.map { now - $0 }, undecidedCount: undecided)
        }
    }

    /// What does not hold that must: the kept backlog equals the unsynced entries it counts
    /// (per currency), and no counter of a wallet's device is approved twice. Empty when sound.
    public func audit() throws -> [String] {
        try read { db in
            var problems: [String] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT currency, SUM(kept_count), SUM(kept_total), SUM(real_count), SUM(real_total) FROM (
                    SELECT currency, count AS kept_count, total AS kept_total, 0 AS real_count, 0 AS real_total FROM backlog
                    UNION ALL
                    SELECT currency, 0, 0, COUNT(*), SUM(amount) FROM entry
                    WHERE offline = 1 AND status = 'approved' AND synced_at IS NULL GROUP BY currency)
                GROUP BY currency HAVING SUM(kept_count) <> SUM(real_count) OR SUM(kept_total) <> SUM(real_total)
                """) {
                problems.append("backlog \(row[0] as String): kept \(row[1] as Int)/\(row[2] as Int64), entries \(row[3] as Int)/\(row[4] as Int64)")
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT wallet, counter FROM entry WHERE status = 'approved' AND counter IS NOT NULL
                GROUP BY wallet, device_key, counter HAVING COUNT(*) > 1
                """) {
                problems.append("counter \(row[1] as Int64) of wallet \(row[0] as String) approved more than once")
            }
            return problems
        }
    }

    // MARK: Private

    private static func entry(_ db: Database, _ id: String) throws -> JournalEntry? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.entryColumns) FROM entry WHERE id = ?"), arguments: [id]).map(entry)
    }

    /// The columns ``entry(_:)`` reads, by position: GRDB finds a column by name case-insensitively
    /// on every access, which was most of reading a batch of 500 for the forwarder.
    static let entryColumns = """
        id, terminal, merchant, method, amount, currency, status, offline, token, wallet, certificate, counter, decline, created_at, \
        synced_at, sync_result, payment
        """

    private static func entry(_ row: Row) throws -> JournalEntry {
        let id: String = row[0]
        guard let method = JournalEntry.Method(rawValue: row[3]), let status = JournalEntry.Status(rawValue: row[6]),
              let currency = Currency(row[5] as String) else {
            throw CheckoutError("journal entry \(id) is damaged")
        }
        return JournalEntry(id: id, terminal: row[1], merchant: row[2], method: method,
                            amount: Money(minorUnits: row[4], currency: currency), status: status,
                            offline: row[7], token: row[8], wallet: row[9], certificate: row[10],
                            counter: row[11], decline: row[12], createdAt: row[13], syncedAt: row[14],
                            syncResult: row[15], payment: row[16])
    }

    /// Runs `body` in one write transaction, on disk before it returns (`synchronous = FULL`, set
    /// anew for each such write, whatever the one before set). Unless `synced` is false: then
    /// the commit is atomic and survives the process being killed, but a power cut may undo it
    /// (`NORMAL`), which only a write that is safe to repeat may choose.
    private func write<T>(synced: Bool = true, _ body: (Database) throws -> T) throws -> T {
        do {
            var result: T?
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: synced ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
                // Set back whatever the transaction did; a failure to is no failure of this write
                // (the next write sets it anyway).
                defer { if !synced { try? db.execute(sql: "PRAGMA synchronous = FULL") } }
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
            }
            checkpointer.committed()
            return result!
        } catch let error as CheckoutError {
            throw error
        } catch {
            throw CheckoutError("the terminal journal could not be written: \(error)")
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let error as CheckoutError { throw error } catch {
            throw CheckoutError("the terminal journal could not be read: \(error)")
        }
    }
}
