import Ledger
import Payments

/// The checkout as a value: each event returns the action the terminal must take next, so the
/// whole flow is tested without a camera, a printer, a ledger or a clock.
///
/// idle → awaiting code (customer presents) or showing QR (merchant presents) → authorizing →
/// approved or declined → idle.
public struct CheckoutMachine: Sendable, Equatable {
    /// A sale in progress: its id (the ledger request id, made here) and its amount.
    public struct Sale: Sendable, Equatable {
        public let id: String
        public let amount: Money
        public init(id: String, amount: Money) {
            self.id = id
            self.amount = amount
        }
    }

    public enum State: Sendable, Equatable {
        case idle
        case awaitingCode(Sale)
        case showingQR(Sale, orderID: String)
        case authorizing(Sale)
        case approved(Sale, paymentID: String)
        case declined(Sale, reason: String)
    }

    public enum Event: Sendable, Equatable {
        case scanCustomerCode(Sale)
        case showMerchantQR(Sale, orderID: String)
        /// Text read by the scanner or typed by the cashier.
        case codeRead(String)
        case authorized(Outcome)
        /// The order shown as QR was paid (push or poll).
        case orderPaid(Transfer)
        case orderExpired
        case cancel
        /// The receipt was issued (or the decline acknowledged): ready for the next sale.
        case done
    }

    public enum Action: Sendable, Equatable {
        case none
        case startScanner
        case displayQR(orderID: String)
        case pollOrder(orderID: String)
        /// Ask the ledger, with the sale's id as the request id (so a retry cannot charge twice).
        case authorize(PaymentCode, Sale)
        /// The code read is not a payment code: say why, keep scanning.
        case rejectCode(String)
        case issueReceipt(Transfer)
        case showDecline(String)
        case returnToIdle
    }

    public private(set) var state: State = .idle

    public init() {}

    public mutating func handle(_ event: Event) -> Action {
        switch (state, event) {
        case (.idle, .scanCustomerCode(let sale)):
            state = .awaitingCode(sale)
            return .startScanner
        case (.idle, .showMerchantQR(let sale, let orderID)):
            state = .showingQR(sale, orderID: orderID)
            return .displayQR(orderID: orderID)

        case (.awaitingCode(let sale), .codeRead(let text)):
            do {
                let code = try PaymentCode(text)
                state = .authorizing(sale)
                return .authorize(code, sale)
            } catch {
                return .rejectCode(error.description)
            }
        case (.authorizing(let sale), .authorized(let outcome)):
            precondition(outcome.requestID == sale.id, "an answer for another sale")
            switch outcome.result {
            case .posted(let transfer):
                state = .approved(sale, paymentID: transfer.id)
                return .issueReceipt(transfer)
            case .declined(let decline):
                state = .declined(sale, reason: decline.description)
                return .showDecline(decline.description)
            }

        case (.showingQR(let sale, _), .orderPaid(let transfer)):
            state = .approved(sale, paymentID: transfer.id)
            return .issueReceipt(transfer)
        case (.showingQR(let sale, _), .orderExpired):
            state = .declined(sale, reason: Decline.orderExpired.description)
            return .showDecline(Decline.orderExpired.description)

        case (.awaitingCode, .cancel), (.showingQR, .cancel):
            state = .idle
            return .returnToIdle
        case (.approved, .done), (.declined, .done):
            state = .idle
            return .returnToIdle
        default:
            // An event that does not belong to this state (a late scan, a duplicate push) changes
            // nothing: the terminal never acts twice on one sale.
            return .none
        }
    }
}
