import Payments

/// How much a terminal may take on trust while it cannot reach the ledger, and for how long.
/// Every offline approval is the merchant's risk until it is settled (Stripe, Adyen and Square
/// all say so), so each one is bounded per payment, per wallet, and in what waits unsynced.
public struct OfflinePolicy: Sendable, Hashable, Codable {
    /// The most one offline payment may be, in the merchant's minor units (a floor limit).
    public var floorLimit: Int64
    /// The most one wallet may spend offline at this terminal under one certificate, on top of
    /// the certificate's own allowance (the smaller bounds).
    public var walletLimit: Int64
    /// How far the phone's clock and this terminal's may disagree, and so how old a code may be.
    public var clockSkewMillis: Int64
    /// Past this age of its oldest unsynced payment the terminal takes no more offline payments
    /// (Square declines after 24 hours).
    public var unsyncedAgeMaxMillis: Int64
    /// Past this total of unsynced payments, likewise.
    public var unsyncedAmountMax: Int64
    /// Past this many unsynced payments, likewise (Moneris stores 500).
    public var unsyncedCountMax: Int

    public init(floorLimit: Int64, walletLimit: Int64, clockSkewMillis: Int64, unsyncedAgeMaxMillis: Int64,
                unsyncedAmountMax: Int64, unsyncedCountMax: Int) {
        self.floorLimit = floorLimit
        self.walletLimit = walletLimit
        self.clockSkewMillis = clockSkewMillis
        self.unsyncedAgeMaxMillis = unsyncedAgeMaxMillis
        self.unsyncedAmountMax = unsyncedAmountMax
        self.unsyncedCountMax = unsyncedCountMax
    }

    /// Why a payment of `amount` (minor units) may not be taken offline on top of what waits
    /// unsynced (`count` payments, `total`, the oldest `oldestAgeMillis` old): too many, too much
    /// or too old. Nil when it may. The journal asks it for every offline approval; a till asks
    /// it with the smallest amount to show whether it takes offline payments at all.
    public func syncRequired(count: Int, total: Money, oldestAgeMillis: Int64?, adding amount: Int64) -> String? {
        guard count + 1 > unsyncedCountMax || total.minorUnits + amount > unsyncedAmountMax
                || (oldestAgeMillis.map { $0 > unsyncedAgeMaxMillis } ?? false) else { return nil }
        return "this terminal holds too much unsynced (\(count) payments, \(total)): reconnect to the ledger first"
    }

    /// The default, in a currency with two decimals (scaled for others by ``standard(for:)``):
    /// 200.00 a payment, 500.00 a wallet, 5 minutes of skew, 24 hours, 20,000.00 and 500
    /// payments unsynced. Like e-CNY's offline cap (¥500) and Moneris's 500 stored payments.
    public static func standard(for currency: Currency) -> OfflinePolicy {
        let unit = currency.minorPerMajor
        return OfflinePolicy(floorLimit: 200 * unit, walletLimit: 500 * unit, clockSkewMillis: 5 * 60_000,
                             unsyncedAgeMaxMillis: 24 * 3_600_000, unsyncedAmountMax: 20_000 * unit, unsyncedCountMax: 500)
    }
}

/// Why the terminal declined to take a payment offline; the cashier reads `message`.
public struct OfflineDecline: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Codable {
        /// The code is not a valid offline token (`detail` says which check failed).
        case invalidToken = "invalid-token"
        /// The code's counter was already used at this terminal: a code shown twice.
        case replayed
        /// The token is for another currency than the sale's.
        case currencyMismatch = "currency-mismatch"
        /// Above the per-payment floor limit.
        case aboveFloorLimit = "above-floor-limit"
        /// The wallet's allowance, or this terminal's limit per wallet, would be passed.
        case walletLimit = "wallet-limit"
        /// Too much, too many or too old unsynced at this terminal: it must sync first.
        case syncRequired = "sync-required"
    }

    public let reason: Reason
    public let message: String
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }
    public var description: String { message }

    /// How the journal keeps it: "reason: message".
    var stored: String { reason.rawValue + ": " + message }
}
