import Ledger
import Logging
import Payments
import PostgresNIO

/// The checkout's side of the PostgreSQL ledger, as the SQLite ledger has it: one-time codes,
/// merchant-presented orders, charges, refunds and withdrawals, each one transaction whose first
/// outcome (posted or declined) is kept under its request id.
///
/// SQLite has one writer at a time; here concurrent transactions are kept apart by row locks
/// (`FOR UPDATE` on the code and the order) and by transaction-scoped advisory locks on the
/// request id and on the payment a refund takes from, so a rule checked here holds until the
/// commit.
extension PostgresLedger: LedgerStore {
    public func withdraw(requestID: String, wallet: String, amount: Money, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        return try request(requestID, fingerprint: "withdraw|\(wallet)|\(amount)", now: now) { tx in
            guard let account = try tx.account(wallet), account.kind == .wallet else { return .declined(.accountUnknown) }
            guard account.currency == amount.currency else { return .declined(.currencyMismatch) }
            let settlement = WalletOperations.settlementAccount(amount.currency)
            try tx.ensureAccount(id: settlement, kind: .settlement, currency: amount.currency, name: "Settlement (bank and cash) \(amount.currency.code)")
            return try post(tx, [Transfer(id: requestID, kind: .withdrawal, debitAccount: wallet, creditAccount: settlement, amount: amount,
                                          refundOf: nil, orderID: nil, memo: "bank", createdAt: now)])
        }
    }

    // MARK: Customer-presented codes

    public func issueCode(wallet: String, validityMillis: Int64, now: Int64) throws -> IssuedCode {
        precondition(validityMillis > 0, "a code is valid for some time")
        let key = try codeKey()
        return try ledgerTransaction(now: now) { tx in
            guard let account = try tx.account(wallet), account.kind == .wallet else { throw LedgerError(.notFound, "no wallet \(wallet)") }
            var rng = SystemRandomNumberGenerator()
            // A collision with a live code is astronomically unlikely; loop anyway rather than
            // hand one customer's code to another.
            while true {
                let code = PaymentCode.random(using: &rng)
                let made = try tx.conn.query("""
                    INSERT INTO payment_code (digest, wallet, issued_at, expires_at) VALUES (\(code.digest(key: key)), \(wallet), \(now), \(now + validityMillis))
                    ON CONFLICT (digest) DO NOTHING RETURNING digest
                    """, logger: logger).wait()
                if made.first != nil { return IssuedCode(code: code, walletID: wallet, expiresAt: now + validityMillis) }
            }
        }
    }

    public func charge(requestID: String, code: PaymentCode, merchant: String, amount: Money, memo: String, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        let digest = code.digest(key: try codeKey())
        let fingerprint = "charge|\(digest)|\(merchant)|\(amount)"
        return try request(requestID, fingerprint: fingerprint, now: now) { tx in
            // The terminal's own mistakes (unknown merchant, wrong currency) leave the code unspent.
            guard let m = try tx.account(merchant), m.kind == .merchant else { return .declined(.accountUnknown) }
            guard m.currency == amount.currency else { return .declined(.currencyMismatch) }
            guard let row = try tx.conn.query("SELECT wallet, expires_at, used_by FROM payment_code WHERE digest = \(digest) FOR UPDATE",
                                              logger: logger).wait().first else { return .declined(.codeUnknown) }
            let (wallet, expiresAt, usedBy) = try row.decode((String, Int64, String?).self)
            if usedBy != nil { return .declined(.codeUsed) }
            if now >= expiresAt { return .declined(.codeExpired) }
            // Spent now, whatever follows: a code is good for one presentation only.
            _ = try tx.conn.query("UPDATE payment_code SET used_by = \(requestID) WHERE digest = \(digest)", logger: logger).wait()
            return try pay(tx, fingerprint: fingerprint, Transfer(id: requestID, kind: .payment, debitAccount: wallet, creditAccount: merchant,
                                                                  amount: amount, refundOf: nil, orderID: nil, memo: memo, createdAt: now))
        }
    }

    // MARK: Merchant-presented orders

    public func createOrder(id: String, merchant: String, amount: Money, terminalID: String, expiresAt: Int64, now: Int64) throws -> Order {
        try checkPositive(amount)
        guard expiresAt > now else { throw LedgerError(.invalidRequest, "an order must expire after it is made") }
        return try ledgerTransaction(now: now) { tx in
            guard let m = try tx.account(merchant), m.kind == .merchant else { throw LedgerError(.notFound, "no merchant \(merchant)") }
            guard m.currency == amount.currency else {
                throw LedgerError(.invalidRequest, "merchant \(merchant) takes \(m.currency.code), not \(amount.currency.code)")
            }
            _ = try tx.conn.query("""
                INSERT INTO merchant_order (id, merchant, amount, currency, terminal, created_at, expires_at)
                VALUES (\(id), \(merchant), \(amount.minorUnits), \(amount.currency.code), \(terminalID), \(now), \(expiresAt))
                ON CONFLICT (id) DO NOTHING
                """, logger: logger).wait()
            let order = try loadOrder(tx.conn, id, now: now, lock: true)!
            // Idempotent like every request: the same order again is the same order.
            guard order.merchantID == merchant, order.amount == amount, order.terminalID == terminalID, order.expiresAt == expiresAt else {
                throw LedgerError(.idConflict, "order \(id) already exists with other fields")
            }
            return order
        }
    }

    public func order(_ id: String, now: Int64) throws -> Order? {
        try read { conn in try loadOrder(conn, id, now: now, lock: false) }
    }

    public func cancelOrder(_ id: String, now: Int64) throws -> Order {
        try ledgerTransaction(now: now) { tx in
            guard let order = try loadOrder(tx.conn, id, now: now, lock: true) else { throw LedgerError(.notFound, "no order \(id)") }
            if order.paymentID == nil {
                _ = try tx.conn.query("UPDATE merchant_order SET cancelled_at = COALESCE(cancelled_at, \(now)) WHERE id = \(id)", logger: logger).wait()
            }
            return try loadOrder(tx.conn, id, now: now, lock: false)!
        }
    }

    public func payOrder(requestID: String, orderID: String, wallet: String, merchant: String, amount: Money, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        let fingerprint = "pay|\(orderID)|\(wallet)|\(merchant)|\(amount)"
        return try request(requestID, fingerprint: fingerprint, now: now) { tx in
            guard let order = try loadOrder(tx.conn, orderID, now: now, lock: true) else { return .declined(.orderUnknown) }
            if let refusal = order.refusal(merchant: merchant, amount: amount) { return .declined(refusal) }
            guard let w = try tx.account(wallet), w.kind == .wallet else { return .declined(.accountUnknown) }
            guard w.currency == amount.currency else { return .declined(.currencyMismatch) }
            let result = try pay(tx, fingerprint: fingerprint, Transfer(id: requestID, kind: .payment, debitAccount: wallet, creditAccount: merchant,
                                                                        amount: amount, refundOf: nil, orderID: orderID, memo: "order \(orderID)",
                                                                        createdAt: now))
            if case .posted = result {
                let marked = try tx.conn.query("UPDATE merchant_order SET payment = \(requestID) WHERE id = \(orderID) AND payment IS NULL RETURNING id",
                                               logger: logger).wait()
                guard marked.first != nil else { throw LedgerError(.storage, "order \(orderID) was paid twice") }
            }
            return result
        }
    }

    // MARK: Refunds

    public func refund(requestID: String, payment: String, merchant: String, amount: Money, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        return try request(requestID, fingerprint: "refund|\(payment)|\(merchant)|\(amount)", now: now) { tx in
            // Two refunds of one payment at once: the second waits, then sees the first's.
            _ = try tx.conn.query("SELECT pg_advisory_xact_lock(hashtextextended(\("refund:" + payment), 0))", logger: logger).wait()
            let parts = try WalletOperations.paymentParts(payment).compactMap { try tx.transfer($0) }
            guard !parts.isEmpty, parts.allSatisfy({ $0.kind == .payment }) else { return .declined(.notAPayment) }
            guard parts.allSatisfy({ $0.creditAccount == merchant }) else { return .declined(.merchantMismatch) }
            guard parts[0].amount.currency == amount.currency else { return .declined(.currencyMismatch) }
            guard let legs = try WalletOperations.refundLegs(
                requestID: requestID, payment: payment, parts: parts, merchant: merchant, amount: amount,
                refunded: { part in
                    try tx.conn.query("SELECT COALESCE(SUM(amount), 0)::int8 FROM transfer WHERE refund_of = \(part)", logger: logger)
                        .wait().first!.decode(Int64.self)
                },
                allowanceOwner: { account in
                    try tx.conn.query("""
                        SELECT debit_account FROM transfer WHERE credit_account = \(account) AND kind = 'transfer' ORDER BY created_at, id LIMIT 1
                        """, logger: logger).wait().first?.decode(String.self)
                }, now: now) else { return .declined(.refundExceedsPayment) }
            return try post(tx, legs)
        }
    }

    // MARK: Private

    private func checkPositive(_ amount: Money) throws {
        guard amount.minorUnits > 0, amount.minorUnits <= LedgerLimits.transferAmountMax else {
            throw LedgerError(.invalidRequest, "amount must be positive and within the ledger's limit, not \(amount)")
        }
    }

    /// The key one-time codes are kept under (by digest only), made with the schema.
    private func codeKey() throws -> [UInt8] {
        try read { conn in
            guard let row = try conn.query("SELECT code_key FROM ledger_secret WHERE id = 1", logger: logger).wait().first else {
                throw LedgerError(.storage, "the ledger has lost its code key")
            }
            return Array(try row.decode(ByteBuffer.self).readableBytesView)
        }
    }

    /// One request: its first outcome, kept under its id (a retry gets it again; the same id
    /// with other fields is an id conflict). Requests with one id run one at a time.
    private func request(_ id: String, fingerprint: String, now: Int64, decide: (PostgresTransaction) throws -> Outcome.Result) throws -> Outcome {
        guard !id.isEmpty, id.count <= 64 else { throw LedgerError(.invalidRequest, "a request id is 1 to 64 characters") }
        return try ledgerTransaction(now: now) { tx in
            _ = try tx.conn.query("SELECT pg_advisory_xact_lock(hashtextextended(\("request:" + id), 0))", logger: logger).wait()
            if let row = try tx.conn.query("SELECT fingerprint, transfer_id, decline FROM request WHERE id = \(id)", logger: logger).wait().first {
                let (stored, transferID, decline) = try row.decode((String, String?, String?).self)
                guard stored == fingerprint else { throw LedgerError(.idConflict, "request \(id) was already made with other fields") }
                if let transferID {
                    guard let transfer = try tx.transfer(transferID) else {
                        throw LedgerError(.storage, "request \(id) points at a missing transfer \(transferID)")
                    }
                    return Outcome(requestID: id, result: .posted(transfer), replayed: true)
                }
                guard let decline = decline.flatMap(Decline.init(rawValue:)) else { throw LedgerError(.storage, "request \(id) has an unknown decline") }
                return Outcome(requestID: id, result: .declined(decline), replayed: true)
            }
            let result = try decide(tx)
            switch result {
            case .posted(let transfer):
                _ = try tx.conn.query("""
                    INSERT INTO request (id, fingerprint, transfer_id, created_at) VALUES (\(id), \(fingerprint), \(transfer.id), \(now))
                    """, logger: logger).wait()
            case .declined(let decline):
                _ = try tx.conn.query("""
                    INSERT INTO request (id, fingerprint, decline, created_at) VALUES (\(id), \(fingerprint), \(decline.rawValue), \(now))
                    """, logger: logger).wait()
            }
            return Outcome(requestID: id, result: result, replayed: false)
        }
    }

    /// A payment from a wallet to a merchant, judged by the wallet's limits first (``WalletOperations/payment(_:_:fingerprint:limits:post:)``);
    /// ``PostgresTransaction/debits(of:kinds:since:)`` locks the wallet, so two payments of one
    /// wallet are judged one after the other.
    private func pay(_ tx: PostgresTransaction, fingerprint: String, _ payment: Transfer) throws -> Outcome.Result {
        try WalletOperations.payment(tx, payment, fingerprint: fingerprint, limits: walletLimits(payment.amount.currency)) {
            try post(tx, [payment])
        }
    }

    /// Applies a linked chain (or one transfer) and maps the engine's answer to an outcome.
    private func post(_ tx: PostgresTransaction, _ chain: [Transfer]) throws -> Outcome.Result {
        try Outcome.Result(chain: try tx.apply(chain), id: chain[0].id) { try tx.account(chain[0].debitAccount)?.kind }
    }

    private func loadOrder(_ conn: PostgresConnection, _ id: String, now: Int64, lock: Bool) throws -> Order? {
        guard let row = try conn.query("""
            SELECT id, merchant, amount, currency, terminal, created_at, expires_at, payment, cancelled_at
            FROM merchant_order WHERE id = \(id)\(unescaped: lock ? " FOR UPDATE" : "")
            """, logger: logger).wait().first else { return nil }
        let (orderID, merchant, amount, currency, terminal, createdAt, expiresAt, payment, cancelledAt) =
            try row.decode((String, String, Int64, String, String, Int64, Int64, String?, Int64?).self)
        let status: Order.Status = payment != nil ? .paid : (cancelledAt != nil || now >= expiresAt) ? .expired : .open
        return Order(id: orderID, merchantID: merchant, amount: Money(minorUnits: amount, currency: try PostgresRows.currency(currency, "order \(orderID)")),
                     terminalID: terminal, createdAt: createdAt, expiresAt: expiresAt, paymentID: payment, status: status)
    }
}
