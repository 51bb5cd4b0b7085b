/// The CRC that closes every EMV QR payload (field 63).
public enum CRC16 {
    /// CRC-16/CCITT-FALSE as EMVCo names it after ISO/IEC 13239: polynomial 0x1021, initial value
    /// 0xFFFF, no reflection, no final XOR. The check value for the ASCII bytes of "123456789" is
    /// 0x29B1.
    ///
    /// EMV QR runs it over the UTF-8 bytes of the payload up to and including "6304", so pass
    /// `payload.utf8`, never the characters.
    public static func ccittFalse(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                // `<<` on UInt16 drops the bits shifted out, which is exactly the CRC register.
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }

    /// The CRC as field 63 writes it: four upper-case hex digits, zero-padded.
    public static func hex(_ crc: UInt16) -> String {
        let digits = String(crc, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}
