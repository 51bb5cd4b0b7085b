import Payments

/// One database transaction of a store, as the wallet operations see it: reads that see the
/// transaction's own writes, the engine's `apply`, and the few questions the rules ask
/// (a wallet by phone number, what a wallet spent lately). Everything done through it commits
/// together or not at all, so a rule checked here (a daily limit, say) cannot be raced past by
/// a concurrent payment: each store makes its transactions serializable for what they touch.
public protocol LedgerTransaction: AnyObject {
    var now: Int64 { get }
    func account(_ id: String) throws -> Account?
    func transfer(_ id: String) throws -> Transfer?
    func pendingStatus(_ id: String) throws -> PendingStatus?
    /// Runs the batch through ``LedgerEngine`` and writes what it changed.
    func apply(_ batch: [Transfer]) throws -> [TransferResult]
    /// Releases these holds if their timeout has passed (``LedgerEngine/expire(_:now:)``).
    func expire(_ pendingIDs: [String]) throws -> [String]
    /// The wallet registered with this phone number.
    func walletID(phone: String) throws -> String?
    /// How many transfers of `kinds` debited `account` from `since` on (pending holds
    /// included, voided ones not), and their sum.
    func debits(of account: String, kinds: Set<TransferKind>, since: Int64) throws -> (count: Int, sum: Int64)
    /// How much the corrections of `transfer` have moved back so far (``WalletOperations/correct(requestID:transfer:amount:reason:now:)``):
    /// the transfers of kind correction from its credit account to its debit account whose memo
    /// begins with ``WalletOperations/correctionMemoPrefix(_:)``, from a day before it on
    /// (``WalletOperations/correctionClockSlackMillis``: none is made earlier).
    /// PostgreSQL locks the account they debit first, so two corrections of one transfer are
    /// judged one after the other.
    func corrected(_ transfer: Transfer) throws -> Int64
    /// The decline stored for a wallet request, with the request's fingerprint.
    func storedDecline(_ requestID: String) throws -> (fingerprint: String, decline: Decline)?
    func recordDecline(requestID: String, fingerprint: String, wallet: String?, decline: Decline) throws
    /// Declined requests of `wallet` from `since` on (they count towards velocity).
    func declineCount(of wallet: String, since: Int64) throws -> Int
    /// Creates the account if it does not exist (the exchange desk, the fee account, a biller),
    /// with the flags of its kind.
    func ensureAccount(id: String, kind: AccountKind, currency: Currency, name: String) throws
    /// The payments that used the offline code numbered `counter` under certificate `serial`
    /// (the ledger's counter registry: a phone shows each counter once).
    func offlineCounterUses(serial: String, counter: Int64) throws -> [String]
    /// Records that `payment` used that code (again, for a payment already recorded, is a no-op).
    func recordOfflineCounter(serial: String, counter: Int64, payment: String) throws
    /// The reservations (their transfers) of the offline allowance accounts that still hold
    /// money, at most `limit`.
    func heldOfflineReservations(limit: Int) throws -> [Transfer]
    /// Runs `body` with every ``apply(_:)`` in it going through one engine whose changes are
    /// written once, when `body` returns: many small applies in a row (a terminal's batch of
    /// offline payments) then update an account they share once, not once each. Inside,
    /// ``account(_:)``, ``transfer(_:)`` and ``pendingStatus(_:)`` see the engine's changes; the
    /// other questions (``debits(of:kinds:since:)``, ``heldOfflineReservations(limit:)``) ask
    /// the database, which has not seen them yet, so `body` must not use them. A store may run
    /// `body` as it is (each apply written at once): the outcome is the same.
    func deferringWrites<T>(_ body: () throws -> T) throws -> T
}

extension LedgerTransaction {
    /// Offline allowance accounts are named `off_…` (``WalletOperations/offlineAllowanceAccount(_:)``):
    /// this id range holds exactly them ("`" follows "_").
    public static var offlineAccountRange: (from: String, below: String) { ("off_", "off`") }
}

/// A store that can run a ``LedgerTransaction``.
public protocol TransactionalLedgerStore: LedgerCore {
    /// Runs `body` in one write transaction at `now`, committing when it returns and rolling
    /// back when it throws.
    func transaction<T>(now: Int64, _ body: (any LedgerTransaction) throws -> T) throws -> T
}
