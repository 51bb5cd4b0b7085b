import Barcodes
import Dispatch
import Foundation
import Ledger
import Payments
import Receipts
import Synchronization

/// The till: one sale at a time, for every front end at once. The cashier's screen, the kiosk,
/// the control API a test rig drives and the customer display all work through this: they send
/// commands, read the state, and follow a numbered log of events. Nothing here draws or listens;
/// it runs headless as it is.
///
/// Commands block while the ledger answers (call them off any async executor). The sale's
/// money moves only through ``Checkout``, so every rule of the checkout holds here: one sale
/// id per sale, asked again after a failure rather than charged twice, a receipt per payment.
public final class TillSession: Sendable {
    public enum Phase: String, Sendable, Codable {
        case idle
        /// A sale is open: scan the customer's code, or show the merchant QR.
        case awaitingCode = "awaiting_code"
        /// The merchant QR is shown; the customer's wallet is to pay it.
        case showingQR = "showing_qr"
        case authorizing
        case approved
        case declined
    }

    /// What a front end shows.
    public struct Snapshot: Sendable, Codable, Equatable {
        public var phase: Phase = .idle
        public var saleID: String?
        /// The amount due, in the terminal's currency as decimal text.
        public var amount: String?
        public var currency: String
        /// The merchant QR's EMVCo payload while it is shown.
        public var qrPayload: String?
        /// When the shown QR expires (unix milliseconds).
        public var expiresAt: Int64?
        /// The approved sale's receipt number.
        public var receipt: String?
        /// True when the sale was approved by the offline rules (the ledger settles it later).
        public var offline: Bool?
        /// Why the sale was declined.
        public var reason: String?
        /// The newest event's number.
        public var lastEvent: Int = 0
        /// The ledger server and what waits for it; nil for a till on the embedded ledger.
        public var ledger: LedgerLink?
        /// The receipt printer, once it has been used (or probed); nil without a printer.
        public var printer: Health?
        /// The camera, for a till that scans by itself (the kiosk); nil otherwise.
        public var camera: Health?

        /// This snapshot with no sale: what the till knows of its devices and its ledger stays.
        func cleared(phase: Phase) -> Snapshot {
            var next = Snapshot(phase: phase, currency: currency, lastEvent: lastEvent)
            (next.ledger, next.printer, next.camera) = (ledger, printer, camera)
            return next
        }
    }

    /// The link to the ledger server, and the offline payments that wait for it.
    public struct LedgerLink: Sendable, Codable, Equatable {
        /// Whether the server answered the last time it was asked.
        public var reachable: Bool
        /// Why it did not.
        public var detail: String?
        /// When `reachable` last changed (unix milliseconds).
        public var since: Int64
        /// Payments approved offline and not yet acknowledged by the ledger.
        public var unsynced: Int = 0
        /// How old the oldest of them is, in seconds.
        public var unsyncedAgeSeconds: Int64?
        /// Sales whose answer never came, to be settled with the ledger.
        public var undecided: Int = 0
        /// Set when the till takes no more offline payments until it has synced: why.
        public var offlineClosed: String?
    }

    /// A device's state.
    public struct Health: Sendable, Codable, Equatable {
        public var ok: Bool
        /// What is wrong, or what it is.
        public var detail: String?
        /// When `ok` last changed (unix milliseconds).
        public var since: Int64

        /// The state now, following `was`: `since` moves only when `ok` changes.
        init(ok: Bool, detail: String?, after was: Health?) {
            (self.ok, self.detail) = (ok, detail)
            since = was.flatMap { $0.ok == ok ? $0.since : nil } ?? UnixTime.nowMillis()
        }
    }

    /// What a till working through a ledger server needs: sales go to the server first and fall
    /// back to the offline rules (``Checkout/chargeOnlineFirst(amount:code:journal:online:issuers:policy:lines:saleID:now:)``),
    /// every sale is in the journal before the server is asked, and ``sync()`` forwards what was
    /// taken offline.
    public struct Remote: Sendable {
        public let client: LedgerClient
        public let journal: TerminalJournal
        public let issuers: [OfflinePublicKey]
        public let policy: OfflinePolicy
        /// The server's request window: an unanswered sale is settled once twice this has passed.
        public let requestWindowMillis: Int64

        public init(client: LedgerClient, journal: TerminalJournal, issuers: [OfflinePublicKey], policy: OfflinePolicy,
                    requestWindowMillis: Int64 = 300_000) {
            self.client = client
            self.journal = journal
            self.issuers = issuers
            self.policy = policy
            self.requestWindowMillis = requestWindowMillis
        }
    }

    /// One thing that happened, in order. `kind` is one of: sale_started, no_code, authorizing,
    /// no_answer (the ledger failed; the sale is still open), offline_code_needed (the server
    /// cannot be reached and the code was one-time: the sale stays open under a new id for an
    /// offline code), approved, declined, showing_qr, qr_closed (a code was presented instead),
    /// cancelled, idle, refunded, refund_declined, recovered, printed, print_failed, printer_back,
    /// camera_open, camera_down, camera_back, offline, online, synced, sync_failed, reconciled.
    public struct Event: Sendable, Codable, Equatable {
        public let seq: Int
        /// Unix milliseconds.
        public let at: Int64
        public let kind: String
        public var sale: String?
        public var amount: String?
        public var currency: String?
        public var receipt: String?
        public var reason: String?
        public var payload: String?
        /// For approved and declined: milliseconds from the code (or the QR) to the answer.
        public var millis: Double?
    }

    /// Why a command could not run; the state is unchanged.
    public struct Refused: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public let checkout: Checkout
    public let catalogue: Catalogue?
    /// The ledger server, for a till of a fleet; nil on the embedded ledger.
    public let remote: Remote?
    /// Where approved receipts are printed, if anywhere; a printer failure is an event and
    /// undoes nothing.
    public let printer: (@Sendable (SignedReceipt, _ copy: Bool) throws -> Void)?
    /// The events kept for readers; older ones are dropped (a reader that far behind starts over).
    public static let eventsKept = 10_000

    private struct Inner {
        var snapshot: Snapshot
        var events: [Event] = []
        var lines: [Receipt.Line] = []
        var money: Money?
        var presented: PresentedOrder?
        /// Bumped by every new sale and cancel: a QR watcher for an older one stops.
        var generation = 0
        var waiters: [DispatchSemaphore] = []
        /// The last refund asked whose answer never came, kept to ask again under the same id.
        var unansweredRefund: (number: String, amount: Money, id: String)?
    }

    private let inner: Mutex<Inner>
    /// Held for a whole ``sync()`` round.
    private let syncRound = NSLock()

    public init(checkout: Checkout, catalogue: Catalogue? = nil, remote: Remote? = nil,
                printer: (@Sendable (SignedReceipt, _ copy: Bool) throws -> Void)? = nil) {
        precondition((checkout.ledger == nil) == (remote != nil), "a till works on the embedded ledger or through a server, not both")
        self.checkout = checkout
        self.catalogue = catalogue
        self.remote = remote
        self.printer = printer
        var snapshot = Snapshot(currency: checkout.merchant.currency.code)
        if remote != nil { snapshot.ledger = LedgerLink(reachable: true, since: UnixTime.nowMillis()) }
        inner = Mutex(Inner(snapshot: snapshot))
        refreshLink()
    }

    public var snapshot: Snapshot { inner.withLock { $0.snapshot } }

    /// Events after `seq`, waiting up to `timeout` seconds for one when there are none yet.
    public func events(after seq: Int, timeout: Double = 0) -> [Event] {
        let deadline = DispatchTime.now() + timeout
        while true {
            let semaphore = DispatchSemaphore(value: 0)
            let found = inner.withLock { s -> [Event] in
                let newer = s.events.filter { $0.seq > seq }
                if newer.isEmpty { s.waiters.append(semaphore) }
                return newer
            }
            if !found.isEmpty || timeout <= 0 { return found }
            if semaphore.wait(timeout: deadline) == .timedOut { return [] }
        }
    }

    // MARK: Commands

    /// Opens a sale for `amount`, or for catalogue items (SKU and count) when `amount` is nil.
    /// A sale already decided is put away first; one still open is refused.
    @discardableResult
    public func startSale(amount text: String?, items: [(sku: String, quantity: Int)] = []) throws -> Snapshot {
        var lines: [Receipt.Line] = []
        let money: Money
        if let text {
            guard items.isEmpty else { throw Refused(description: "give an amount or items, not both") }
            do { money = try checkout.amount(text) } catch { throw Refused(description: "\(error)") }
        } else {
            guard let catalogue else { throw Refused(description: "this till has no catalogue: give an amount") }
            guard !items.isEmpty else { throw Refused(description: "give an amount or items") }
            do {
                let basket = try catalogue.basket(items)
                (lines, money) = (basket.lines, try checkout.amount(basket.total.decimalString))
            } catch { throw Refused(description: "\(error)") }
        }
        return try inner.withLock { s throws(Refused) -> Snapshot in
            guard [.idle, .approved, .declined].contains(s.snapshot.phase) else {
                throw Refused(description: "sale \(s.snapshot.saleID ?? "?") is \(s.snapshot.phase.rawValue): finish or cancel it first")
            }
            let id = UUIDv7.make()
            s.generation += 1
            (s.lines, s.money, s.presented) = (lines, money, nil)
            s.snapshot = s.snapshot.cleared(phase: .awaitingCode)
            (s.snapshot.saleID, s.snapshot.amount) = (id, money.decimalString)
            Self.append(&s, kind: "sale_started") { $0.amount = money.decimalString; $0.currency = money.currency.code }
            return s.snapshot
        }
    }

    /// The customer's code, as scanned or typed: charged at the ledger; the answer is the state.
    /// While the merchant QR is shown (a kiosk shows it and scans at once), the QR's order is
    /// closed first: if the customer's wallet paid it in the meantime, that payment stands and
    /// the code is not charged.
    @discardableResult
    public func present(code: String) throws -> Snapshot {
        let (saleID, money, lines, shown) = try inner.withLock { s throws(Refused) -> (String, Money, [Receipt.Line], PresentedOrder?) in
            guard [.awaitingCode, .showingQR].contains(s.snapshot.phase), let id = s.snapshot.saleID, let money = s.money else {
                throw Refused(description: "no sale is waiting for a code (the till is \(s.snapshot.phase.rawValue))")
            }
            let shown = s.snapshot.phase == .showingQR ? s.presented : nil
            s.generation += 1    // a QR watcher stops
            s.snapshot.phase = .authorizing
            Self.append(&s, kind: "authorizing")
            return (id, money, s.lines, shown)
        }
        let began = ContinuousClock.now
        if let shown {
            let closed: SaleResult
            do { closed = try close(shown, reason: "the customer presented a code instead") } catch {
                inner.withLock { s in
                    s.snapshot.phase = .showingQR
                    Self.append(&s, kind: "no_answer") { $0.reason = "\(error)" }
                }
                watch(shown, saleID: saleID, generation: inner.withLock { $0.generation })
                throw Refused(description: "the ledger could not close the shown QR (\(error)); it is still shown")
            }
            if closed.receipt != nil { return finish(closed, saleID: saleID, millis: Self.millis(since: began)) }
            inner.withLock { s in
                (s.snapshot.qrPayload, s.snapshot.expiresAt) = (nil, nil)
                Self.append(&s, kind: "qr_closed") { $0.reason = closed.declineReason }
            }
        }
        let result: SaleResult
        do {
            if let remote {
                result = try checkout.chargeOnlineFirst(amount: money, code: code, journal: remote.journal,
                                                        online: Watched(inner: remote.client, session: self), issuers: remote.issuers,
                                                        policy: remote.policy, lines: lines, saleID: saleID)
            } else {
                result = try checkout.charge(amount: money, code: code, lines: lines, saleID: saleID)
            }
        } catch {
            // No answer (the ledger failed): the sale stays open under the same id, so asking
            // again cannot charge twice.
            inner.withLock { s in
                s.snapshot.phase = .awaitingCode
                Self.append(&s, kind: "no_answer") { $0.reason = "\(error)" }
            }
            refreshLink()
            throw Refused(description: "the ledger gave no answer (\(error)); the sale is still open: scan again")
        }
        defer { refreshLink() }
        if let remote, result.receipt == nil, (try? remote.journal.entry(saleID))??.status == .authorizing {
            // The server could not be reached and the code was one-time: it stays undecided in
            // the journal (the till's sync settles it), and the sale stays open under a new id
            // for an offline code.
            return inner.withLock { s in
                let next = UUIDv7.make()
                (s.snapshot.phase, s.snapshot.saleID) = (.awaitingCode, next)
                Self.append(&s, kind: "offline_code_needed") { $0.reason = result.declineReason; $0.sale = next }
                return s.snapshot
            }
        }
        return finish(result, saleID: saleID, millis: Self.millis(since: began))
    }

    /// A camera frame: the first payment code zbar finds in it is presented; none leaves the
    /// sale waiting, with a `no_code` event.
    @discardableResult
    public func present(frame: LumaFrame) throws -> Snapshot {
        // A scanner per frame: zbar's is not safe to share between threads.
        let texts = CodeScanner().scan(frame).compactMap(\.text)
        guard let code = texts.first(where: { (try? PaymentCode($0)) != nil }) ?? texts.first else {
            return inner.withLock { s in
                Self.append(&s, kind: "no_code") { $0.reason = "no code found in the image" }
                return s.snapshot
            }
        }
        return try present(code: code)
    }

    /// Shows the merchant QR for the open sale instead of scanning; a watcher asks the ledger
    /// until the customer pays, the QR expires, or the cashier cancels.
    @discardableResult
    public func showQR() throws -> Snapshot {
        let (saleID, money, lines, generation) = try inner.withLock { s throws(Refused) -> (String, Money, [Receipt.Line], Int) in
            guard s.snapshot.phase == .awaitingCode, let id = s.snapshot.saleID, let money = s.money else {
                throw Refused(description: "no sale is open to show a QR for (the till is \(s.snapshot.phase.rawValue))")
            }
            return (id, money, s.lines, s.generation)
        }
        let presented: PresentedOrder
        do {
            if let remote {
                presented = try checkout.presentOrder(amount: money, lines: lines, client: remote.client, journal: remote.journal)
            } else {
                presented = try checkout.presentOrder(amount: money, lines: lines)
            }
        } catch {
            refreshLink()
            throw Refused(description: "\(error)" + (remote == nil ? "" : ": take the customer's code instead"))
        }
        let snapshot = inner.withLock { s -> Snapshot? in
            // A code may have been presented, or the sale cancelled, while the order was made.
            guard s.generation == generation, s.snapshot.phase == .awaitingCode else { return nil }
            s.presented = presented
            s.snapshot.phase = .showingQR
            s.snapshot.qrPayload = presented.payload
            s.snapshot.expiresAt = presented.order.expiresAt
            Self.append(&s, kind: "showing_qr") { $0.payload = presented.payload; $0.amount = money.decimalString }
            return s.snapshot
        }
        guard let snapshot else {
            _ = try? close(presented, reason: "the sale moved on before its QR was shown")
            throw Refused(description: "the sale moved on while its QR was being made; the QR was not shown")
        }
        watch(presented, saleID: saleID, generation: generation)
        return snapshot
    }

    /// Asks the ledger about the shown order until it is decided, or the sale moves on.
    private func watch(_ presented: PresentedOrder, saleID: String, generation: Int) {
        let began = ContinuousClock.now
        Thread.detachNewThread { [self] in
            while inner.withLock({ $0.generation == generation && $0.snapshot.phase == .showingQR }) {
                let round = ContinuousClock.now
                let check: Checkout.OrderCheck?
                if let remote {
                    // The server's events say "paid" as it happens; a second's wait a round
                    // keeps a cancel or a new sale from waiting long for this thread.
                    check = try? checkout.checkOrder(presented, client: remote.client, journal: remote.journal, waitSeconds: 1)
                } else {
                    check = try? checkout.checkOrder(presented, now: UnixTime.nowMillis())
                }
                if case .decided(let result)? = check {
                    // Claimed under the lock, so a cancel at the same moment does not also finish it.
                    let claimed = inner.withLock { s -> Bool in
                        guard s.generation == generation, s.snapshot.phase == .showingQR else { return false }
                        s.snapshot.phase = .authorizing
                        return true
                    }
                    if claimed { _ = finish(result, saleID: saleID, millis: Self.millis(since: began)) }
                    return
                }
                // The embedded ledger is a local file: asking it every 25 ms costs a read, and
                // the customer sees "paid" that much sooner. A server that failed at once is
                // asked again after a quarter of a second.
                let pause = Duration.milliseconds(remote == nil ? 25 : 250) - round.duration(to: .now)
                if pause > .zero { Thread.sleep(forTimeInterval: Double(pause / .microseconds(1)) / 1e6) }
            }
        }
    }

    /// Closes a shown order at the ledger: declined with `reason`, or approved if it was paid first.
    private func close(_ presented: PresentedOrder, reason: String) throws -> SaleResult {
        if let remote {
            return try checkout.closeOrder(presented, client: remote.client, journal: remote.journal, reason: reason)
        }
        return try checkout.cancelOrder(presented, reason: reason, now: UnixTime.nowMillis())
    }

    /// Puts the open sale away: declined as cancelled. A shown QR is closed at the ledger first,
    /// and a payment that landed before it stands (the answer is then approved).
    @discardableResult
    public func cancel(reason: String = "cancelled by the cashier") throws -> Snapshot {
        let (saleID, presented) = try inner.withLock { s throws(Refused) -> (String, PresentedOrder?) in
            guard [.awaitingCode, .showingQR].contains(s.snapshot.phase), let id = s.snapshot.saleID else {
                throw Refused(description: "nothing to cancel (the till is \(s.snapshot.phase.rawValue))")
            }
            s.generation += 1
            return (id, s.snapshot.phase == .showingQR ? s.presented : nil)
        }
        guard let presented else { return finish(.declined(reason: reason), saleID: saleID, millis: nil, kind: "cancelled") }
        let result: SaleResult
        do { result = try close(presented, reason: reason) } catch {
            watch(presented, saleID: saleID, generation: inner.withLock { $0.generation })
            throw Refused(description: "the ledger could not close the order (\(error)); it is still shown")
        }
        return finish(result, saleID: saleID, millis: nil, kind: result.receipt == nil ? "cancelled" : nil)
    }

    /// Refunds `amount` of the sale on receipt `number` (this till's receipt book).
    @discardableResult
    public func refund(receipt number: String, amount text: String) throws -> Event {
        guard let book = checkout.book, let entry = try book.entry(number: number) else {
            throw Refused(description: "no receipt \(number) in this till's receipt book")
        }
        guard entry.receipt.receipt.kind == .sale else { throw Refused(description: "receipt \(number) is a refund, not a sale") }
        let money: Money
        do { money = try checkout.amount(text) } catch { throw Refused(description: "\(error)") }
        // A refund whose answer never came is asked again under its first id: if the ledger did
        // make it, it answers with that refund rather than making a second.
        let refundID = inner.withLock { s in
            if let open = s.unansweredRefund, open.number == number, open.amount == money { return open.id }
            let id = UUIDv7.make()
            s.unansweredRefund = (number, money, id)
            return id
        }
        let result: SaleResult
        do {
            if let remote {
                result = try checkout.refund(payment: entry.receipt.receipt.paymentID, amount: money, client: remote.client,
                                             original: entry.receipt.receipt, refundID: refundID)
            } else {
                result = try checkout.refund(payment: entry.receipt.receipt.paymentID, amount: money, refundID: refundID)
            }
        } catch {
            refreshLink()
            throw Refused(description: "the ledger gave no answer to the refund (\(error)): it may or may not be made. "
                + "Refund \(money) of \(number) again: it is asked under the same id, so it is never made twice")
        }
        inner.withLock { $0.unansweredRefund = nil }
        if let receipt = result.receipt { printReceipt(receipt) }
        return inner.withLock { s in
            Self.append(&s, kind: result.receipt == nil ? "refund_declined" : "refunded") {
                $0.receipt = result.receipt?.receipt.number
                $0.amount = money.decimalString
                $0.reason = result.declineReason
            }
            return s.events.last!
        }
    }

    /// Puts a decided sale away: the till is idle (a kiosk's screen goes back to waiting).
    @discardableResult
    public func reset() throws -> Snapshot {
        try inner.withLock { s throws(Refused) -> Snapshot in
            guard [.approved, .declined].contains(s.snapshot.phase) else {
                throw Refused(description: "the till is \(s.snapshot.phase.rawValue), not done with a sale")
            }
            s.generation += 1
            (s.lines, s.money, s.presented) = ([], nil, nil)
            s.snapshot = s.snapshot.cleared(phase: .idle)
            Self.append(&s, kind: "idle")
            return s.snapshot
        }
    }

    /// Makes the receipts of payments this till took and never receipted (it stopped between the
    /// ledger's answer and the receipt: ``Checkout/recoverReceipts(journal:scanLimit:)``), with a
    /// `recovered` event each. Run at start, before the first sale.
    @discardableResult
    public func recoverReceipts() throws -> [SignedReceipt] {
        let made = try checkout.recoverReceipts(journal: remote?.journal)
        inner.withLock { s in
            for receipt in made {
                Self.append(&s, kind: "recovered") {
                    $0.receipt = receipt.receipt.number
                    $0.amount = receipt.receipt.amount.decimalString
                    $0.reason = "payment \(receipt.receipt.paymentID) had no receipt (the till stopped before it was made)"
                }
            }
        }
        return made
    }

    // MARK: The ledger server

    /// One round with the ledger server: the offline payments are forwarded (one try: the next
    /// round is the retry), sales and orders left undecided are settled (a late payment is
    /// refunded), and the link's state is brought up to date. Nothing for a till on the embedded
    /// ledger. A till calls this every few seconds (``startSync(everySeconds:)``).
    public func sync() {
        guard let remote else { return }
        // One round at a time: the sync thread and a rig's `POST /v1/sync` would otherwise send
        // the same batch, and settle the same undecided sale, at once (the ledger takes each
        // once, but a round's report would count what the other did).
        syncRound.lock()
        defer { syncRound.unlock() }
        var forwarder = Forwarder(journal: remote.journal, settler: Watched(inner: remote.client, session: self))
        forwarder.attemptsMax = 1
        forwarder.inFlight = 2
        do {
            let report = try forwarder.forwardAll(sleep: { _ in })
            if report.settled + report.refused > 0 {
                inner.withLock { s in
                    Self.append(&s, kind: "synced") {
                        $0.reason = "\(report.settled) settled, \(report.refused) refused by the ledger, \(report.left) waiting"
                            + report.debts.map { "; \($0.amount) of \($0.payment) is the customer's debt (spent offline past the allowance and the wallet)" }
                                .joined()
                    }
                }
            }
            if report.left == 0, report.settled + report.refused == 0 {
                // Nothing was sent: ask the server something cheap, so the link's state is true.
                do { _ = try remote.client.configuration(); noteLink(reachable: true, detail: nil) } catch {
                    noteLink(reachable: false, detail: "\(error)")
                }
            }
            if inner.withLock({ $0.snapshot.ledger?.reachable == true }), try remote.journal.syncStatus(now: UnixTime.nowMillis()).undecidedCount > 0 {
                let open = inner.withLock { s in Set([s.presented?.order.id].compactMap { $0 }) }
                let orders = try checkout.reconcileOrders(journal: remote.journal, client: remote.client, expiredOnly: true, skipping: open)
                let sales = try checkout.reconcileSales(journal: remote.journal, client: remote.client,
                                                        requestWindowMillis: remote.requestWindowMillis)
                let said = orders.compactMap { r -> String? in
                    switch r {
                    case .closed(let order): "order \(order) closed unpaid"
                    case .refunded(let order, let payment, let refund): "order \(order) was paid (\(payment)) after the till gave up: refunded as \(refund)"
                    case .waiting: nil
                    }
                } + sales.compactMap { r -> String? in
                    switch r {
                    case .voided(let sale): "sale \(sale) never reached the ledger: declined"
                    case .reversed(let sale, let refund): "sale \(sale) was charged but never answered: refunded as \(refund)"
                    case .waiting: nil
                    }
                }
                for line in said { inner.withLock { s in Self.append(&s, kind: "reconciled") { $0.reason = line } } }
            }
        } catch {
            inner.withLock { s in Self.append(&s, kind: "sync_failed") { $0.reason = "\(error)" } }
        }
        refreshLink()
    }

    /// Runs ``sync()`` on a thread of its own every `everySeconds`, for as long as the process.
    public func startSync(everySeconds: Double) {
        guard remote != nil else { return }
        Thread.detachNewThread { [self] in
            while true {
                sync()
                Thread.sleep(forTimeInterval: everySeconds)
            }
        }
    }

    /// Whether the server answered, as a sale or a sync just learned; an event when it changes.
    func noteLink(reachable: Bool, detail: String?) {
        inner.withLock { s in
            guard var link = s.snapshot.ledger else { return }
            let changed = link.reachable != reachable
            link.reachable = reachable
            link.detail = reachable ? nil : detail
            if changed { link.since = UnixTime.nowMillis() }
            s.snapshot.ledger = link
            if changed { Self.append(&s, kind: reachable ? "online" : "offline") { $0.reason = detail } }
        }
    }

    /// Reads what waits in the journal into the snapshot, and whether the offline rules still
    /// take payments (``OfflinePolicy``'s count, amount and age of what waits).
    private func refreshLink() {
        guard let remote, let status = try? remote.journal.syncStatus(now: UnixTime.nowMillis()) else { return }
        let currency = checkout.merchant.currency
        // Whether even the smallest payment would still be taken offline.
        let closed = remote.policy.syncRequired(count: status.unsyncedCount,
                                                total: Money(minorUnits: status.unsyncedAmounts[currency.code] ?? 0, currency: currency),
                                                oldestAgeMillis: status.oldestAgeMillis, adding: 1)
        inner.withLock { s in
            guard var link = s.snapshot.ledger else { return }
            link.unsynced = status.unsyncedCount
            link.unsyncedAgeSeconds = status.oldestAgeMillis.map { $0 / 1000 }
            link.undecided = status.undecidedCount
            link.offlineClosed = closed
            s.snapshot.ledger = link
        }
    }

    // MARK: Devices

    /// The camera's state, as the kiosk's scan loop learns it; an event when it changes.
    public func noteCamera(ok: Bool, detail: String?) {
        inner.withLock { s in
            let was = s.snapshot.camera
            s.snapshot.camera = Health(ok: ok, detail: detail, after: was)
            guard was?.ok != ok else { return }
            Self.append(&s, kind: was == nil && ok ? "camera_open" : ok ? "camera_back" : "camera_down") { $0.reason = detail }
        }
    }

    /// Tries the printer with `probe` while it is failing: once the probe passes, the printer is
    /// ok again (`printer_back`), and the next receipt prints. A receipt that failed is not
    /// printed late for a customer who has gone; it stays in the book for a reprint.
    public func checkPrinter(probe: () throws -> Void) {
        guard inner.withLock({ $0.snapshot.printer?.ok == false }) else { return }
        do { try probe(); notePrinter(ok: true, detail: nil) } catch { notePrinter(ok: false, detail: "\(error)") }
    }

    private func notePrinter(ok: Bool, detail: String?) {
        inner.withLock { s in
            let was = s.snapshot.printer
            s.snapshot.printer = Health(ok: ok, detail: detail, after: was)
            if was?.ok == false, ok { Self.append(&s, kind: "printer_back") }
        }
    }

    // MARK: Private

    private func finish(_ result: SaleResult, saleID: String, millis: Double?, kind: String? = nil) -> Snapshot {
        if let receipt = result.receipt { printReceipt(receipt) }
        return inner.withLock { s in
            let due = s.snapshot.amount
            switch result {
            case .approved(let receipt):
                s.snapshot.phase = .approved
                s.snapshot.receipt = receipt.receipt.number
                s.snapshot.offline = receipt.receipt.authorization == .offline ? true : nil
            case .declined(let reason):
                s.snapshot.phase = .declined
                s.snapshot.reason = reason
            }
            s.snapshot.qrPayload = nil
            s.snapshot.expiresAt = nil
            Self.append(&s, kind: kind ?? (result.receipt == nil ? "declined" : "approved")) {
                $0.sale = saleID
                $0.receipt = result.receipt?.receipt.number
                $0.amount = result.receipt?.receipt.amount.decimalString ?? due
                $0.reason = result.declineReason
                $0.millis = millis
            }
            return s.snapshot
        }
    }

    private func printReceipt(_ receipt: SignedReceipt) {
        guard let printer else { return }
        let number = receipt.receipt.number
        do {
            if let book = checkout.book { try book.print(number: number, with: printer) } else { try printer(receipt, false) }
            notePrinter(ok: true, detail: nil)
            inner.withLock { s in Self.append(&s, kind: "printed") { $0.receipt = number } }
        } catch {
            notePrinter(ok: false, detail: "\(error)")
            inner.withLock { s in Self.append(&s, kind: "print_failed") { $0.receipt = number; $0.reason = "\(error)" } }
        }
    }

    private static func append(_ s: inout Inner, kind: String, _ fill: (inout Event) -> Void = { _ in }) {
        var event = Event(seq: s.snapshot.lastEvent + 1, at: UnixTime.nowMillis(), kind: kind, sale: s.snapshot.saleID)
        fill(&event)
        s.events.append(event)
        if s.events.count > eventsKept { s.events.removeFirst(s.events.count - eventsKept) }
        s.snapshot.lastEvent = event.seq
        for waiter in s.waiters { waiter.signal() }
        s.waiters.removeAll()
    }

    private static func millis(since began: ContinuousClock.Instant) -> Double {
        let d = began.duration(to: .now).components
        return Double(d.seconds) * 1_000 + Double(d.attoseconds) / 1e15
    }
}

/// The server's client, telling the till whether the server answered: a sale or a sync that
/// reached it means the till is online; one that found no server means offline.
private struct Watched: OnlineAuthorizer, OfflineSettler {
    let inner: LedgerClient
    let session: TillSession

    func authorize(id: String, merchant: String, amount: Money, code: String) throws -> OnlineAnswer {
        do {
            let answer = try inner.authorize(id: id, merchant: merchant, amount: amount, code: code)
            session.noteLink(reachable: true, detail: nil)
            return answer
        } catch let unreachable as OnlineAuthorizerUnreachable {
            session.noteLink(reachable: false, detail: unreachable.description)
            throw unreachable
        }
    }

    func settle(_ payments: [ForwardedPayment]) throws -> [String: ForwardAnswer] {
        do {
            let answers = try inner.settle(payments)
            session.noteLink(reachable: true, detail: nil)
            return answers
        } catch {
            session.noteLink(reachable: false, detail: "\(error)")
            throw error
        }
    }
}
