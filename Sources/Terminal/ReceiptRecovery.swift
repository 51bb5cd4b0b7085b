import Ledger
import Payments
import Receipts

extension Checkout {
    /// Receipts for the payments this terminal took whose receipt was never made: the process
    /// stopped between the ledger's answer and the receipt (a kill, a power cut), and nobody
    /// asked again with the sale's id (a kiosk's customer has gone). Without them the day's
    /// X and Z reports would miss money the ledger holds. Returns the receipts made, oldest
    /// payment first, numbered on from the book's last.
    ///
    /// On the embedded ledger it reads the merchant's latest `scanLimit` transfers: a payment by
    /// a customer's code names the terminal in its memo, one of a merchant QR through its order.
    /// Through a ledger server it reads the journal's latest `scanLimit` approved sales. Run it
    /// before the till takes sales (a sale between its answer and its receipt would be taken
    /// for a lost one, and its receipt made without its items).
    /// A recovered receipt has the amount, the payer as far as the ledger knows it, and the item
    /// lines the checkout kept in the book before it asked the ledger (by sale id, or by a
    /// merchant QR's order id).
    public func recoverReceipts(journal: TerminalJournal? = nil, scanLimit: Int = 2_000) throws -> [SignedReceipt] {
        guard let book else { return [] }
        var made: [SignedReceipt] = []
        if let ledger {
            let paid = try ledger.history(account: merchant.id, limit: scanLimit).reversed().filter { t in
                t.kind == .payment && t.creditAccount == merchant.id
            }
            for t in paid where try book.entry(paymentID: t.id) == nil {
                let method: String
                if t.memo == "terminal \(terminalID)" {
                    method = "customer code"
                } else if let orderID = t.orderID, try ledger.order(orderID, now: t.createdAt)?.terminalID == terminalID {
                    method = "merchant QR"
                } else {
                    continue
                }
                // A customer code's payment has the sale's id; a merchant QR's names its order.
                made.append(try receipt(for: t, method: method, payer: "wallet …" + t.debitAccount.suffix(4),
                                        lines: keptBasket(t.orderID ?? t.id), now: t.createdAt))
            }
        }
        if let journal {
            for entry in try journal.approved(terminal: terminalID, limit: scanLimit) where try book.entry(paymentID: entry.payment ?? entry.id) == nil {
                let wallet = entry.wallet ?? "?"
                let (method, authorization): (String, Receipt.Authorization) = switch (entry.method, entry.offline) {
                case (.merchantQR, _): ("merchant QR", .online)
                case (.offlineToken, true): ("offline code", .offline)
                case (.offlineToken, false): ("offline code, online", .online)
                case (.customerCode, _): ("customer code", .online)
                }
                let transfer = Transfer(id: entry.payment ?? entry.id, kind: .payment, debitAccount: wallet, creditAccount: merchant.id,
                                        amount: entry.amount, refundOf: nil, orderID: entry.method == .merchantQR ? entry.id : nil,
                                        memo: entry.offline ? "offline" : "online", createdAt: entry.createdAt)
                // A journal entry's id is the sale's, or a merchant QR's order id.
                made.append(try receipt(for: transfer, method: method, payer: "wallet …" + wallet.suffix(4),
                                        lines: keptBasket(entry.id), authorization: authorization, now: entry.createdAt))
            }
        }
        return made
    }
}
