import Foundation

/// Time-ordered unique ids (UUIDv7, RFC 9562): 48 bits of Unix milliseconds, then random bits.
/// Made on the terminal and used as idempotency keys end to end: a retry carries the same id, so
/// the ledger can tell a retry from a new payment.
public enum UUIDv7 {
    /// A new id for the instant `unixMillis`, as 36 lower-case characters.
    public static func make(unixMillis: Int64, using rng: inout some RandomNumberGenerator) -> String {
        precondition(unixMillis >= 0, "UUIDv7 needs a time after 1970")
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: unixMillis >> (8 * (5 - i))) }
        // Two 64-bit draws, not ten 8-bit ones: each draw from the system's generator is a
        // getrandom call.
        let high = rng.next(), low = rng.next()
        for i in 6..<8 { bytes[i] = UInt8(truncatingIfNeeded: high >> (8 * (i - 6))) }
        for i in 8..<16 { bytes[i] = UInt8(truncatingIfNeeded: low >> (8 * (i - 8))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)   // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)   // RFC 9562 variant
        return UUIDBytes.text(bytes)!
    }

    /// A new id for the current time from the system's random source.
    public static func make() -> String {
        var rng = SystemRandomNumberGenerator()
        return make(unixMillis: UnixTime.nowMillis(), using: &rng)
    }

    /// Whether `text` is a well-formed UUIDv7.
    public static func isValid(_ text: String) -> Bool {
        guard let bytes = UUIDBytes.raw(text) else { return false }
        return bytes[6] >> 4 == 7
    }
}

/// Short random ids for accounts and terminals: a prefix and 16 characters of Crockford base32
/// (80 bits), so they are safe to say aloud and to type.
public enum ShortID {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")

    public static func make(prefix: String, using rng: inout some RandomNumberGenerator) -> String {
        prefix + "_" + String((0..<16).map { _ in alphabet[Int.random(in: 0..<32, using: &rng)] })
    }

    public static func make(prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        return make(prefix: prefix, using: &rng)
    }
}

/// Wall-clock time as integer milliseconds since 1970 (UTC): the one time unit the ledger and
/// terminal store. Callers inject it, so tests run on a clock of their own.
public enum UnixTime {
    public static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
