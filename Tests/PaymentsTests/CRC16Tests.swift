import Payments
import Testing

@Suite("CRC-16/CCITT-FALSE")
struct CRC16Tests {
    @Test("The check value of \"123456789\" is 0x29B1")
    func checkValue() {
        #expect(CRC16.ccittFalse("123456789".utf8) == 0x29B1)
    }

    @Test("No bytes leave the initial value 0xFFFF")
    func empty() {
        #expect(CRC16.ccittFalse([UInt8]()) == 0xFFFF)
    }

    @Test("The CRC is written as four upper-case hex digits, zero-padded")
    func hex() {
        #expect(CRC16.hex(0x29B1) == "29B1")
        #expect(CRC16.hex(0x00AF) == "00AF")
        #expect(CRC16.hex(0) == "0000")
    }

    @Test("Each public vector's CRC covers the UTF-8 bytes up to and including 6304", arguments: Vectors.all)
    func vectorCRC(_ vector: String) {
        let bytes = Array(vector.utf8)
        let written = String(decoding: bytes.suffix(4), as: UTF8.self)
        #expect(CRC16.hex(CRC16.ccittFalse(bytes.dropLast(4))) == written)
    }
}
