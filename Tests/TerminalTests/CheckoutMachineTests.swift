import Ledger
import Payments
import Terminal
import Testing

@Suite("Checkout state machine")
struct CheckoutMachineTests {
    let sale = CheckoutMachine.Sale(id: "0190a000-0000-7000-8000-000000000001", amount: try! Money(parsing: "12.50", currency: .CNY))
    var validCode: String {
        var rng = SystemRandomNumberGenerator()
        return PaymentCode.random(using: &rng).digits
    }

    func transfer(_ id: String) -> Transfer {
        Transfer(id: id, kind: .payment, debitAccount: "wal_a", creditAccount: "mer_b", amount: sale.amount,
                 refundOf: nil, orderID: nil, memo: "", createdAt: 0)
    }

    @Test("customer-presented: scan, authorize with the sale's id, approve, back to idle")
    func approved() {
        var m = CheckoutMachine()
        #expect(m.handle(.scanCustomerCode(sale)) == .startScanner)
        let code = validCode
        #expect(m.handle(.codeRead(code)) == .authorize(try! PaymentCode(code), sale))
        #expect(m.state == .authorizing(sale))
        let t = transfer(sale.id)
        #expect(m.handle(.authorized(Outcome(requestID: sale.id, result: .posted(t), replayed: false))) == .issueReceipt(t))
        #expect(m.state == .approved(sale, paymentID: sale.id))
        #expect(m.handle(.done) == .returnToIdle)
        #expect(m.state == .idle)
    }

    @Test("a code that is not a payment code is rejected and scanning goes on")
    func rejectsForeignCodes() {
        var m = CheckoutMachine()
        _ = m.handle(.scanCustomerCode(sale))
        guard case .rejectCode(let reason) = m.handle(.codeRead("https://example.com/not-a-code")) else {
            Issue.record("a URL was not rejected")
            return
        }
        #expect(reason.contains("18 digits"))
        #expect(m.state == .awaitingCode(sale))
    }

    @Test("a decline is shown with its reason")
    func declined() {
        var m = CheckoutMachine()
        _ = m.handle(.scanCustomerCode(sale))
        _ = m.handle(.codeRead(validCode))
        let action = m.handle(.authorized(Outcome(requestID: sale.id, result: .declined(.codeUsed), replayed: false)))
        #expect(action == .showDecline(Decline.codeUsed.description))
        #expect(m.state == .declined(sale, reason: Decline.codeUsed.description))
    }

    @Test("a second scan while authorizing does nothing: one sale, one authorization")
    func noDoubleAuthorization() {
        var m = CheckoutMachine()
        _ = m.handle(.scanCustomerCode(sale))
        _ = m.handle(.codeRead(validCode))
        #expect(m.handle(.codeRead(validCode)) == CheckoutMachine.Action.none)
        #expect(m.state == .authorizing(sale))
    }

    @Test("merchant-presented: a duplicate paid notice issues one receipt")
    func merchantPresented() {
        var m = CheckoutMachine()
        #expect(m.handle(.showMerchantQR(sale, orderID: "o1")) == .displayQR(orderID: "o1"))
        let t = transfer("p1")
        #expect(m.handle(.orderPaid(t)) == .issueReceipt(t))
        #expect(m.handle(.orderPaid(t)) == CheckoutMachine.Action.none)
    }

    @Test("merchant-presented: expiry declines, cancel returns to idle")
    func expiryAndCancel() {
        var m = CheckoutMachine()
        _ = m.handle(.showMerchantQR(sale, orderID: "o1"))
        #expect(m.handle(.orderExpired) == .showDecline(Decline.orderExpired.description))
        var n = CheckoutMachine()
        _ = n.handle(.scanCustomerCode(sale))
        #expect(n.handle(.cancel) == .returnToIdle)
        #expect(n.state == .idle)
    }
}
