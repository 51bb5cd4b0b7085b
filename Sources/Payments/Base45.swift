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
        var values: [Int] = []
        values.reserveCapacity(text.utf8.count)
        for char in text.utf8 {
            guard let value = alphabet.firstIndex(of: char) else { return nil }
            values.append(value)
        }
        guard values.count % 3 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(values.count / 3 * 2 + 1)
        var i = 0
        while i < values.count {
            if values.count - i >= 3 {
                let n = values[i] + values[i + 1] * 45 + values[i + 2] * 45 * 45
                guard n <= 0xFFFF else { return nil }
                out.append(UInt8(n >> 8))
                out.append(UInt8(n & 0xFF))
                i += 3
            } else {
                let n = values[i] + values[i + 1] * 45
                guard n <= 0xFF else { return nil }
                out.append(UInt8(n))
                i += 2
            }
        }
        return out
    }
}
