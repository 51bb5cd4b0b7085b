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
        /// Why the sale was declined.
        public var reason: String?
        /// The newest event's number.
        public var lastEvent: Int = 0
    }

    /// One thing that happened, in order. `kind` is one of: sale_started, no_code, authorizing,
    /// no_answer (the ledger failed; the sale is still open), approved, declined, showing_qr,
    /// cancelled, refunded, refund_declined, printed, print_failed.
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
    }

    private let inner: Mutex<Inner>

    public init(checkout: Checkout, catalogue: Catalogue? = nil, printer: (@Sendable (SignedReceipt, _ copy: Bool) throws -> Void)? = nil) {
        self.checkout = checkout
        self.catalogue = catalogue
        self.printer = printer
        inner = Mutex(Inner(snapshot: Snapshot(currency: checkout.merchant.currency.code)))
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
            s.snapshot = Snapshot(phase: .awaitingCode, saleID: id, amount: money.decimalString, currency: money.currency.code,
                                  lastEvent: s.snapshot.lastEvent)
            Self.append(&s, kind: "sale_started") { $0.amount = money.decimalString; $0.currency = money.currency.code }
            return s.snapshot
        }
    }

    /// The customer's code, as scanned or typed: charged at the ledger; the answer is the state.
    @discardableResult
    public func present(code: String) throws -> Snapshot {
        let (saleID, money, lines) = try inner.withLock { s throws(Refused) -> (String, Money, [Receipt.Line]) in
            guard s.snapshot.phase == .awaitingCode, let id = s.snapshot.saleID, let money = s.money else {
                throw Refused(description: "no sale is waiting for a code (the till is \(s.snapshot.phase.rawValue))")
            }
            s.snapshot.phase = .authorizing
            Self.append(&s, kind: "authorizing")
            return (id, money, s.lines)
        }
        let began = ContinuousClock.now
        let result: SaleResult
        do {
            result = try checkout.charge(amount: money, code: code, lines: lines, saleID: saleID)
        } catch {
            // No answer (the ledger failed): the sale stays open under the same id, so asking
            // again cannot charge twice.
            inner.withLock { s in
                s.snapshot.phase = .awaitingCode
                Self.append(&s, kind: "no_answer") { $0.reason = "\(error)" }
            }
            throw Refused(description: "the ledger gave no answer (\(error)); the sale is still open: scan again")
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
        let (saleID, money, generation) = try inner.withLock { s throws(Refused) -> (String, Money, Int) in
            guard s.snapshot.phase == .awaitingCode, let id = s.snapshot.saleID, let money = s.money else {
                throw Refused(description: "no sale is open to show a QR for (the till is \(s.snapshot.phase.rawValue))")
            }
            return (id, money, s.generation)
        }
        let presented: PresentedOrder
        do { presented = try checkout.presentOrder(amount: money) } catch { throw Refused(description: "\(error)") }
        let snapshot = inner.withLock { s in
            s.presented = presented
            s.snapshot.phase = .showingQR
            s.snapshot.qrPayload = presented.payload
            s.snapshot.expiresAt = presented.order.expiresAt
            Self.append(&s, kind: "showing_qr") { $0.payload = presented.payload; $0.amount = money.decimalString }
            return s.snapshot
        }
        let began = ContinuousClock.now
        Thread.detachNewThread { [self] in
            while true {
                guard inner.withLock({ $0.generation == generation && $0.snapshot.phase == .showingQR }) else { return }
                let check = try? checkout.checkOrder(presented, now: UnixTime.nowMillis())
                if case .decided(let result)? = check {
                    let current = inner.withLock { $0.generation == generation && $0.snapshot.phase == .showingQR }
                    if current { _ = finish(result, saleID: saleID, millis: Self.millis(since: began)) }
                    return
                }
                // The embedded ledger is a local file: asking it every 25 ms costs a read, and the
                // customer sees "paid" that much sooner.
                Thread.sleep(forTimeInterval: 0.025)
            }
        }
        return snapshot
    }

    /// Puts the open sale away: declined as cancelled. A shown QR is closed at the ledger first,
    /// and a payment that landed before it stands (the answer is then approved).
    @discardableResult
    public func cancel() throws -> Snapshot {
        let (saleID, presented) = try inner.withLock { s throws(Refused) -> (String, PresentedOrder?) in
            guard [.awaitingCode, .showingQR].contains(s.snapshot.phase), let id = s.snapshot.saleID else {
                throw Refused(description: "nothing to cancel (the till is \(s.snapshot.phase.rawValue))")
            }
            s.generation += 1
            return (id, s.snapshot.phase == .showingQR ? s.presented : nil)
        }
        let reason = "cancelled by the cashier"
        guard let presented else { return finish(.declined(reason: reason), saleID: saleID, millis: nil, kind: "cancelled") }
        let result: SaleResult
        do { result = try checkout.cancelOrder(presented, reason: reason, now: UnixTime.nowMillis()) } catch {
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
        let result = try checkout.refund(payment: entry.receipt.receipt.paymentID, amount: money)
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

    // MARK: Private

    private func finish(_ result: SaleResult, saleID: String, millis: Double?, kind: String? = nil) -> Snapshot {
        if let receipt = result.receipt { printReceipt(receipt) }
        return inner.withLock { s in
            let due = s.snapshot.amount
            switch result {
            case .approved(let receipt):
                s.snapshot.phase = .approved
                s.snapshot.receipt = receipt.receipt.number
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
            inner.withLock { s in Self.append(&s, kind: "printed") { $0.receipt = number } }
        } catch {
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
