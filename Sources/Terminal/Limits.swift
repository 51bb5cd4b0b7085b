/// Every limit of the terminal in one place, named with the qualifier last.
public struct Limits: Sendable {
    /// How long a customer's one-time code stays valid after the wallet shows it.
    public var paymentCodeValidityMillis: Int64 = 60_000
    /// How long a merchant-presented order can be paid. Alipay suggests a 60 s cashier-side
    /// timeout against its own 3 min close; qrpos gives the customer 2 min.
    public var orderValidityMillis: Int64 = 120_000
    /// The shortest validity a till may give its orders (`--qr-validity`): reconciling asks
    /// about no order younger than this.
    public static let orderValidityMillisMin: Int64 = 5_000
    /// How often the terminal asks whether an order was paid, when nothing pushes it.
    public var orderPollIntervalMillis: Int64 = 500
    /// The largest amount one sale may take, in minor units.
    public var saleAmountMax: Int64 = 5_000_000

    public init() {
        precondition(orderPollIntervalMillis < orderValidityMillis, "a poll must fit inside an order's validity")
    }

    public static let standard = Limits()
}
