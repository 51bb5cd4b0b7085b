import Barcodes
import Foundation
import Ledger
import Payments
import Receipts

/// What a sale came to.
public enum SaleResult: Sendable {
    /// Approved: the signed receipt.
    case approved(SignedReceipt)
    /// Declined, with the reason the cashier reads out.
    case declined(reason: String)

    public var receipt: SignedReceipt? {
        if case .approved(let r) = self { r } else { nil }
    }
    public var declineReason: String? {
        if case .declined(let reason) = self { reason } else { nil }
    }
}

/// An order shown to the customer as a dynamic EMVCo QR.
public struct PresentedOrder: Sendable {
    public let order: Order
    public let qr: OrderQR
    /// The EMVCo payload the QR carries.
    public let payload: String
}

/// Why the terminal could not even start a sale.
public struct CheckoutError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The checkout of one terminal against a ledger: drives `CheckoutMachine` and carries out its
/// actions (authorize at the ledger, present and poll orders, sign receipts).
///
/// The sale id is made here before the ledger is asked, and is the ledger's request id: asking
/// again after a timeout can never charge twice.
public struct Checkout: Sendable {
    /// The ledger held here (the embedded one); nil for a terminal that works through a ledger
    /// server, which takes customer codes only (``chargeOnlineFirst(amount:code:journal:online:issuers:policy:lines:saleID:now:)``).
    public let ledger: (any LedgerStore)?
    public let merchant: Merchant
    public let terminalID: String
    public let receiptKey: ReceiptKey
    public let limits: Limits
    /// Where receipts are numbered (gapless per terminal) and kept; without one a receipt's
    /// number is its payment id and nothing is kept.
    public let book: ReceiptBook?

    public init(ledger: (any LedgerStore)?, merchant: Merchant, terminalID: String, receiptKey: ReceiptKey, limits: Limits = .standard,
                book: ReceiptBook? = nil) {
        self.ledger = ledger
        self.merchant = merchant
        self.terminalID = terminalID
        self.receiptKey = receiptKey
        self.limits = limits
        self.book = book
    }

    /// Parses a cashier's amount in the merchant's currency, within the terminal's limits.
    public func amount(_ text: String) throws -> Money {
        let money: Money
        do { money = try Money(parsing: text, currency: merchant.currency) } catch { throw CheckoutError(error.message) }
        guard money.minorUnits > 0 else { throw CheckoutError("the amount must be more than zero") }
        guard money.minorUnits <= limits.saleAmountMax else {
            throw CheckoutError("\(money) is above this terminal's limit of \(Money(minorUnits: limits.saleAmountMax, currency: merchant.currency))")
        }
        return money
    }

    // MARK: Customer presents a code

    /// Charges `amount` against the customer's code, as typed or read by the scanner.
    /// A text that is not a payment code is declined before the ledger is asked.
    /// `lines` are the basket's items, printed on the receipt.
    public func charge(amount: Money, code text: String, lines: [Receipt.Line] = [], saleID: String = UUIDv7.make(),
                       now: Int64 = UnixTime.nowMillis()) throws -> SaleResult {
        try checkReceiptFields(lines: lines)
        var machine = CheckoutMachine()
        let sale = CheckoutMachine.Sale(id: saleID, amount: amount)
        _ = machine.handle(.scanCustomerCode(sale))
        switch machine.handle(.codeRead(text)) {
        case .rejectCode(let reason):
            return .declined(reason: reason)
        case .authorize(let code, let sale):
            let lines = try book?.keepBasket(sale: sale.id, lines: lines, now: now) ?? lines
            let outcome = try embedded().charge(requestID: sale.id, code: code, merchant: merchant.id, amount: sale.amount,
                                            memo: "terminal \(terminalID)", now: now)
            Failpoint.hit("charge.after-ledger")
            return try finish(&machine, outcome: outcome, method: "customer code", payer: code.masked, lines: lines, now: now)
        case let other:
            preconditionFailure("checkout machine answered a code with \(other)")
        }
    }

    /// Reads the frame with the real scanner and charges the first payment code in it. A frame
    /// without a code, or with codes that are not payment codes, is declined with the reason.
    public func charge(amount: Money, frame: LumaFrame, scanner: CodeScanner, lines: [Receipt.Line] = [],
                       saleID: String = UUIDv7.make(), now: Int64 = UnixTime.nowMillis()) throws -> SaleResult {
        let texts = scanner.scan(frame).compactMap(\.text)
        guard !texts.isEmpty else { return .declined(reason: "no code found in the image") }
        let code = texts.first { (try? PaymentCode($0)) != nil } ?? texts[0]
        return try charge(amount: amount, code: code, lines: lines, saleID: saleID, now: now)
    }

    // MARK: Customer presents an offline code

    /// Takes an offline token (``OfflineToken``) on the offline rules: checked here with the
    /// issuer's public key and this terminal's journal, recorded on disk before the answer, and
    /// forwarded to the ledger later (``Forwarder``). The receipt says "offline". The same sale id
    /// again returns the same answer. (``chargeOnlineFirst(amount:code:journal:online:issuers:policy:lines:saleID:now:)``
    /// asks the ledger first and comes here only when it cannot be reached.)
    public func chargeOffline(amount: Money, token text: String, journal: TerminalJournal, issuers: [OfflinePublicKey],
                              policy: OfflinePolicy, lines: [Receipt.Line] = [], saleID: String = UUIDv7.make(),
                              now: Int64 = UnixTime.nowMillis()) throws -> SaleResult {
        try checkReceiptFields(lines: lines)
        let token: OfflineToken
        do { token = try OfflineToken(parsing: text) } catch { return .declined(reason: error.message) }
        let lines = try book?.keepBasket(sale: saleID, lines: lines, now: now) ?? lines
        switch try journal.approveOffline(id: saleID, terminal: terminalID, merchant: merchant.id, amount: amount, token: token,
                                          issuers: issuers, policy: policy, now: now) {
        case .failure(let decline):
            return .declined(reason: decline.message)
        case .success(let entry):
            return try answer(from: entry, lines: lines, masked: nil)
        }
    }

    // MARK: Customer presents a code, online first

    /// Charges the customer's code at the ledger server first, and takes an offline code on the
    /// offline rules only when the ledger gives no answer in time.
    ///
    /// The sale is in the journal, with its id, before the ledger is asked; the ledger's answer
    /// is written there before it is returned. An online decline is final (no offline rule
    /// overrides the ledger). When the ledger cannot be reached, an offline code goes on offline
    /// with the same id: if the ledger did take it and only its answer was lost, forwarding it
    /// later finds it "already settled", so it is paid once. A one-time code cannot go offline:
    /// the sale stays undecided in the journal and the cashier asks for an offline code. The
    /// same sale id again returns the journal's answer without asking anyone.
    public func chargeOnlineFirst(amount: Money, code text: String, journal: TerminalJournal, online: any OnlineAuthorizer,
                                  issuers: [OfflinePublicKey], policy: OfflinePolicy, lines: [Receipt.Line] = [],
                                  saleID: String = UUIDv7.make(), now: Int64 = UnixTime.nowMillis()) throws -> SaleResult {
        try checkReceiptFields(lines: lines)
        var token: OfflineToken?
        if OfflineToken.looksLikeToken(text) {
            do { token = try OfflineToken(parsing: text) } catch { return .declined(reason: error.message) }
        } else if (try? PaymentCode(text)) == nil {
            return .declined(reason: "not a payment code")
        }
        let lines = try book?.keepBasket(sale: saleID, lines: lines, now: now) ?? lines
        if let earlier = try journal.entry(saleID), earlier.status != .authorizing {
            return try answer(from: earlier, lines: lines, masked: (try? PaymentCode(text))?.masked)
        }
        try journal.begin(id: saleID, terminal: terminalID, merchant: merchant.id, method: token == nil ? .customerCode : .offlineToken,
                          amount: amount, now: now)
        Failpoint.hit("online.after-journal")
        let answer: OnlineAnswer
        do {
            answer = try online.authorize(id: saleID, merchant: merchant.id, amount: amount, code: text)
        } catch let unreachable as OnlineAuthorizerUnreachable {
            guard token != nil else {
                return .declined(reason: "the ledger cannot be reached (\(unreachable)): ask the customer for an offline code; sale \(saleID) stays undecided")
            }
            return try chargeOffline(amount: amount, token: text, journal: journal, issuers: issuers, policy: policy, lines: lines,
                                     saleID: saleID, now: now)
        }
        switch answer {
        case .approved:
            Failpoint.hit("online.after-answer")
            return try self.answer(from: try journal.decide(id: saleID, approved: true, decline: nil, token: token, now: now), lines: lines,
                                   masked: (try? PaymentCode(text))?.masked)
        case .declined(let reason):
            return try self.answer(from: try journal.decide(id: saleID, approved: false, decline: reason, now: now), lines: lines, masked: nil)
        }
    }

    /// The sale's answer as the journal holds it: the receipt of an approved one, or the decline.
    private func answer(from entry: JournalEntry, lines: [Receipt.Line], masked: String?) throws -> SaleResult {
        guard entry.status == .approved else { return .declined(reason: entry.decline ?? "declined") }
        let wallet = entry.wallet ?? "?"
        let transfer = Transfer(id: entry.id, kind: .payment, debitAccount: wallet, creditAccount: merchant.id, amount: entry.amount,
                                refundOf: nil, orderID: nil, memo: entry.offline ? "offline" : "online", createdAt: entry.createdAt)
        let (method, payer) = switch (entry.method, entry.offline) {
        case (.offlineToken, true): ("offline code", "wallet …" + wallet.suffix(4))
        case (.offlineToken, false): ("offline code, online", "wallet …" + wallet.suffix(4))
        default: ("customer code", masked ?? "customer code")
        }
        return .approved(try sign(transfer, method: method, payer: payer, lines: lines, authorization: entry.offline ? .offline : .online,
                                  now: entry.createdAt))
    }

    // MARK: Merchant presents a QR

    /// Opens an order at the ledger and makes its dynamic QR payload. `orderID` (at most 25
    /// characters, EMVCo 62-01) is made here when not given. The basket's `lines` are kept in the
    /// receipt book under the order id first, for the receipt of its payment.
    public func presentOrder(amount: Money, lines: [Receipt.Line] = [], orderID: String? = nil,
                             now: Int64 = UnixTime.nowMillis()) throws -> PresentedOrder {
        let (id, qr, expiresAt) = try orderQR(amount: amount, lines: lines, orderID: orderID, now: now)
        let order = try embedded().createOrder(id: id, merchant: merchant.id, amount: amount, terminalID: terminalID,
                                               expiresAt: expiresAt, now: now)
        return PresentedOrder(order: order, qr: qr, payload: qr.merchantQR.encoded())
    }

    /// An order's id, QR and expiry, checked before the order exists anywhere: a merchant whose
    /// name does not fit EMVCo's limits leaves no orphan order behind. The basket's `lines` are
    /// kept in the receipt book under the order id, for the receipt of its payment.
    func orderQR(amount: Money, lines: [Receipt.Line], orderID: String?, now: Int64) throws -> (id: String, qr: OrderQR, expiresAt: Int64) {
        try checkReceiptFields(lines: lines)
        // 62-01 holds at most 25 characters: a UUIDv7 without dashes is 32, so an id made here is
        // the last 25 hex digits of one (still unique: 74 random bits).
        let shortID = orderID ?? String(UUIDv7.make().replacingOccurrences(of: "-", with: "").suffix(25))
        guard (1...25).contains(shortID.unicodeScalars.count) else {
            throw CheckoutError("an order id is 1 to 25 characters (EMVCo 62-01), not \(shortID.count)")
        }
        let expiresAt = now + limits.orderValidityMillis
        let qr = try OrderQR(merchantID: merchant.id, merchantName: merchant.name, merchantCity: merchant.city,
                             categoryCode: merchant.categoryCode, countryCode: merchant.countryCode, amount: amount,
                             orderID: shortID, referenceLabel: nil, terminalLabel: terminalID,
                             expiresAt: expiresAt / 1000)
        try book?.keepBasket(sale: shortID, lines: lines, now: now)
        return (shortID, qr, expiresAt)
    }

    /// Waits for the customer to pay a presented order, polling the ledger, until it is paid or
    /// expires; `sleep` is injected so tests need no real clock.
    public func awaitPayment(of presented: PresentedOrder, now: () -> Int64 = UnixTime.nowMillis,
                             sleep: (Int64) -> Void = { Thread.sleep(forTimeInterval: Double($0) / 1000) }) throws -> SaleResult {
        while true {
            let t = now()
            switch try checkOrder(presented, now: t) {
            case .decided(let result): return result
            case .open(let expiresAt): sleep(min(limits.orderPollIntervalMillis, max(1, expiresAt - t)))
            }
        }
    }

    /// Where a presented order stands: still open (until when), or decided.
    public enum OrderCheck: Sendable {
        case open(expiresAt: Int64)
        case decided(SaleResult)
    }

    /// Asks the ledger once about a presented order: paid (the receipt), expired (closed at the
    /// ledger first, so a payment already on its way either landed, and stands, or is refused),
    /// or still open.
    public func checkOrder(_ presented: PresentedOrder, now t: Int64) throws -> OrderCheck {
        var machine = Self.machine(showing: presented)
        guard let order = try embedded().order(presented.order.id, now: t) else {
            throw CheckoutError("order \(presented.order.id) vanished from the ledger")
        }
        switch order.status {
        case .paid:
            return .decided(try paidReceipt(order, machine: &machine, now: t))
        case .expired:
            return .decided(try cancelOrder(presented, reason: Decline.orderExpired.description, now: t))
        case .open:
            return .open(expiresAt: order.expiresAt)
        }
    }

    /// Closes a presented order at the ledger (the cashier gave up, or it expired): declined with
    /// `reason`, unless the customer's payment landed first, which then stands with its receipt.
    public func cancelOrder(_ presented: PresentedOrder, reason: String, now t: Int64) throws -> SaleResult {
        var machine = Self.machine(showing: presented)
        let closed = try embedded().cancelOrder(presented.order.id, now: t)
        if closed.status == .paid { return try paidReceipt(closed, machine: &machine, now: t) }
        _ = machine.handle(.orderExpired)
        return .declined(reason: reason)
    }

    /// A checkout machine showing `presented`'s QR, as its check and its cancel start from.
    private static func machine(showing presented: PresentedOrder) -> CheckoutMachine {
        var machine = CheckoutMachine()
        _ = machine.handle(.showMerchantQR(CheckoutMachine.Sale(id: presented.order.id, amount: presented.order.amount),
                                           orderID: presented.order.id))
        return machine
    }

    // MARK: Refunds

    /// Refunds `amount` of an earlier payment back to the wallet that paid it. The ledger refuses
    /// a payment made to another merchant.
    public func refund(payment: String, amount: Money, refundID: String = UUIDv7.make(), now: Int64 = UnixTime.nowMillis()) throws -> SaleResult {
        try checkReceiptFields(lines: [])
        let outcome = try embedded().refund(requestID: refundID, payment: payment, merchant: merchant.id, amount: amount, now: now)
        switch outcome.result {
        case .posted(let first):
            // A refund of a payment taken offline may be made of several transfers (the wallet's
            // part, the allowance's part passed on to the wallet): the receipt is for the whole.
            let transfer = Transfer(id: first.id, kind: .refund, debitAccount: first.debitAccount, creditAccount: first.creditAccount,
                                    amount: amount, refundOf: payment, orderID: nil, memo: first.memo, createdAt: first.createdAt)
            let payer = first.creditAccount.hasPrefix("off_") ? "wallet (offline code)" : "wallet …" + first.creditAccount.suffix(4)
            let original = try book?.entry(paymentID: payment)?.receipt.receipt.number
            return .approved(try sign(transfer, method: "refund", payer: payer, refundOfNumber: original, now: now))
        case .declined(let decline):
            return .declined(reason: decline.description)
        }
    }

    // MARK: Private

    private func embedded() throws -> any LedgerStore {
        guard let ledger else {
            throw CheckoutError("this terminal works through a ledger server, which takes customer codes only so far")
        }
        return ledger
    }

    /// Everything the receipt will carry besides the ledger's answer is checked before the
    /// ledger is asked: once money has moved, the receipt must not fail to be made.
    private func checkReceiptFields(lines: [Receipt.Line]) throws {
        let probe = Receipt(number: "check", kind: .sale, merchantID: merchant.id, merchantName: merchant.name,
                            merchantCity: merchant.city, terminalID: terminalID, paymentID: "check",
                            method: "customer code", payer: "check", amount: Money(minorUnits: 1, currency: merchant.currency),
                            issuedAt: 0, lines: lines)
        do { try probe.validate() } catch { throw CheckoutError("cannot make receipts: \(error.message)") }
    }

    private func paidReceipt(_ order: Order, machine: inout CheckoutMachine, now: Int64) throws -> SaleResult {
        guard let paymentID = order.paymentID, let transfer = try embedded().transfer(paymentID) else {
            throw CheckoutError("order \(order.id) is paid but its payment is missing from the ledger")
        }
        guard case .issueReceipt(let paid) = machine.handle(.orderPaid(transfer)) else {
            preconditionFailure("checkout machine did not issue a receipt for a paid order")
        }
        _ = machine.handle(.done)
        return .approved(try sign(paid, method: "merchant QR", payer: "wallet …" + paid.debitAccount.suffix(4),
                                  lines: keptBasket(order.id), now: now))
    }

    private func finish(_ machine: inout CheckoutMachine, outcome: Outcome, method: String, payer: String,
                        lines: [Receipt.Line], now: Int64) throws -> SaleResult {
        switch machine.handle(.authorized(outcome)) {
        case .issueReceipt(let transfer):
            _ = machine.handle(.done)
            return .approved(try sign(transfer, method: method, payer: payer, lines: lines, now: now))
        case .showDecline(let reason):
            _ = machine.handle(.done)
            return .declined(reason: reason)
        case let other:
            preconditionFailure("checkout machine answered an authorization with \(other)")
        }
    }

    func receipt(for transfer: Transfer, method: String, payer: String, lines: [Receipt.Line] = [],
                 authorization: Receipt.Authorization = .online, refundOfNumber: String? = nil, now: Int64) throws -> SignedReceipt {
        try sign(transfer, method: method, payer: payer, lines: lines, authorization: authorization, refundOfNumber: refundOfNumber, now: now)
    }

    /// The basket kept in the receipt book for `sale` (a sale id, or an order id), for a receipt
    /// made once the money has moved; none without a book. A basket that cannot be read gives a
    /// receipt without its items rather than no receipt (and the book, whose write comes next,
    /// then says what is wrong).
    func keptBasket(_ sale: String) -> [Receipt.Line] {
        (try? book?.basket(sale: sale)) ?? []
    }

    /// The receipt for `transfer`, numbered by the book when there is one (which gives back the
    /// receipt already issued for the same payment rather than a second).
    private func sign(_ transfer: Transfer, method: String, payer: String, lines: [Receipt.Line] = [],
                      authorization: Receipt.Authorization = .online, refundOfNumber: String? = nil, now: Int64) throws -> SignedReceipt {
        func make(_ number: String) throws -> SignedReceipt {
            let receipt = Receipt(number: number, kind: transfer.kind == .refund ? .refund : .sale,
                                  merchantID: merchant.id, merchantName: merchant.name, merchantCity: merchant.city,
                                  terminalID: terminalID, paymentID: transfer.id, refundOf: transfer.refundOf,
                                  orderID: transfer.orderID, method: method, payer: payer, amount: transfer.amount,
                                  issuedAt: now / 1000, lines: lines, authorization: authorization,
                                  approvalCode: Self.approvalCode(transfer.id), refundOfNumber: refundOfNumber)
            return try receiptKey.sign(receipt)
        }
        guard let book else { return try make(transfer.id) }
        return try book.issue(terminal: terminalID, paymentID: transfer.id, make: make)
    }

    /// Six characters from the payment id (FNV-1a, in Crockford's base 32): the same on every
    /// copy of the receipt, short enough to read out over the phone, and recomputable by the
    /// ledger from its own payment id.
    public static func approvalCode(_ paymentID: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in paymentID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        return String((0..<6).map { alphabet[Int((hash >> (UInt64($0) * 5)) & 31)] })
    }
}
