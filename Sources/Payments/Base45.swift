/// Base45 (RFC 9285): bytes as text in the 45 characters a QR code stores in its alphanumeric
/// mode (5.5 bits a character), where base64 text would need byte mode (8 bits a character).
/// A 245-byte offline token is a version-12 QR this way and a version-14 one as base64url (at
/// error correction level M).
/// Written here because none of the packages this project may use has it; it is 40 lines.
public enum Base45 {
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".utf8)

    /// Every two bytes as three characters (a last odd byte as two), least significant first.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 2 * 3 + 2)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            if let second = iterator.next() {
                var n = Int(first) << 8 | Int(second)
                for _ in 0..<3 {
                    out.append(alphabet[n % 45])
                    n /= 45
                }
            } else {
                out.append(alphabet[Int(first) % 45])
                out.append(alphabet[Int(first) / 45])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil for a character outside the alphabet, a length of 3n+1, or a group whose value does
    /// not fit its bytes (RFC 9285 §4: such text must be refused, so each byte string has one
    /// spelling).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let count = text.utf8.count
        guard count % 3 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(count / 3 * 2 + 1)
        // A group of up to three characters, least significant first.
        var group = 0, weight = 1, length = 0
        for char in text.utf8 {
            let value = values[Int(char)]
            guard value >= 0 else { return nil }
            group += Int(value) * weight
            weight *= 45
            length += 1
            if length == 3 {
                guard group <= 0xFFFF else { return nil }
                out.append(UInt8(group >> 8))
                out.append(UInt8(group & 0xFF))
                (group, weight, length) = (0, 1, 0)
            }
        }
        if length == 2 {
            guard group <= 0xFF else { return nil }
            out.append(UInt8(group))
        }
        return out
    }

    /// Each byte's value in the alphabet, -1 outside it: a token's 400 characters were looked up
    /// one by one with `firstIndex(of:)`, 2 % of the ledger server's time during a sync upload.
    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (value, char) in alphabet.enumerated() { table[Int(char)] = Int8(value) }
        return table
    }()
}
