import Foundation
import Ledger
import Logging
import NIOCore
import NIOPosix
import Payments
import PostgresNIO
import Synchronization

/// The wallet ledger on a PostgreSQL server (postgres-nio), for a fleet of terminals and the
/// ledger server sharing one ledger. Same engine, same rules, same results as ``SQLiteLedger``:
/// every change goes through ``LedgerEngine`` inside one transaction.
///
/// Concurrency: many tasks or processes write at once. A transaction locks the account rows it
/// touches (`SELECT … FOR UPDATE`, in id order, so two batches cannot deadlock on each other),
/// so balances and flags are checked against rows nobody else can change until the commit; a
/// unique-key race on a transfer id, a deadlock or a serialization failure rolls back and runs
/// again, where the engine then finds the winner's transfer and answers "exists". Transfers
/// whose accounts this process has cached are decided from the cache and committed only if,
/// locked in the same order, every account read is still as cached (one round trip instead of
/// two; ``createTransfers(_:now:)``); anything else takes the locked way.
///
/// The API is synchronous like ``SQLiteLedger``'s (the stores are interchangeable); each call
/// borrows a connection from a small pool and waits for its event-loop futures, so it must not
/// be called on an event loop. Durability is the server's (`synchronous_commit = on`).
public final class PostgresLedger: TransactionalLedgerStore, @unchecked Sendable {
    public let url: String
    /// The schema the ledger lives in, when its URL names one (`search_path`).
    public let schema: String?
    private let configuration: PostgresConnection.Configuration
    private let group: any EventLoopGroup
    let logger: Logger
    private let idle = Mutex<[PostgresConnection]>([])
    private let nextID = Atomic<Int>(1)
    /// Groups gather for up to a millisecond: a commit costs this process one or two round trips
    /// (1–3 ms), and eight clients then share a commit where they shared it two or three at a
    /// time (`qrpos bench ledger`, 8 clients: about 1,500/s without, 2,300–3,700/s with).
    private let groupCommit = GroupCommit(gatherWait: .microseconds(1_000))
    /// Accounts as this process's last committed transfers left them: what the one-round-trip
    /// path of ``createTransfers(_:now:)`` decides from. It may be stale (another process, or a
    /// wallet operation here, changed an account since); the commit checks it.
    private let accountCache = Mutex<[String: Account]>([:])
    /// Accounts cached at most; past it the cache starts again empty.
    static let accountCacheCountMax = 100_000
    /// Connections kept open between calls.
    public static let idleConnectionCountMax = 8
    /// The longest an event read waits for older writers to finish before it returns what is
    /// safe to return (see ``events(after:account:limit:)``).
    public static let eventHorizonWaitMillisMax = 2_000
    /// Times a transaction is run again after a deadlock, serialization failure or id race.
    static let retryCountMax = 8

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database[?search_path=SCHEMA]`)
    /// and brings the schema up to date, unless `existingOnly` (then a database without the
    /// ledger is an error). With `search_path`, the ledger lives in that schema (made if
    /// missing): many ledgers in one database, as the tests use it.
    /// The limits and velocity rules a payment from a wallet is judged by (the wallet
    /// operations take theirs from ``WalletOperations/limits``).
    public let walletLimits: @Sendable (Currency) -> WalletLimits

    public init(url: String, existingOnly: Bool = false,
                walletLimits: @escaping @Sendable (Currency) -> WalletLimits = WalletLimits.standard(for:)) throws {
        self.url = url
        self.walletLimits = walletLimits
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
              let host = parts.host, let user = parts.user, parts.path.count > 1 else {
            throw LedgerError(.invalidRequest, "not a PostgreSQL URL: \(url) (postgres://user@host:port/database)")
        }
        var configuration = PostgresConnection.Configuration(host: host, port: parts.port ?? 5432, username: user,
                                                             password: parts.password, database: String(parts.path.dropFirst()),
                                                             tls: .disable)
        let schema = parts.queryItems?.first { $0.name == "search_path" }?.value
        if let schema {
            guard !schema.isEmpty, schema.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
                throw LedgerError(.invalidRequest, "search_path must be lower-case letters, digits and _, not '\(schema)'")
            }
            configuration.options.additionalStartupParameters = [("search_path", schema)]
        }
        self.configuration = configuration
        self.schema = schema
        group = MultiThreadedEventLoopGroup.singleton
        var logger = Logger(label: "qrpos.ledger.postgres")
        logger.logLevel = .critical
        self.logger = logger
        try read { conn in
            if existingOnly {
                // Every version committed, as on SQLite: a process killed while it created the
                // schema leaves the version table and nothing else, which is not a ledger yet.
                let rows = try conn.query("SELECT to_regclass('qrpos_schema') IS NOT NULL", logger: logger).wait()
                var done = Set<Int>()
                if try rows.first?.decode(Bool.self) == true {
                    done = Set(try conn.query("SELECT version FROM qrpos_schema", logger: logger).wait().map { try $0.decode(Int.self) })
                }
                guard done.isSuperset(of: PostgresSchema.versions.map(\.0)) else {
                    throw LedgerError(.notFound, "\(url) holds no qrpos ledger, or an unfinished or older one (a qrpos command that writes brings it up to date)")
                }
            } else {
                if let schema {
                    // Under the migration's advisory lock: CREATE SCHEMA IF NOT EXISTS is not safe
                    // against itself (several processes starting on a new ledger at once, one of
                    // them failed on pg_namespace's unique index).
                    _ = try conn.query("SELECT pg_advisory_lock(7243001)", logger: logger).wait()
                    defer { _ = try? conn.query("SELECT pg_advisory_unlock(7243001)", logger: logger).wait() }
                    _ = try conn.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger).wait()
                }
                try PostgresSchema.migrate(conn, logger: logger)
            }
        }
    }

    /// Drops the ledger's own schema and everything in it: for a ledger made for a while in a
    /// schema of its own (a benchmark's case). A ledger without a `search_path` has none to drop.
    public func dropSchema() throws {
        guard let schema else { throw LedgerError(.invalidRequest, "\(url) names no schema of its own to drop") }
        try read { conn in _ = try conn.query("DROP SCHEMA \(unescaped: schema) CASCADE", logger: logger).wait() }
    }

    deinit {
        // postgres-nio asserts that a connection is closed before it goes.
        for conn in idle.withLock({ $0 }) { try? conn.close().wait() }
    }

    // MARK: Connections and transactions

    private func connect() throws -> PostgresConnection {
        do {
            return try PostgresConnection.connect(on: group.next(), configuration: configuration,
                                                  id: nextID.add(1, ordering: .relaxed).newValue, logger: logger).wait()
        } catch {
            throw LedgerError(.storage, "cannot reach the ledger at \(url): \(Self.describe(error))")
        }
    }

    func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let conn = try idle.withLock({ $0.popLast() }) ?? connect()
        do {
            let result = try body(conn)
            release(conn)
            return result
        } catch {
            // Whatever the body left open is rolled back; a connection the failure closed is
            // dropped, a live one goes back to the pool.
            _ = try? conn.query("ROLLBACK", logger: logger).wait()
            if !conn.isClosed { release(conn) }
            throw error
        }
    }

    /// Returns a connection to the idle pool, or closes it when the pool is full.
    private func release(_ conn: PostgresConnection) {
        // A connection that died during the call is dropped, not handed to the next caller.
        guard !conn.isClosed else { return }
        let kept = idle.withLock { list -> Bool in
            guard list.count < Self.idleConnectionCountMax else { return false }
            list.append(conn)
            return true
        }
        if !kept { try? conn.close().wait() }
    }

    /// Runs `body` in one transaction, again from the start after a retryable conflict.
    func inTransaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try inPipelinedTransaction { conn in (try body(conn), []) }
    }

    /// Runs `body` in one transaction like ``inTransaction(_:)``, except that the queries it
    /// returns are not yet answered: COMMIT goes out behind them in the same flight, and they
    /// are checked before the commit's answer is. A failed one aborts the transaction, so the
    /// COMMIT answers ROLLBACK and its error is thrown: nothing is committed that was not
    /// checked, and a payment's write and commit cost one wait instead of two.
    func inPipelinedTransaction<T>(_ body: (PostgresConnection) throws -> (T, [EventLoopFuture<PostgresQueryResult>])) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try pipelinedAttempt(body)
            } catch let error as PSQLError where attempt < Self.retryCountMax && Self.isRetryable(error) {
                continue
            } catch let error as PSQLError {
                throw LedgerError(.storage, "ledger transaction failed: \(Self.describe(error))")
            }
        }
    }

    /// One try of ``inPipelinedTransaction(_:)``. The server's refusal comes out as it came
    /// (`PSQLError`), for the caller to retry, fall back or report.
    private func pipelinedAttempt<T>(_ body: (PostgresConnection) throws -> (T, [EventLoopFuture<PostgresQueryResult>])) throws -> T {
        try withConnection { conn in
            // BEGIN goes out with the body's first queries (the connection runs them in
            // order); it is checked before anything is committed.
            let begin = conn.query("BEGIN", logger: logger)
            let (result, unanswered) = try body(conn)
            let commit = conn.query("COMMIT", logger: logger)
            _ = try begin.wait()
            for query in unanswered { _ = try query.wait() }
            // COMMIT of a failed transaction answers ROLLBACK, without an error.
            let committed = try commit.wait()
            guard committed.metadata.command == "COMMIT" else {
                throw LedgerError(.storage, "the ledger transaction was rolled back (\(committed.metadata.command))")
            }
            return result
        }
    }

    /// Runs `body` on a ``PostgresTransaction`` in one transaction (``inPipelinedTransaction(_:)``:
    /// the writes it leaves unanswered go out with the COMMIT), then caches the accounts it wrote.
    func ledgerTransaction<T>(now: Int64, _ body: (PostgresTransaction) throws -> T) throws -> T {
        var changed: [Account] = []
        let result = try inPipelinedTransaction { conn in
            let tx = PostgresTransaction(conn: conn, logger: logger, now: now)
            let result = try body(tx)
            changed = tx.changedAccounts
            return (result, tx.unanswered)
        }
        remember(changed)
        return result
    }

    public func transaction<T>(now: Int64, _ body: (any LedgerTransaction) throws -> T) throws -> T {
        try ledgerTransaction(now: now, body)
    }

    func read<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        do {
            return try withConnection(body)
        } catch let error as PSQLError {
            throw LedgerError(.storage, "ledger read failed: \(Self.describe(error))")
        }
    }

    static func isRetryable(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        // unique_violation (an id race), serialization_failure, deadlock_detected.
        return ["23505", "40001", "40P01"].contains(state)
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return "\(message) (\(e.serverInfo?[.sqlState] ?? "?"))" }
            return "\(e.code)"
        }
        return "\(error)"
    }

    // MARK: Accounts

    public func createWallet(name: String, phone: String?, currency: Currency, now: Int64) throws -> Account {
        let id = ShortID.make(prefix: "wal")
        let account = try inTransaction { conn in
            if let phone, try conn.query("SELECT 1 FROM wallet WHERE phone = \(phone)", logger: logger).wait().first != nil {
                throw LedgerError(.invalidRequest, "a wallet with phone \(phone) already exists")
            }
            try insertAccount(conn, id: id, kind: .wallet, currency: currency, name: name, now: now)
            _ = try conn.query("INSERT INTO wallet (account_id, phone) VALUES (\(id), \(phone))", logger: logger).wait()
            return try PostgresReader(conn: conn, logger: logger).account(id)!
        }
        // Cached as its commit left it, so its first payment needs no locked read.
        remember([account])
        return account
    }

    public func createMerchant(name: String, city: String, categoryCode: String, countryCode: String,
                               currency: Currency, now: Int64) throws -> Merchant {
        try Merchant.check(categoryCode: categoryCode, countryCode: countryCode)
        let id = ShortID.make(prefix: "mer")
        let (merchant, account) = try inTransaction { conn in
            try insertAccount(conn, id: id, kind: .merchant, currency: currency, name: name, now: now)
            _ = try conn.query("""
                INSERT INTO merchant (account_id, city, category_code, country_code) VALUES (\(id), \(city), \(categoryCode), \(countryCode))
                """, logger: logger).wait()
            return (Merchant(id: id, name: name, city: city, categoryCode: categoryCode, countryCode: countryCode, currency: currency),
                    try PostgresReader(conn: conn, logger: logger).account(id)!)
        }
        remember([account])
        return merchant
    }

    private func insertAccount(_ conn: PostgresConnection, id: String, kind: AccountKind, currency: Currency, name: String, now: Int64) throws {
        _ = try conn.query("""
            INSERT INTO account (id, kind, currency, name, flags, created_at)
            VALUES (\(id), \(kind.rawValue), \(currency.code), \(name), \(Account.flags(for: kind).rawValue), \(now))
            """, logger: logger).wait()
    }

    public func account(_ id: String) throws -> Account? {
        try read { conn in try PostgresReader(conn: conn, logger: logger, lock: false).account(id) }
    }

    public func merchant(_ id: String) throws -> Merchant? {
        try read { conn in
            guard let row = try conn.query("""
                SELECT a.id, a.name, a.currency, m.city, m.category_code, m.country_code
                FROM merchant m JOIN account a ON a.id = m.account_id WHERE a.id = \(id)
                """, logger: logger).wait().first else { return nil }
            let (mid, name, currency, city, mcc, country) = try row.decode((String, String, String, String, String, String).self)
            return Merchant(id: mid, name: name, city: city, categoryCode: mcc, countryCode: country,
                            currency: try PostgresRows.currency(currency, "merchant \(mid)"))
        }
    }

    public func wallet(phone: String) throws -> Account? {
        try read { conn in
            guard let row = try conn.query("SELECT account_id FROM wallet WHERE phone = \(phone)", logger: logger).wait().first else { return nil }
            return try PostgresReader(conn: conn, logger: logger, lock: false).account(try row.decode(String.self))
        }
    }

    public func deposit(requestID: String, wallet: String, amount: Money, source: DepositSource, now: Int64) throws -> Outcome {
        guard amount.minorUnits > 0, amount.minorUnits <= LedgerLimits.transferAmountMax else {
            throw LedgerError(.invalidRequest, "amount must be positive and within the ledger's limit, not \(amount)")
        }
        return try transaction(now: now) { tx in
            guard let w = try tx.account(wallet), w.kind == .wallet else { return Outcome(requestID: requestID, result: .declined(.accountUnknown), replayed: false) }
            guard w.currency == amount.currency else { return Outcome(requestID: requestID, result: .declined(.currencyMismatch), replayed: false) }
            let settlement = WalletOperations.settlementAccount(amount.currency)
            try tx.ensureAccount(id: settlement, kind: .settlement, currency: amount.currency, name: "Settlement (bank and cash) \(amount.currency.code)")
            let result = try tx.apply([Transfer(id: requestID, kind: .deposit, debitAccount: settlement, creditAccount: wallet, amount: amount,
                                                refundOf: nil, orderID: nil, memo: source.rawValue, createdAt: now)])[0]
            switch result {
            case .created(let t): return Outcome(requestID: requestID, result: .posted(t), replayed: false)
            case .exists(let t): return Outcome(requestID: requestID, result: .posted(t), replayed: true)
            case .refused(.existsWithDifferentFields): throw LedgerError(.idConflict, "request \(requestID) was already made with other fields")
            case .refused(let r): throw LedgerError(.invalidRequest, "deposit \(requestID) refused: \(r)")
            }
        }
    }

    // MARK: Transfers

    public func createTransfers(_ batch: [Transfer], now: Int64) throws -> [TransferResult] {
        guard batch.count <= LedgerLimits.batchCountMax else {
            throw LedgerError(.invalidRequest, "a batch holds at most \(LedgerLimits.batchCountMax) transfers, not \(batch.count)")
        }
        return try groupCommit.submit(batch, now: now) { group in
            let slots = group.map { (batch: $0.batch, now: $0.now) }
            let latest = group.map(\.now).max() ?? now
            if let results = try createOptimistically(slots, now: latest) { return results }
            return try ledgerTransaction(now: latest) { tx in try tx.apply(group: slots) }
        }
    }

    /// A group's transfers in one round trip: the engine decides from the cached accounts, and
    /// one call (the procedure `qrpos_commit_expected`) locks what was read, checks it is
    /// unchanged, writes and commits. Nil, with nothing written, whenever that cannot be trusted:
    /// an account not cached, a hold or an earlier transfer to look up, a result other than
    /// "created" (a refusal or a retry must be answered from the ledger itself), an account
    /// changed since it was cached, or a transfer id already taken. The locked path then runs as
    /// it always did.
    ///
    /// On a loopback server a round trip costs this process about 0.4–0.9 ms of waiting (event
    /// loop hops and wake-ups), more than the server's work for a payment; the locked path
    /// needs two, and sending BEGIN, the check, the write and COMMIT as four statements, even
    /// all at once, cost the server four turns (postgres-nio sends a statement only once the
    /// last has been answered): 1 client about 530/s where one call does 1,000–1,250/s.
    private func createOptimistically(_ group: [(batch: [Transfer], now: Int64)], now: Int64) throws -> [[TransferResult]]? {
        let reader = CachedAccountReader(newTransferIDs: Set(group.flatMap { $0.batch.map(\.id) })) { [unowned self] id in
            accountCache.withLock { $0[id] }
        }
        var engine = LedgerEngine(reader: reader)
        var results: [[TransferResult]] = []
        do {
            for (batch, at) in group { results.append(try engine.apply(batch, now: at)) }
        } catch is CachedAccountReader.NeedsLock {
            return nil
        }
        guard results.allSatisfy({ $0.allSatisfy { if case .created = $0 { true } else { false } } }) else { return nil }
        let changes = engine.changes
        do {
            // Outside a transaction block: the call is the whole transaction, committed before
            // it answers. A failed call has rolled back; the connection is ready for the next.
            _ = try withConnection { conn in
                try PostgresTransaction.sendCommitExpected(conn, logger: logger, expected: Array(reader.served.values),
                                                           changes: changes, now: now).wait()
            }
        } catch let error as PSQLError where Self.isRetryable(error) {
            // Stale, or taken: nothing was committed.
            forget(Array(reader.served.keys))
            return nil
        } catch let error as PSQLError {
            throw LedgerError(.storage, "ledger transaction failed: \(Self.describe(error))")
        }
        remember(Array(changes.accounts.values))
        return results
    }

    /// Caches accounts as a commit left them (every committed write of this process: a wallet
    /// operation's too, so the next payment from that wallet needs no locked read).
    private func remember(_ accounts: [Account]) {
        accountCache.withLock { cache in
            if cache.count + accounts.count > Self.accountCacheCountMax { cache.removeAll(keepingCapacity: true) }
            for account in accounts { cache[account.id] = account }
        }
    }

    private func forget(_ ids: [String]) {
        accountCache.withLock { cache in for id in ids { cache[id] = nil } }
    }

    public func expirePending(now: Int64) throws -> [String] {
        try ledgerTransaction(now: now) { tx in
            let due = try tx.conn.query("""
                SELECT id FROM pending_transfer WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= \(now)
                ORDER BY expires_at, id LIMIT \(LedgerLimits.batchCountMax) FOR UPDATE SKIP LOCKED
                """, logger: logger).wait().map { try $0.decode(String.self) }
            return try tx.expire(due)
        }
    }

    public func pendingStatus(_ id: String) throws -> PendingStatus? {
        try read { conn in try PostgresReader(conn: conn, logger: logger, lock: false).pendingStatus(id) }
    }

    /// Events in the order their transactions began (`xid`, then `seq`), read only below the
    /// oldest transaction still running, so an event that commits late is never skipped by a
    /// cursor that moved past its `seq` (sequence numbers are handed out before commit, and
    /// transactions commit out of order).
    ///
    /// That horizon is the whole server's: any writer that began earlier, even on another
    /// ledger in the same database, holds back events committed since. So a read first waits
    /// (a few milliseconds, ``eventHorizonWaitMillisMax`` at most) for such writers to finish:
    /// what was committed before the call is returned, as on SQLite.
    public func events(after seq: Int64, account: String?, limit: Int) throws -> [WalletEvent] {
        try read { conn in
            let cursor: PostgresQuery = """
                WITH cursor AS (SELECT COALESCE((SELECT xid::text::numeric FROM wallet_event WHERE seq = \(seq)), -1) AS xid)
                SELECT COUNT(*)::int8 FROM wallet_event e, cursor c
                WHERE (e.xid::text::numeric, e.seq) > (c.xid, \(seq))
                  AND e.xid::text::numeric >= pg_snapshot_xmin(pg_current_snapshot())::text::numeric
                  AND (\(account)::text IS NULL OR e.account = \(account))
                """
            let clock = ContinuousClock()
            let deadline = clock.now + .milliseconds(Self.eventHorizonWaitMillisMax)
            while try conn.query(cursor, logger: logger).wait().first?.decode(Int64.self) ?? 0 > 0 && clock.now < deadline {
                Thread.sleep(forTimeInterval: 0.005)
            }
            let rows = try conn.query("""
                WITH cursor AS (SELECT COALESCE((SELECT xid::text::numeric FROM wallet_event WHERE seq = \(seq)), -1) AS xid)
                SELECT e.seq, e.account, e.transfer, e.kind, e.delta, e.available, e.balance, e.currency, e.created_at
                FROM wallet_event e, cursor c
                WHERE (e.xid::text::numeric, e.seq) > (c.xid, \(seq))
                  AND e.xid::text::numeric < pg_snapshot_xmin(pg_current_snapshot())::text::numeric
                  AND (\(account)::text IS NULL OR e.account = \(account))
                ORDER BY e.xid::text::numeric, e.seq LIMIT \(limit)
                """, logger: logger).wait()
            return try rows.map { row in
                let (s, account, transfer, kind, delta, available, balance, currency, createdAt) =
                    try row.decode((Int64, String, String, String, Int64, Int64, Int64, String, Int64).self)
                return WalletEvent(seq: s, account: account, transfer: transfer, kind: kind,
                                   delta: Money(minorUnits: delta, currency: try PostgresRows.currency(currency, "event \(s)")),
                                   available: available, balance: balance, createdAt: createdAt)
            }
        }
    }

    public func transfer(_ id: String) throws -> Transfer? {
        try read { conn in try PostgresReader(conn: conn, logger: logger, lock: false).transfer(id) }
    }

    public func history(account: String, limit: Int) throws -> [Transfer] {
        try read { conn in
            try conn.query("""
                SELECT \(unescaped: PostgresRows.transferColumns) FROM transfer WHERE debit_account = \(account) OR credit_account = \(account)
                ORDER BY created_at DESC, id DESC LIMIT \(limit)
                """, logger: logger).wait().map(PostgresRows.transfer)
        }
    }

    public func transferIDs() throws -> [String] {
        try read { conn in try conn.query("SELECT id FROM transfer", logger: logger).wait().map { try $0.decode(String.self) } }
    }

    public func audit() throws -> AuditReport {
        try read { conn in try PostgresSchema.audit(conn, logger: logger) }
    }
}
