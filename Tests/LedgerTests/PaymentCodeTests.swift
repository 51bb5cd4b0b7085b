import Payments
import Testing

@Suite("Customer payment codes")
struct PaymentCodeTests {
    @Test("a random code is 18 digits with the qrpos prefix and a valid check digit")
    func random() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let code = PaymentCode.random(using: &rng)
            #expect(code.digits.count == 18 && code.digits.hasPrefix("28"))
            #expect(try PaymentCode(code.digits) == code)
            #expect(try PaymentCode(code.grouped) == code)
        }
    }

    @Test("a single mistyped digit is caught by the check digit")
    func luhn() throws {
        var rng = SystemRandomNumberGenerator()
        let code = PaymentCode.random(using: &rng).digits
        for i in code.indices where i >= code.index(code.startIndex, offsetBy: 2) {
            let digit = code[i].wholeNumberValue!
            var mutated = code
            mutated.replaceSubrange(i...i, with: String((digit + 1) % 10))
            #expect(throws: PaymentCodeError.self) { try PaymentCode(mutated) }
        }
    }

    @Test("malformed codes are refused with a reason", arguments: ["", "28123", "2812345678901234567", "abcdefghijklmnopqr", "101234567890123456"])
    func malformed(text: String) {
        #expect(throws: PaymentCodeError.self) { try PaymentCode(text) }
    }
}
