import Payments

/// How a transfer behaves, as in TigerBeetle (`docs/reference/transfer.md`).
public struct TransferFlags: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// This transfer and the next in the batch apply together or not at all. A chain ends at the
    /// first transfer without the flag: a payment and its fee, an exchange's two legs.
    public static let linked = TransferFlags(rawValue: 1)
    /// A hold: the amount is reserved on both accounts (pending debits and credits) until a later
    /// transfer posts or voids it, or its timeout passes.
    public static let pending = TransferFlags(rawValue: 2)
    /// Posts the pending transfer `pendingID`, for its whole amount or less.
    public static let postPending = TransferFlags(rawValue: 4)
    /// Voids the pending transfer `pendingID`: the hold is released and nothing moves.
    public static let voidPending = TransferFlags(rawValue: 8)

    /// The flags that mark a transfer as the second phase of a two-phase transfer.
    public static let resolving: TransferFlags = [.postPending, .voidPending]
}

/// Where a pending transfer stands. Each pending transfer leaves `.pending` exactly once.
public enum PendingStatus: Sendable, Hashable, Codable {
    case pending
    /// Posted by the transfer with this id.
    case posted(by: String)
    /// Voided by the transfer with this id.
    case voided(by: String)
    /// Its timeout passed (Unix milliseconds when the ledger released it).
    case expired(at: Int64)
}

/// Why the engine refused one transfer of a batch (TigerBeetle's result codes, the ones this
/// ledger can meet). Raw values are part of the contract, like ``Decline``'s.
public enum TransferRefusal: String, Sendable, Hashable, Codable, CaseIterable, Error, CustomStringConvertible {
    /// Another transfer of its linked chain failed, so it did not apply either.
    case linkedEventFailed = "linked_event_failed"
    /// The batch ended inside a linked chain.
    case linkedEventChainOpen = "linked_event_chain_open"
    case idMustNotBeEmpty = "id_must_not_be_empty"
    case flagsAreMutuallyExclusive = "flags_are_mutually_exclusive"
    /// The id was used before by a transfer with other fields: a client bug or a forgery.
    case existsWithDifferentFields = "exists_with_different_fields"
    case accountsMustBeDifferent = "accounts_must_be_different"
    case amountMustBePositive = "amount_must_be_positive"
    case amountAboveLimit = "amount_above_limit"
    case debitAccountNotFound = "debit_account_not_found"
    case creditAccountNotFound = "credit_account_not_found"
    case currencyMismatch = "currency_mismatch"
    case timeoutReservedForPendingTransfer = "timeout_reserved_for_pending_transfer"
    case pendingIDRequired = "pending_id_required"
    case pendingIDReservedForResolving = "pending_id_reserved_for_resolving"
    case pendingTransferNotFound = "pending_transfer_not_found"
    case pendingTransferNotPending = "pending_transfer_not_pending"
    case pendingTransferHasDifferentAccounts = "pending_transfer_has_different_accounts"
    case pendingTransferAlreadyPosted = "pending_transfer_already_posted"
    case pendingTransferAlreadyVoided = "pending_transfer_already_voided"
    case pendingTransferExpired = "pending_transfer_expired"
    case exceedsPendingTransferAmount = "exceeds_pending_transfer_amount"
    case voidMustBeWholeAmount = "void_must_be_whole_amount"
    /// The debit account has the flag debits-must-not-exceed-credits and would break it.
    case exceedsCredits = "exceeds_credits"
    /// The credit account has the flag credits-must-not-exceed-debits and would break it.
    case exceedsDebits = "exceeds_debits"
    case overflow = "overflow"

    public var description: String { rawValue.replacingOccurrences(of: "_", with: " ") }
}

/// What the engine did with one transfer of a batch.
public enum TransferResult: Sendable, Hashable {
    /// Applied now.
    case created(Transfer)
    /// Applied before, with the same fields: the original, unchanged. A retry is a success.
    case exists(Transfer)
    case refused(TransferRefusal)

    /// The transfer as it stands in the ledger, created now or before.
    public var transfer: Transfer? {
        switch self {
        case .created(let t), .exists(let t): t
        case .refused: nil
        }
    }
    public var refusal: TransferRefusal? {
        if case .refused(let r) = self { r } else { nil }
    }
}

/// What the engine reads: the accounts, transfers and pending statuses a batch touches. A store
/// answers from its database inside the transaction the batch runs in (or from a snapshot it
/// loaded there, under the locks it took).
public protocol LedgerReading {
    mutating func account(_ id: String) throws -> Account?
    mutating func transfer(_ id: String) throws -> Transfer?
    mutating func pendingStatus(_ id: String) throws -> PendingStatus?
}

/// What a batch changed, for the store to write in the same transaction: the accounts' new
/// totals, the new transfers in order, and the pending transfers that left `.pending`.
public struct LedgerChanges: Sendable {
    public var accounts: [String: Account] = [:]
    public var transfers: [Transfer] = []
    public var resolved: [String: PendingStatus] = [:]
    /// Each account a change touched, as it stood after that change, in order: what alerts are
    /// made from.
    public var postings: [Posting] = []
    public init() {}
}

/// One account as one change left it.
public struct Posting: Sendable, Hashable {
    /// The transfer, or for an expiry the pending transfer that expired.
    public let transferID: String
    /// The transfer's kind and phase: "payment", "withdrawal:hold", "withdrawal:post",
    /// "withdrawal:void", "withdrawal:expire".
    public let event: String
    /// The account after the change.
    public let account: Account
    /// How much its posted balance moved (0 for a hold, a void or an expiry, which move only
    /// what is available).
    public let delta: Int64
}

/// The ledger's rules, with no storage: TigerBeetle's model of accounts with pending and posted
/// totals, immutable transfers, two-phase transfers with timeouts, linked chains and idempotent
/// ids. Every store runs every change through it, so both stores behave alike by construction.
///
/// The engine works on its own overlay of what it read: a refused transfer, or a chain that
/// fails, leaves no trace, and `changes` holds exactly what the applied ones did.
public struct LedgerEngine<Reader: LedgerReading> {
    public private(set) var reader: Reader
    public private(set) var changes = LedgerChanges()
    private var newTransfers: [String: Transfer] = [:]
    /// While a linked chain is applied: what it changed, to put back if it fails. (A copy of
    /// `changes` taken before the chain would be copied whole at the chain's first change, which
    /// in a long-lived engine, a batch of offline settlements, costs as much as all before it.)
    private var undo: Undo?

    private struct Undo {
        let transfers: Int
        let postings: Int
        /// The accounts and statuses the chain changed, as they were before it (nil: not there).
        var accounts: [String: Account?] = [:]
        var resolved: [String: PendingStatus?] = [:]
    }

    public init(reader: Reader) {
        self.reader = reader
    }

    // MARK: Reading through the overlay

    public mutating func account(_ id: String) throws -> Account? {
        if let changed = changes.accounts[id] { return changed }
        return try reader.account(id)
    }

    public mutating func transfer(_ id: String) throws -> Transfer? {
        if let made = newTransfers[id] { return made }
        return try reader.transfer(id)
    }

    public mutating func pendingStatus(_ id: String) throws -> PendingStatus? {
        if let status = changes.resolved[id] { return status }
        if let made = newTransfers[id] { return made.flags.contains(.pending) ? .pending : nil }
        return try reader.pendingStatus(id)
    }

    // MARK: Applying

    /// Applies `batch` in order and returns one result per transfer. Linked chains apply whole
    /// or not at all. `now` (Unix milliseconds) stamps the new transfers and decides expiry.
    public mutating func apply(_ batch: [Transfer], now: Int64) throws -> [TransferResult] {
        var results: [TransferResult] = []
        results.reserveCapacity(batch.count)
        var index = 0
        while index < batch.count {
            // The chain: from here through the first transfer without `.linked`.
            var end = index
            while end < batch.count - 1 && batch[end].flags.contains(.linked) { end += 1 }
            let chain = batch[index...end]
            if chain.count == 1 && !batch[index].flags.contains(.linked) {
                results.append(try applyOne(batch[index], now: now))
            } else {
                results += try applyChain(Array(chain), open: batch[end].flags.contains(.linked), now: now)
            }
            index = end + 1
        }
        return results
    }

    private mutating func applyChain(_ chain: [Transfer], open: Bool, now: Int64) throws -> [TransferResult] {
        if open {
            return chain.map { _ in .refused(.linkedEventChainOpen) }
        }
        undo = Undo(transfers: changes.transfers.count, postings: changes.postings.count)
        defer { undo = nil }
        var results: [TransferResult] = []
        for transfer in chain {
            let result: TransferResult
            do { result = try applyOne(transfer, now: now) } catch {
                rollBack()
                throw error
            }
            if case .refused(let refusal) = result {
                rollBack()
                return chain.indices.map { $0 == results.count ? .refused(refusal) : .refused(.linkedEventFailed) }
            }
            results.append(result)
        }
        // A chain applied before is reported as existing, whole; half a chain existing means the
        // client changed the chain under the same ids.
        let existing = results.filter { if case .exists = $0 { true } else { false } }.count
        if existing > 0 && existing < results.count {
            rollBack()
            return results.map { if case .exists = $0 { .refused(.existsWithDifferentFields) } else { .refused(.linkedEventFailed) } }
        }
        return results
    }

    /// Puts back what the chain being applied changed.
    private mutating func rollBack() {
        guard let undo else { return }
        for made in changes.transfers[undo.transfers...] { newTransfers[made.id] = nil }
        changes.transfers.removeSubrange(undo.transfers...)
        changes.postings.removeSubrange(undo.postings...)
        for (id, was) in undo.accounts { changes.accounts[id] = was }
        for (id, was) in undo.resolved { changes.resolved[id] = was }
    }

    private mutating func applyOne(_ request: Transfer, now: Int64) throws -> TransferResult {
        guard !request.id.isEmpty else { return .refused(.idMustNotBeEmpty) }
        let flags = request.flags.subtracting(.linked)
        if flags.contains(.pending) && !flags.isDisjoint(with: .resolving) || flags.isSuperset(of: .resolving) {
            return .refused(.flagsAreMutuallyExclusive)
        }
        if let existing = try transfer(request.id) {
            return existing.sameRequest(as: request) ? .exists(existing) : .refused(.existsWithDifferentFields)
        }
        if flags.isDisjoint(with: .resolving) {
            return try create(request, now: now)
        }
        return try resolve(request, now: now)
    }

    /// A single-phase or pending transfer.
    private mutating func create(_ request: Transfer, now: Int64) throws -> TransferResult {
        guard request.pendingID == nil else { return .refused(.pendingIDReservedForResolving) }
        guard request.debitAccount != request.creditAccount else { return .refused(.accountsMustBeDifferent) }
        let amount = request.amount.minorUnits
        guard amount > 0 else { return .refused(.amountMustBePositive) }
        guard amount <= LedgerLimits.transferAmountMax else { return .refused(.amountAboveLimit) }
        let isPending = request.flags.contains(.pending)
        guard isPending || request.timeoutMillis == 0 else { return .refused(.timeoutReservedForPendingTransfer) }
        guard var debit = try account(request.debitAccount) else { return .refused(.debitAccountNotFound) }
        guard var credit = try account(request.creditAccount) else { return .refused(.creditAccountNotFound) }
        guard debit.currency == request.amount.currency, credit.currency == request.amount.currency else {
            return .refused(.currencyMismatch)
        }
        guard let debitsAfter = debit.debitsPending.adding(debit.debitsPosted, amount),
              let creditsAfter = credit.creditsPending.adding(credit.creditsPosted, amount) else {
            return .refused(.overflow)
        }
        if debit.flags.contains(.debitsMustNotExceedCredits) && debitsAfter > debit.creditsPosted {
            return .refused(.exceedsCredits)
        }
        if credit.flags.contains(.creditsMustNotExceedDebits) && creditsAfter > credit.debitsPosted {
            return .refused(.exceedsDebits)
        }
        let before = (debit, credit)
        if isPending {
            debit.debitsPending += amount
            credit.creditsPending += amount
        } else {
            debit.debitsPosted += amount
            credit.creditsPosted += amount
        }
        let made = request.stamped(now)
        record(made, debit: debit, credit: credit, before: before)
        return .created(made)
    }

    /// The second phase: posts (possibly for less) or voids a pending transfer.
    private mutating func resolve(_ request: Transfer, now: Int64) throws -> TransferResult {
        guard let pendingID = request.pendingID else { return .refused(.pendingIDRequired) }
        guard let pending = try transfer(pendingID) else { return .refused(.pendingTransferNotFound) }
        guard pending.flags.contains(.pending) else { return .refused(.pendingTransferNotPending) }
        guard request.debitAccount == pending.debitAccount, request.creditAccount == pending.creditAccount,
              request.amount.currency == pending.amount.currency else {
            return .refused(.pendingTransferHasDifferentAccounts)
        }
        switch try pendingStatus(pendingID) ?? .pending {
        case .posted: return .refused(.pendingTransferAlreadyPosted)
        case .voided: return .refused(.pendingTransferAlreadyVoided)
        case .expired: return .refused(.pendingTransferExpired)
        case .pending: break
        }
        if let expiresAt = pending.holdExpiresAt, now >= expiresAt {
            return .refused(.pendingTransferExpired)
        }
        guard request.timeoutMillis == 0 else { return .refused(.timeoutReservedForPendingTransfer) }
        let held = pending.amount.minorUnits
        let isPost = request.flags.contains(.postPending)
        // An amount of zero means "all of it", as in TigerBeetle.
        let amount = request.amount.minorUnits == 0 ? held : request.amount.minorUnits
        guard amount > 0 else { return .refused(.amountMustBePositive) }
        if isPost {
            guard amount <= held else { return .refused(.exceedsPendingTransferAmount) }
        } else {
            guard amount == held else { return .refused(.voidMustBeWholeAmount) }
        }
        guard var debit = try account(pending.debitAccount), var credit = try account(pending.creditAccount) else {
            throw LedgerError(.storage, "pending transfer \(pendingID) names an account that is gone")
        }
        precondition(debit.debitsPending >= held && credit.creditsPending >= held,
                     "pending transfer \(pendingID) is not held on its accounts")
        let before = (debit, credit)
        debit.debitsPending -= held
        credit.creditsPending -= held
        if isPost {
            debit.debitsPosted += amount
            credit.creditsPosted += amount
        }
        let made = Transfer(id: request.id, kind: pending.kind, debitAccount: pending.debitAccount,
                            creditAccount: pending.creditAccount, amount: Money(minorUnits: amount, currency: pending.amount.currency),
                            flags: request.flags, pendingID: pendingID, timeoutMillis: 0,
                            refundOf: request.refundOf, orderID: request.orderID, memo: request.memo, createdAt: now)
        record(made, debit: debit, credit: credit, before: before)
        if undo != nil, undo!.resolved.index(forKey: pendingID) == nil { undo!.resolved[pendingID] = .some(changes.resolved[pendingID]) }
        changes.resolved[pendingID] = isPost ? .posted(by: request.id) : .voided(by: request.id)
        return .created(made)
    }

    /// Releases the holds of pending transfers whose timeout has passed at `now`. Returns the ids
    /// released; the store finds the candidates (it knows which holds are due).
    public mutating func expire(_ pendingIDs: [String], now: Int64) throws -> [String] {
        var released: [String] = []
        for id in pendingIDs {
            guard let pending = try transfer(id), pending.flags.contains(.pending), let expiresAt = pending.holdExpiresAt,
                  now >= expiresAt, try pendingStatus(id) == .pending else { continue }
            guard var debit = try account(pending.debitAccount), var credit = try account(pending.creditAccount) else {
                throw LedgerError(.storage, "pending transfer \(id) names an account that is gone")
            }
            let held = pending.amount.minorUnits
            precondition(debit.debitsPending >= held && credit.creditsPending >= held, "pending transfer \(id) is not held on its accounts")
            let before = (debit, credit)
            debit.debitsPending -= held
            credit.creditsPending -= held
            post(id, pending.kind.rawValue + ":expire", debit, before: before.0)
            post(id, pending.kind.rawValue + ":expire", credit, before: before.1)
            changes.resolved[id] = .expired(at: now)
            released.append(id)
        }
        return released
    }

    /// Records a transfer and the two accounts as it left them (`before` as it found them).
    private mutating func record(_ transfer: Transfer, debit: Account, credit: Account, before: (Account, Account)) {
        let phase = transfer.flags.contains(.pending) ? ":hold"
            : transfer.flags.contains(.postPending) ? ":post" : transfer.flags.contains(.voidPending) ? ":void" : ""
        post(transfer.id, transfer.kind.rawValue + phase, debit, before: before.0)
        post(transfer.id, transfer.kind.rawValue + phase, credit, before: before.1)
        changes.transfers.append(transfer)
        newTransfers[transfer.id] = transfer
    }

    private mutating func post(_ transferID: String, _ event: String, _ after: Account, before: Account) {
        changes.postings.append(Posting(transferID: transferID, event: event, account: after,
                                        delta: after.balance.minorUnits - before.balance.minorUnits))
        if undo != nil, undo!.accounts.index(forKey: after.id) == nil { undo!.accounts[after.id] = .some(changes.accounts[after.id]) }
        changes.accounts[after.id] = after
    }
}

extension Int64 {
    /// `self + a + b`, or nil on overflow.
    fileprivate func adding(_ a: Int64, _ b: Int64) -> Int64? {
        let (x, o1) = addingReportingOverflow(a)
        let (y, o2) = x.addingReportingOverflow(b)
        return o1 || o2 ? nil : y
    }
}

extension Transfer {
    /// For a pending transfer with a timeout, the instant (Unix milliseconds) from which it can
    /// no longer be posted or voided; nil otherwise.
    public var holdExpiresAt: Int64? {
        flags.contains(.pending) && timeoutMillis > 0 ? createdAt + timeoutMillis : nil
    }

    /// The same request again: every field the client chose matches (the timestamp is the
    /// ledger's, and a post of "all of it" may have been sent as 0).
    func sameRequest(as request: Transfer) -> Bool {
        // A post or void asked with amount 0 means "the whole hold", and is recorded with the
        // amount it moved or released: the same request again matches it (a bank's repeated
        // "returned" was refused as different before).
        let amountMatches = amount == request.amount
            || !flags.isDisjoint(with: .resolving) && request.amount.minorUnits == 0 && request.amount.currency == amount.currency
        return kind == request.kind && debitAccount == request.debitAccount && creditAccount == request.creditAccount
            && amountMatches && flags == request.flags && pendingID == request.pendingID
            && timeoutMillis == request.timeoutMillis && refundOf == request.refundOf && orderID == request.orderID
            && memo == request.memo
    }

    /// This request as the ledger records it, stamped with the ledger's clock.
    func stamped(_ now: Int64) -> Transfer {
        Transfer(id: id, kind: kind, debitAccount: debitAccount, creditAccount: creditAccount, amount: amount, flags: flags,
                 pendingID: pendingID, timeoutMillis: timeoutMillis, refundOf: refundOf, orderID: orderID, memo: memo, createdAt: now)
    }
}

/// A reader over dictionaries: a store's snapshot of what a batch touches, or a whole ledger in
/// memory for tests and simulations.
public struct MemoryLedger: LedgerReading, Sendable {
    public var accounts: [String: Account] = [:]
    public var transfers: [String: Transfer] = [:]
    public var pending: [String: PendingStatus] = [:]
    /// Transfers in the order they were made.
    public var order: [String] = []

    public init() {}

    public mutating func account(_ id: String) -> Account? { accounts[id] }
    public mutating func transfer(_ id: String) -> Transfer? { transfers[id] }
    public mutating func pendingStatus(_ id: String) -> PendingStatus? { pending[id] }

    /// Applies a batch through the engine and keeps what it changed.
    public mutating func apply(_ batch: [Transfer], now: Int64) -> [TransferResult] {
        var engine = LedgerEngine(reader: self)
        // A MemoryLedger's reads never throw.
        let results = try! engine.apply(batch, now: now)
        commit(engine.changes)
        return results
    }

    /// Releases every hold due at `now`.
    public mutating func expire(now: Int64) -> [String] {
        var engine = LedgerEngine(reader: self)
        let due = pending.filter { $0.value == .pending }.map(\.key).sorted()
        let released = try! engine.expire(due, now: now)
        commit(engine.changes)
        return released
    }

    public mutating func commit(_ changes: LedgerChanges) {
        for (id, account) in changes.accounts { accounts[id] = account }
        for transfer in changes.transfers {
            transfers[transfer.id] = transfer
            order.append(transfer.id)
            if transfer.flags.contains(.pending) { pending[transfer.id] = .pending }
        }
        for (id, status) in changes.resolved { pending[id] = status }
    }
}

extension MemoryLedger {
    /// Every invariant of the model, checked from the transfers up: debits equal credits per
    /// currency (posted and pending), no balance past its flag, each account's four totals equal
    /// to the sum of its transfers, and every pending transfer resolved at most once, by a
    /// transfer that names it.
    public func violations() -> [Violation] {
        var found: [Violation] = []
        var totals: [String: (dp: Int64, dd: Int64, cp: Int64, cc: Int64)] = [:]
        for id in accounts.keys { totals[id] = (0, 0, 0, 0) }
        var resolvers: [String: [String]] = [:]
        for id in order {
            guard let t = transfers[id] else {
                found.append(Violation(check: "transfers recorded", detail: "transfer \(id) is listed but missing"))
                continue
            }
            let amount = t.amount.minorUnits
            if t.flags.contains(.pending) {
                if pending[id] == .pending {
                    totals[t.debitAccount]?.dp += amount
                    totals[t.creditAccount]?.cp += amount
                }
            } else if !t.flags.contains(.voidPending) {
                // A void moves nothing: it only releases the hold.
                totals[t.debitAccount]?.dd += amount
                totals[t.creditAccount]?.cc += amount
            }
            if let p = t.pendingID { resolvers[p, default: []].append(id) }
        }
        var sums: [Currency: (d: Int64, c: Int64, dp: Int64, cp: Int64)] = [:]
        for (id, a) in accounts.sorted(by: { $0.key < $1.key }) {
            let t = totals[id]!
            if (a.debitsPending, a.debitsPosted, a.creditsPending, a.creditsPosted) != (t.dp, t.dd, t.cp, t.cc) {
                found.append(Violation(check: "balances match transfers", detail: "account \(id): stored \(a.debitsPending)/\(a.debitsPosted)/\(a.creditsPending)/\(a.creditsPosted), transfers sum to \(t.dp)/\(t.dd)/\(t.cp)/\(t.cc)"))
            }
            if a.flags.contains(.debitsMustNotExceedCredits) && a.debitsPending + a.debitsPosted > a.creditsPosted
                || a.flags.contains(.creditsMustNotExceedDebits) && a.creditsPending + a.creditsPosted > a.debitsPosted {
                found.append(Violation(check: "no balance past its flag", detail: "account \(id)"))
            }
            var s = sums[a.currency] ?? (0, 0, 0, 0)
            s.d += a.debitsPosted; s.c += a.creditsPosted; s.dp += a.debitsPending; s.cp += a.creditsPending
            sums[a.currency] = s
        }
        for (currency, s) in sums where s.d != s.c || s.dp != s.cp {
            found.append(Violation(check: "debits equal credits", detail: "\(currency.code): posted \(s.d)/\(s.c), pending \(s.dp)/\(s.cp)"))
        }
        for (id, status) in pending {
            let by = resolvers[id] ?? []
            switch status {
            case .pending, .expired:
                if !by.isEmpty { found.append(Violation(check: "pending resolved once", detail: "\(id) is \(status) but resolved by \(by)")) }
            case .posted(let r), .voided(let r):
                if by != [r] { found.append(Violation(check: "pending resolved once", detail: "\(id) resolved by \(by), recorded \(r)")) }
            }
        }
        return found
    }
}
