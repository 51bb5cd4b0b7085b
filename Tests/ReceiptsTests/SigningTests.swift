import Payments
import Receipts
import Testing

/// One change to one signed field, for "any single field" tests.
enum Tamper: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case amount, currency, merchantID, merchantName, merchantCity, number, issuedAt, kind, terminalID,
         paymentID, refundOf, orderID, method, payer, lineName, lineQuantity, lineTotal, lineRemoved

    var testDescription: String { rawValue }

    func apply(to receipt: inout Receipt) {
        switch self {
        case .amount: receipt.amount = Fixtures.cny(receipt.amount.minorUnits + 1)
        case .currency:
            receipt.amount = Money(minorUnits: receipt.amount.minorUnits, currency: Currency("HKD")!)
            receipt.lines = []
        case .merchantID: receipt.merchantID += "0"
        case .merchantName: receipt.merchantName = "Corner Noodle Bat"
        case .merchantCity: receipt.merchantCity = "Beijing"
        case .number: receipt.number = "T1-000041"
        case .issuedAt: receipt.issuedAt += 1
        case .kind:
            receipt.kind = .refund
            receipt.refundOf = "x"
        case .terminalID: receipt.terminalID = "T2"
        case .paymentID: receipt.paymentID = "7f3a9c2e11d04b5f"
        case .refundOf: receipt.kind = .refund; receipt.refundOf = "7f3a9c2e11d04b5e"
        case .orderID: receipt.orderID = nil
        case .method: receipt.method = "merchant QR"
        case .payer: receipt.payer = "code …3457"
        case .lineName: receipt.lines[0].name = "Pork noodles"
        case .lineQuantity: receipt.lines[1].quantity = 3
        case .lineTotal: receipt.lines[1].total = Fixtures.cny(401)
        case .lineRemoved: receipt.lines.removeLast()
        }
    }
}

@Suite("Signing and verifying")
struct SigningTests {
    @Test("a signed receipt verifies with the signer's public key")
    func signThenVerify() throws {
        for receipt in [Fixtures.sale, Fixtures.refund, Fixtures.yen, Fixtures.long] {
            let signed = try Fixtures.key.sign(receipt)
            #expect(signed.signature.count == 64)
            #expect(signed.keyID == Fixtures.key.keyID)
            try ReceiptCodec.verify(signed, publicKey: Fixtures.key.publicKey)
        }
    }

    @Test("changing any one signed field fails verification", arguments: Tamper.allCases)
    func tamperedField(_ tamper: Tamper) throws {
        var signed = try Fixtures.key.sign(Fixtures.sale)
        tamper.apply(to: &signed.receipt)
        #expect(signed.receipt != Fixtures.sale)
        let error = #expect(throws: ReceiptError.self) {
            try ReceiptCodec.verify(signed, publicKey: Fixtures.key.publicKey)
        }
        #expect(error?.code == .signatureInvalid)
    }

    @Test("changing any one signed field inside a compact string fails verification", arguments: Tamper.allCases)
    func tamperedCompact(_ tamper: Tamper) throws {
        let signed = try Fixtures.key.sign(Fixtures.sale)
        var forged = Fixtures.sale
        tamper.apply(to: &forged)
        // A forger re-encodes the changed receipt and keeps the original signature.
        let parts = try ReceiptCodec.compact(signed).split(separator: ".")
        let forgedPayload = try ReceiptCodec.compact(SignedReceipt(receipt: forged, keyID: signed.keyID, signature: signed.signature))
            .split(separator: ".")[1]
        let text = [parts[0], forgedPayload, parts[2], parts[3]].joined(separator: ".")
        let parsed = try ReceiptCodec.parse(compact: text)
        #expect(parsed.receipt == forged)
        let error = #expect(throws: ReceiptError.self) {
            try ReceiptCodec.verify(parsed, publicKey: Fixtures.key.publicKey)
        }
        #expect(error?.code == .signatureInvalid)
    }

    @Test("a flipped signature bit fails verification")
    func flippedSignature() throws {
        var signed = try Fixtures.key.sign(Fixtures.sale)
        signed.signature[10] ^= 0x01
        let error = #expect(throws: ReceiptError.self) {
            try ReceiptCodec.verify(signed, publicKey: Fixtures.key.publicKey)
        }
        #expect(error?.code == .signatureInvalid)
    }

    @Test("verifying with another terminal's key is a key id error, not a forgery")
    func wrongKey() throws {
        let signed = try Fixtures.key.sign(Fixtures.sale)
        let error = #expect(throws: ReceiptError.self) {
            try ReceiptCodec.verify(signed, publicKey: Fixtures.otherKey.publicKey)
        }
        #expect(error?.code == .keyMismatch)
        #expect(error?.message.contains(Fixtures.key.keyID) == true)
        #expect(error?.message.contains(Fixtures.otherKey.keyID) == true)
    }

    @Test("a receipt claiming the verifier's key id but signed by another key fails the signature")
    func claimedKeyID() throws {
        var signed = try Fixtures.otherKey.sign(Fixtures.sale)
        signed.keyID = Fixtures.key.keyID
        let error = #expect(throws: ReceiptError.self) {
            try ReceiptCodec.verify(signed, publicKey: Fixtures.key.publicKey)
        }
        #expect(error?.code == .signatureInvalid)
    }

    @Test("the key id is the first 8 bytes of SHA-256 of the public key, in hex")
    func keyID() throws {
        // The public key of seed 07×32 and its SHA-256, computed independently with Python's
        // `cryptography` and `hashlib`.
        #expect(Fixtures.key.keyID == "fe812c12f3ab4ce6")
        #expect(Fixtures.otherKey.keyID == "dbc298251c51321b")
        let reloaded = try ReceiptKey(rawRepresentation: Fixtures.key.rawRepresentation)
        #expect(reloaded.keyID == Fixtures.key.keyID)
        let published = try ReceiptKey.publicKey(rawRepresentation: Fixtures.key.publicKey.rawRepresentation)
        #expect(ReceiptKey.keyID(of: published) == Fixtures.key.keyID)
    }

    @Test("a key of the wrong size is refused with a clear error")
    func badKey() {
        let error = #expect(throws: ReceiptError.self) { try ReceiptKey(rawRepresentation: [UInt8](repeating: 1, count: 31)) }
        #expect(error?.code == .invalidKey)
        #expect(error?.message.contains("31") == true)
        #expect(throws: ReceiptError.self) { try ReceiptKey.publicKey(rawRepresentation: [UInt8]()) }
    }

    @Test("receipts a signer must not vouch for are refused", arguments: Invalid.allCases)
    func invalid(_ change: Invalid) {
        var receipt = Fixtures.sale
        change.apply(to: &receipt)
        let error = #expect(throws: ReceiptError.self) { try Fixtures.key.sign(receipt) }
        #expect(error?.code == .invalidField)
    }
}

/// One way to make a receipt that must not be signed.
enum Invalid: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case zeroAmount, negativeAmount, refundWithoutOriginal, saleNamingOriginal, escapeInName, newlineInPayer,
         emptyNumber, lineInOtherCurrency, zeroQuantity, textTooLong, negativeTime

    var testDescription: String { rawValue }

    func apply(to receipt: inout Receipt) {
        switch self {
        case .zeroAmount: receipt.amount = Fixtures.cny(0)
        case .negativeAmount: receipt.amount = Fixtures.cny(-5)
        case .refundWithoutOriginal: receipt.kind = .refund
        case .saleNamingOriginal: receipt.refundOf = "x"
        case .escapeInName: receipt.merchantName = "Shop\u{1B}@"
        case .newlineInPayer: receipt.payer = "a\nb"
        case .emptyNumber: receipt.number = ""
        case .lineInOtherCurrency: receipt.lines[0].total = Money(minorUnits: 1, currency: .USD)
        case .zeroQuantity: receipt.lines[0].quantity = 0
        case .textTooLong: receipt.merchantName = String(repeating: "x", count: Receipt.Limits.textBytesMax + 1)
        case .negativeTime: receipt.issuedAt = -1
        }
    }
}
