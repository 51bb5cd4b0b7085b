import Foundation
import Ledger
import Payments

/// The JSON of `POST /v1/sync` (assets/openapi.json), shared by the terminal that sends it and
/// the server that answers it.
public enum SyncWire {
    public struct Entry: Codable, Sendable, Equatable {
        public let id: String
        public let merchant: String
        /// Minor units.
        public let amount: Int64
        public let currency: String
        public let token: String
        public let wallet: String
        public let certificate: String
        public let counter: Int64
        public let createdAt: Int64

        enum CodingKeys: String, CodingKey {
            case id, merchant, amount, currency, token, wallet, certificate, counter
            case createdAt = "created_at"
        }

        public init(_ entry: JournalEntry) {
            id = entry.id
            merchant = entry.merchant
            amount = entry.amount.minorUnits
            currency = entry.amount.currency.code
            token = entry.token ?? ""
            wallet = entry.wallet ?? ""
            certificate = entry.certificate ?? ""
            counter = entry.counter ?? 0
            createdAt = entry.createdAt
        }

        /// Back into a journal entry, as the server's settler takes it; nil for an unknown currency.
        public func journalEntry(terminal: String) -> JournalEntry? {
            guard let currency = Currency(currency), amount > 0 else { return nil }
            return JournalEntry(id: id, terminal: terminal, merchant: merchant, method: .offlineToken,
                                amount: Money(minorUnits: amount, currency: currency), status: .approved, offline: true,
                                token: token, wallet: wallet, certificate: certificate, counter: counter, decline: nil,
                                createdAt: createdAt, syncedAt: nil, syncResult: nil)
        }
    }

    public struct Request: Codable, Sendable {
        public let entries: [Entry]
        public init(entries: [Entry]) { self.entries = entries }
    }

    public struct Answer: Codable, Sendable, Equatable {
        public let id: String
        /// "settled" or "refused".
        public let status: String
        public let fromAllowance: Int64?
        public let fromWallet: Int64?
        public let debt: Int64?
        public let replayed: Bool?
        public let reason: String?

        enum CodingKeys: String, CodingKey {
            case id, status, debt, replayed, reason
            case fromAllowance = "from_allowance"
            case fromWallet = "from_wallet"
        }

        public init(id: String, _ answer: ForwardAnswer) {
            self.id = id
            switch answer {
            case .settled(let s):
                (status, fromAllowance, fromWallet, debt, replayed, reason) = ("settled", s.fromAllowance, s.fromWallet, s.debt, s.replayed, nil)
            case .refused(let why):
                (status, fromAllowance, fromWallet, debt, replayed, reason) = ("refused", nil, nil, nil, nil, why)
            }
        }

        public var forwardAnswer: ForwardAnswer {
            if status == "settled" {
                return .settled(OfflineSettlement(paymentID: id, fromAllowance: fromAllowance ?? 0, fromWallet: fromWallet ?? 0,
                                                  debt: debt ?? 0, replayed: replayed ?? false))
            }
            return .refused(reason ?? "refused")
        }
    }

    public struct Response: Codable, Sendable {
        public let answers: [Answer]
        public init(answers: [Answer]) { self.answers = answers }
    }
}
