import Foundation
import Ledger
import Payments
import Receipts

/// Merchant-presented sales through a ledger server: the order made there, its payment learned
/// from the server's events (polling when they fail), and Alipay's rule at the end of the wait:
/// ask, then cancel. What the terminal could not settle with the ledger stays undecided in the
/// journal, and ``reconcileOrders(journal:client:now:)`` settles it later: a payment that landed
/// after the terminal gave up is refunded.
extension Checkout {
    /// Opens the order at the ledger server and makes its QR payload. The sale is in the journal
    /// (id = the order id), and its basket's `lines` in the receipt book, before the server is asked.
    public func presentOrder(amount: Money, lines: [Receipt.Line] = [], client: LedgerClient, journal: TerminalJournal,
                             orderID: String? = nil, now: Int64 = UnixTime.nowMillis()) throws -> PresentedOrder {
        let (id, qr, expiresAt) = try orderQR(amount: amount, lines: lines, orderID: orderID, now: now)
        try journal.begin(id: id, terminal: terminalID, merchant: merchant.id, method: .merchantQR, amount: amount, now: now)
        let made: Order
        do {
            guard let order = try client.createOrder(NewOrderWire(id: id, amount: amount.minorUnits, currency: amount.currency.code,
                                                                  expiresAt: expiresAt)).order else {
                throw CheckoutError("the ledger server described order \(id) in a way this terminal does not read")
            }
            made = order
        } catch {
            // No QR was shown, so nobody can pay an order the server may have made.
            try journal.decide(id: id, approved: false, decline: "the order could not be made at the ledger: \(error)", now: now)
            throw CheckoutError("the order could not be made at the ledger: \(error)")
        }
        return PresentedOrder(order: made, qr: qr, payload: qr.merchantQR.encoded())
    }

    /// Waits for the customer to pay, at most `waitMillis` (default: until the order expires),
    /// then asks the ledger and cancels an unpaid order. A payment that won the race against the
    /// cancel stands (the terminal learns it before it says anything). If the ledger cannot be
    /// reached to close the order, the sale is declined and stays undecided in the journal.
    public func awaitPayment(of presented: PresentedOrder, client: LedgerClient, journal: TerminalJournal, waitMillis: Int64? = nil,
                             now: () -> Int64 = UnixTime.nowMillis,
                             sleep: (Int64) -> Void = { Thread.sleep(forTimeInterval: Double($0) / 1000) }) throws -> SaleResult {
        let deadline = min(presented.order.expiresAt, now() + (waitMillis ?? .max / 4))
        while now() < deadline {
            let began = now()
            if case .decided(let result) = try checkOrder(presented, client: client, journal: journal,
                                                          waitSeconds: Double(deadline - began) / 1000, now: now) {
                return result
            }
            // The events broke off at once: ask again after the poll interval, not in a spin.
            if now() - began < limits.orderPollIntervalMillis { sleep(min(limits.orderPollIntervalMillis, max(1, deadline - now()))) }
        }
        return try closeOrder(presented, client: client, journal: journal, reason: Decline.orderExpired.description, now: now())
    }

    /// Asks the ledger server once about a presented order, following its events for up to
    /// `waitSeconds` first (asking plainly when they break off): paid (the receipt), expired
    /// (closed by ``closeOrder(_:client:journal:reason:now:)``), or still open. A server that
    /// cannot be reached leaves it open until it expires.
    public func checkOrder(_ presented: PresentedOrder, client: LedgerClient, journal: TerminalJournal, waitSeconds: Double,
                           now: () -> Int64 = UnixTime.nowMillis) throws -> OrderCheck {
        let id = presented.order.id
        let expiresAt = presented.order.expiresAt
        let wait = min(waitSeconds, Double(max(0, expiresAt - now())) / 1000)
        var heard = wait > 0 ? try? client.watchOrder(id, seconds: wait) : nil
        if heard?.status != "paid" { heard = try? client.order(id) }
        if let heard, heard.status == "paid" { return .decided(try settled(heard, journal: journal, now: now())) }
        guard now() >= expiresAt || (heard != nil && heard?.status != "open") else { return .open(expiresAt: expiresAt) }
        return .decided(try closeOrder(presented, client: client, journal: journal, reason: Decline.orderExpired.description, now: now()))
    }

    /// Alipay's rule at the end of a wait: asks the ledger server, cancels an order still open,
    /// and answers paid if a payment won the race (the terminal learns it before it says
    /// anything), else declined with `reason`. If the server cannot be reached, the sale is
    /// declined and stays undecided in the journal, for `qrpos sync push` (or the till's own
    /// sync) to settle: a late payment is then refunded.
    public func closeOrder(_ presented: PresentedOrder, client: LedgerClient, journal: TerminalJournal, reason: String,
                           now: Int64 = UnixTime.nowMillis()) throws -> SaleResult {
        let id = presented.order.id
        do {
            var order = try client.order(id)
            if order.status == "open" { order = try client.cancelOrder(id) }
            if order.status == "paid" { return try settled(order, journal: journal, now: now) }
            try journal.decide(id: id, approved: false, decline: reason, now: now)
            return .declined(reason: reason)
        } catch let error as CheckoutError {
            throw error
        } catch {
            return .declined(reason: "not paid; the ledger could not be reached to close order \(id) (\(error)): `qrpos sync push` settles it, refunding a late payment")
        }
    }

    /// Refunds `amount` of an earlier payment at the ledger server, back to the wallet that paid
    /// it; `original` (the sale's receipt) gives the payer and the receipt number to print.
    /// The same `refundID` again returns the first answer.
    public func refund(payment: String, amount: Money, client: LedgerClient, original: Receipt?, refundID: String = UUIDv7.make(),
                       now: Int64 = UnixTime.nowMillis()) throws -> SaleResult {
        let answer = try client.refund(RefundWire(id: refundID, payment: payment, amount: amount.minorUnits, currency: amount.currency.code))
        guard answer.status == "approved" else { return .declined(reason: answer.reason ?? answer.decline ?? "declined by the ledger") }
        let transfer = Transfer(id: refundID, kind: .refund, debitAccount: merchant.id, creditAccount: answer.wallet ?? "?", amount: amount,
                                refundOf: payment, orderID: nil, memo: "refund", createdAt: now)
        return .approved(try receipt(for: transfer, method: "refund", payer: original?.payer ?? "wallet …" + (answer.wallet ?? "?").suffix(4),
                                     refundOfNumber: original?.number, now: now))
    }

    /// What became of one undecided order when the terminal settled it with the ledger.
    public enum Reconciled: Sendable, Equatable {
        /// Not paid, and closed now.
        case closed(order: String)
        /// Paid after the terminal told the cashier it was not: refunded, with this refund id.
        case refunded(order: String, payment: String, refund: String)
        /// The ledger could not be reached, or did not take the refund; the order stays undecided.
        case waiting(order: String, reason: String)
    }

    /// Settles the journal's undecided orders with the ledger server: an open one is cancelled;
    /// one that was paid is refunded in full back to the wallet (the cashier was told it was not
    /// paid, or was told nothing), and reported.
    /// A terminal still running passes `expiredOnly` and its open order in `skipping`: only
    /// orders past their validity are touched, and never the one it is showing or closing.
    public func reconcileOrders(journal: TerminalJournal, client: LedgerClient, expiredOnly: Bool = false, skipping: Set<String> = [],
                                now: Int64 = UnixTime.nowMillis()) throws -> [Reconciled] {
        var report: [Reconciled] = []
        for entry in try journal.undecided(method: .merchantQR) where entry.terminal == terminalID && !skipping.contains(entry.id) {
            // No order is valid for less than that: younger ones are not asked about.
            if expiredOnly && now < entry.createdAt + Limits.orderValidityMillisMin { continue }
            do {
                var order: OrderWire
                do { order = try client.order(entry.id) } catch let failed as LedgerClient.Failed where failed.description.contains("answered 404") {
                    try journal.decide(id: entry.id, approved: false, decline: "the ledger never made this order", now: now)
                    report.append(.closed(order: entry.id))
                    continue
                }
                // By the order's own validity, which the till that made it chose, not this one's.
                if expiredOnly && order.status == "open" && now < order.expiresAt { continue }
                if order.status == "open" { order = try client.cancelOrder(entry.id) }
                guard order.status == "paid", let payment = order.payment else {
                    try journal.decide(id: entry.id, approved: false, decline: Decline.orderExpired.description, now: now)
                    report.append(.closed(order: entry.id))
                    continue
                }
                let refundID = entry.id + "-refund"
                let answer = try client.refund(RefundWire(id: refundID, payment: payment, amount: order.amount, currency: order.currency))
                guard answer.status == "approved" else {
                    report.append(.waiting(order: entry.id, reason: "the ledger declined the refund: \(answer.reason ?? "?")"))
                    continue
                }
                try journal.decide(id: entry.id, approved: false,
                                   decline: "paid after the terminal gave up (payment \(payment)): refunded as \(refundID)", now: now)
                report.append(.refunded(order: entry.id, payment: payment, refund: refundID))
            } catch let error as CheckoutError {
                throw error
            } catch {
                report.append(.waiting(order: entry.id, reason: "\(error)"))
            }
        }
        return report
    }

    /// What became of one undecided customer-presented sale.
    public enum ReconciledSale: Sendable, Equatable {
        /// The ledger never took it: declined now.
        case voided(sale: String)
        /// The ledger had charged it, and the cashier never saw an answer: refunded in full.
        case reversed(sale: String, refund: String)
        /// Too recent to know yet, or the ledger could not be reached.
        case waiting(sale: String, reason: String)
    }

    /// How long after a sale began no copy of its request can still be taken by the server:
    /// twice its request window (the terminal's clock may be off from the server's by up to the
    /// window in either direction) and ten seconds for a request already accepted to commit.
    public static func undecidedSettleAfterMillis(requestWindowMillis: Int64) -> Int64 { 2 * requestWindowMillis + 10_000 }

    /// Settles the journal's undecided customer-presented sales (the terminal stopped, or the
    /// ledger never answered, and nobody retried them with their id). Once no copy of a sale's
    /// request can still be taken (``undecidedSettleAfterMillis(requestWindowMillis:)``), what
    /// the ledger holds under its id is final: a payment is refunded in full, since the cashier
    /// never saw it approved, and reported; none, and the sale is declined.
    public func reconcileSales(journal: TerminalJournal, client: LedgerClient, requestWindowMillis: Int64,
                               now: Int64 = UnixTime.nowMillis()) throws -> [ReconciledSale] {
        var report: [ReconciledSale] = []
        let undecided = try journal.undecided(method: .customerCode) + journal.undecided(method: .offlineToken)
        for entry in undecided where entry.terminal == terminalID {
            guard now - entry.createdAt >= Self.undecidedSettleAfterMillis(requestWindowMillis: requestWindowMillis) else {
                report.append(.waiting(sale: entry.id, reason: "too recent: its request could still reach the ledger"))
                continue
            }
            do {
                let held = try client.payment(entry.id)
                guard held.status == "paid", let amount = held.amount, let currency = held.currency else {
                    try journal.decide(id: entry.id, approved: false, decline: "the ledger never took this sale", now: now)
                    report.append(.voided(sale: entry.id))
                    continue
                }
                let refundID = entry.id + "-reverse"
                let answer = try client.refund(RefundWire(id: refundID, payment: entry.id, amount: amount, currency: currency))
                guard answer.status == "approved" else {
                    report.append(.waiting(sale: entry.id, reason: "the ledger declined the refund: \(answer.reason ?? "?")"))
                    continue
                }
                try journal.decide(id: entry.id, approved: false,
                                   decline: "charged, but the terminal never heard the answer: refunded as \(refundID)", now: now)
                report.append(.reversed(sale: entry.id, refund: refundID))
            } catch let error as CheckoutError {
                throw error
            } catch {
                report.append(.waiting(sale: entry.id, reason: "\(error)"))
            }
        }
        return report
    }

    private func settled(_ order: OrderWire, journal: TerminalJournal, now: Int64) throws -> SaleResult {
        guard let payment = order.payment, let amount = order.order?.amount else {
            throw CheckoutError("order \(order.id) is paid but the ledger did not say by which payment")
        }
        let entry = try journal.decide(id: order.id, approved: true, decline: nil, payment: payment, wallet: order.wallet, now: now)
        guard entry.status == .approved else { return .declined(reason: entry.decline ?? "declined") }
        let transfer = Transfer(id: payment, kind: .payment, debitAccount: order.wallet ?? "?", creditAccount: merchant.id, amount: amount,
                                refundOf: nil, orderID: order.id, memo: "order \(order.id)", createdAt: now)
        return .approved(try receipt(for: transfer, method: "merchant QR", payer: "wallet …" + (order.wallet ?? "?").suffix(4),
                                     lines: keptBasket(order.id), now: now))
    }
}
