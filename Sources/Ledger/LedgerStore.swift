import Payments

/// What every store of the ledger does, SQLite and PostgreSQL alike: accounts, the engine's
/// transfers (``LedgerEngine``), holds that expire, wallet events, reading and the audit. The
/// wallet operations (``WalletOperations``) are built on this and ``TransactionalLedgerStore``.
///
/// Every method that moves money takes ids made by the caller (UUIDv7): a repeated id returns
/// the first outcome instead of applying twice. `now` is injected (Unix milliseconds) so expiry
/// rules are testable without a real clock.
public protocol LedgerCore: Sendable {
    func createWallet(name: String, phone: String?, currency: Currency, now: Int64) throws -> Account
    func createMerchant(name: String, city: String, categoryCode: String, countryCode: String,
                        currency: Currency, now: Int64) throws -> Merchant
    func account(_ id: String) throws -> Account?
    func merchant(_ id: String) throws -> Merchant?
    func wallet(phone: String) throws -> Account?
    /// A deposit that is final at once: cash at the counter, or a bank deposit already
    /// confirmed (one that waits for the bank is ``WalletOperations/bankDeposit(requestID:wallet:amount:now:)``).
    func deposit(requestID: String, wallet: String, amount: Money, source: DepositSource, now: Int64) throws -> Outcome

    /// Applies transfers as the engine takes them (``LedgerEngine``), in one transaction: the
    /// low-level interface under every wallet operation, and a journal upload's.
    func createTransfers(_ batch: [Transfer], now: Int64) throws -> [TransferResult]
    /// Releases the holds whose timeout has passed at `now` (up to a batch of them); returns
    /// their ids.
    func expirePending(now: Int64) throws -> [String]
    func pendingStatus(_ id: String) throws -> PendingStatus?
    /// Wallet events after `seq` (of one account, or all), oldest first.
    func events(after seq: Int64, account: String?, limit: Int) throws -> [WalletEvent]

    func transfer(_ id: String) throws -> Transfer?
    /// Transfers touching `account`, newest first.
    func history(account: String, limit: Int) throws -> [Transfer]
    /// Every transfer's id, in no particular order (for rigs and crash tests).
    func transferIDs() throws -> [String]
    /// Checks every invariant over the whole ledger.
    func audit() throws -> AuditReport
}

/// The checkout's side of the ledger on top of the core: one-time customer codes, merchant-QR
/// orders, charges and refunds, each one transaction that posts one balanced transfer or
/// records a decline, the decline too being the request's final outcome. Both stores have it
/// (the same tests run on each).
public protocol LedgerStore: LedgerCore {
    func withdraw(requestID: String, wallet: String, amount: Money, now: Int64) throws -> Outcome

    /// Issues a fresh one-time code for `wallet`, valid for `validityMillis`.
    func issueCode(wallet: String, validityMillis: Int64, now: Int64) throws -> IssuedCode
    /// Charges the wallet behind `code` for `amount` into `merchant`. A code is spent by its first
    /// charge, approved or declined, as Alipay's are.
    func charge(requestID: String, code: PaymentCode, merchant: String, amount: Money, memo: String, now: Int64) throws -> Outcome

    func createOrder(id: String, merchant: String, amount: Money, terminalID: String, expiresAt: Int64, now: Int64) throws -> Order
    func order(_ id: String, now: Int64) throws -> Order?
    /// Closes an unpaid order so it can never be paid (the terminal stopped waiting), and returns
    /// it as it stands: if a payment won the race it is returned `paid`, and the sale stands.
    func cancelOrder(_ id: String, now: Int64) throws -> Order
    /// Pays an open order from `wallet`; `amount` and `merchant` are what the customer's QR said,
    /// and must match the order.
    func payOrder(requestID: String, orderID: String, wallet: String, merchant: String, amount: Money, now: Int64) throws -> Outcome

    /// Refunds part or all of a payment to `merchant`, back to the wallet that paid it.
    func refund(requestID: String, payment: String, merchant: String, amount: Money, now: Int64) throws -> Outcome
}
