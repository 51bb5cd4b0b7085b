import Foundation
import Payments
import Testing

/// UUIDv7 text is made and checked by hand (hex, not Foundation's sscanf and snprintf): it must
/// agree with Foundation's UUID on every id, in either case, and refuse what is not one.
@Suite("UUIDv7 ids") struct IdentifierTests {
    @Test("made ids are Foundation's text of their bytes, lower case, version 7, and valid")
    func madeAgreeWithFoundation() throws {
        for _ in 0..<2_000 {
            let id = UUIDv7.make()
            let parsed = try #require(UUID(uuidString: id))
            #expect(parsed.uuidString.lowercased() == id)
            #expect(parsed.uuid.6 >> 4 == 7 && parsed.uuid.8 >> 6 == 0b10)
            #expect(UUIDv7.isValid(id) && UUIDv7.isValid(id.uppercased()))
        }
    }

    @Test("any UUID text Foundation writes is valid exactly when its version is 7")
    func foundationTextChecked() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var b = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) { b[6] = 0x70 | (b[6] & 0x0F) }
            let text = UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])).uuidString
            #expect(UUIDv7.isValid(text) == (b[6] >> 4 == 7), "\(text)")
            #expect(UUIDv7.isValid(text.lowercased()) == (b[6] >> 4 == 7), "\(text)")
        }
    }

    @Test("what is not a UUID is refused", arguments: [
        "", "0190b6a2-6e2c-7a3b-8c4d-5e6f7a8b9c0", "0190b6a2-6e2c-7a3b-8c4d-5e6f7a8b9c0d0", "0190b6a26e2c-7a3b-8c4d-5e6f7a8b9c0d0",
        "0190b6a2-6e2c-7a3b-8c4d_5e6f7a8b9c0d", "0190b6a2-6e2c-7a3b-8c4d-5e6f7a8b9c0g", "0190b6a2-6e2c-7a3b-8c4d-5e6f7a8b9c0é",
        "{190b6a2-6e2c-7a3b-8c4d-5e6f7a8b9c0d", "0190b6a2-6e2c-6a3b-8c4d-5e6f7a8b9c0d",
    ])
    func refused(_ text: String) {
        #expect(!UUIDv7.isValid(text))
    }

    @Test("a well-formed version 7 id is valid in either case")
    func accepted() {
        #expect(UUIDv7.isValid("0190b6a2-6e2c-7a3b-8c4d-5e6f7a8b9c0d"))
        #expect(UUIDv7.isValid("0190B6A2-6E2C-7A3B-8C4D-5E6F7A8B9C0D"))
    }
}
