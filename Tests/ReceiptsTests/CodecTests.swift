import Foundation
import Payments
import Receipts
import Testing

@Suite("Canonical bytes and the compact form")
struct CodecTests {
    /// `Fixtures.sale` as Python's `json.dumps(sort_keys=True, separators=(',', ':'),
    /// ensure_ascii=False)` writes it: an independent statement of the canonical form.
    static let saleCanonical = #"{"amount":1250,"currency":"CNY","issuedAt":1714566896,"kind":"sale","lines":[{"name":"Beef noodles","quantity":1,"total":850,"unitPrice":850},{"name":"Tea","quantity":2,"total":400,"unitPrice":200}],"merchantCity":"Shanghai","merchantID":"M100200","merchantName":"Corner Noodle Bar","method":"customer code","number":"T1-000042","orderID":"ORD-881","payer":"code …3456","paymentID":"7f3a9c2e11d04b5e","terminalID":"T1"}"#

    /// The stamp of `saleCanonical` (its SHA-256 inside), signed with seed 07×32 by Python's
    /// `cryptography` (Ed25519 per RFC 8032), base64url by `base64.urlsafe_b64encode` without padding.
    static let saleStamp = "QRV1*T1-000042*T1*sale*CNY*1250*1714566896*MRAIDRA_eD366ODDkIiZawGq1YINwIHYSfCIHwmzJ4M*fe812c12f3ab4ce6*PxjrO9aUYwzrXuBoyTtzhNvEsZZxd208Z00iktgqPjMSXPfOwuDBhTMfQRipBPjd3dvA9yK-q70TZzC9taV9CQ"

    /// The compact form of `saleCanonical` with that signature, made the same way.
    static let saleCompact = "QRR2.eyJhbW91bnQiOjEyNTAsImN1cnJlbmN5IjoiQ05ZIiwiaXNzdWVkQXQiOjE3MTQ1NjY4OTYsImtpbmQiOiJzYWxlIiwibGluZXMiOlt7Im5hbWUiOiJCZWVmIG5vb2RsZXMiLCJxdWFudGl0eSI6MSwidG90YWwiOjg1MCwidW5pdFByaWNlIjo4NTB9LHsibmFtZSI6IlRlYSIsInF1YW50aXR5IjoyLCJ0b3RhbCI6NDAwLCJ1bml0UHJpY2UiOjIwMH1dLCJtZXJjaGFudENpdHkiOiJTaGFuZ2hhaSIsIm1lcmNoYW50SUQiOiJNMTAwMjAwIiwibWVyY2hhbnROYW1lIjoiQ29ybmVyIE5vb2RsZSBCYXIiLCJtZXRob2QiOiJjdXN0b21lciBjb2RlIiwibnVtYmVyIjoiVDEtMDAwMDQyIiwib3JkZXJJRCI6Ik9SRC04ODEiLCJwYXllciI6ImNvZGUg4oCmMzQ1NiIsInBheW1lbnRJRCI6IjdmM2E5YzJlMTFkMDRiNWUiLCJ0ZXJtaW5hbElEIjoiVDEifQ.fe812c12f3ab4ce6.PxjrO9aUYwzrXuBoyTtzhNvEsZZxd208Z00iktgqPjMSXPfOwuDBhTMfQRipBPjd3dvA9yK-q70TZzC9taV9CQ"

    @Test("canonical bytes are sorted-key JSON without whitespace, as another implementation writes them")
    func canonicalMatchesReference() throws {
        let bytes = try ReceiptCodec.canonicalBytes(Fixtures.sale)
        #expect(String(decoding: bytes, as: UTF8.self) == Self.saleCanonical)
    }

    @Test("canonical bytes are the same on every encode, and differ when a field does")
    func canonicalStable() throws {
        for receipt in [Fixtures.sale, Fixtures.refund, Fixtures.yen, Fixtures.long] {
            let first = try ReceiptCodec.canonicalBytes(receipt)
            let second = try ReceiptCodec.canonicalBytes(receipt)
            #expect(first == second)
            #expect(!first.contains(UInt8(ascii: "\n")))
            // The decoded copy encodes to the same bytes: what the verifier rebuilds is what was signed.
            let decoded = try JSONDecoder().decode(Receipt.self, from: Data(first))
            #expect(decoded == receipt)
            #expect(try ReceiptCodec.canonicalBytes(decoded) == first)
        }
    }

    @Test("top-level keys of the canonical bytes are in sorted order")
    func canonicalKeyOrder() throws {
        let bytes = try ReceiptCodec.canonicalBytes(Fixtures.refund)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let text = String(decoding: bytes, as: UTF8.self)
        let positions = object.keys.map { key in (key, text.range(of: "\"\(key)\":")!.lowerBound) }
        let inTextOrder = positions.sorted { $0.1 < $1.1 }.map(\.0)
        #expect(inTextOrder == object.keys.sorted())
        #expect(inTextOrder.contains("refundOf"))
        #expect(!inTextOrder.contains("orderID"), "an absent optional is left out, not null")
    }

    @Test("the canonical bytes and JSONEncoder agree, so a receipt file reads back to what was signed")
    func canonicalMatchesCodable() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for receipt in [Fixtures.sale, Fixtures.refund, Fixtures.yen, Fixtures.long] {
            #expect(try encoder.encode(receipt) == Data(try ReceiptCodec.canonicalBytes(receipt)))
        }
    }

    @Test("a compact string made elsewhere parses and verifies; ours is byte for byte the same")
    func referenceCompact() throws {
        let parsed = try ReceiptCodec.parse(compact: Self.saleCompact)
        #expect(parsed.receipt == Fixtures.sale)
        #expect(parsed.keyID == Fixtures.key.keyID)
        try ReceiptCodec.verify(parsed, publicKey: Fixtures.key.publicKey)
        #expect(try ReceiptCodec.compact(parsed) == Self.saleCompact)
    }

    @Test("the stamp made elsewhere verifies alone; ours is byte for byte the same; a changed field or a foreign key fails")
    func referenceStamp() throws {
        let signed = try ReceiptCodec.parse(compact: Self.saleCompact)
        #expect(try ReceiptCodec.stamp(signed) == Self.saleStamp)
        let stamp = try ReceiptCodec.parseStamp(Self.saleStamp)
        #expect(stamp.number == "T1-000042" && stamp.amount == 1_250 && stamp.currency == "CNY" && stamp.kind == .sale)
        try ReceiptCodec.verify(stamp: stamp, publicKey: Fixtures.key.publicKey)
        #expect(try ReceiptCodec.mismatches(signed, stamp: stamp).isEmpty)
        let forged = try ReceiptCodec.parseStamp(Self.saleStamp.replacingOccurrences(of: "*1250*", with: "*125*"))
        #expect(throws: ReceiptError.self) { try ReceiptCodec.verify(stamp: forged, publicKey: Fixtures.key.publicKey) }
        let foreign = #expect(throws: ReceiptError.self) { try ReceiptCodec.verify(stamp: stamp, publicKey: Fixtures.otherKey.publicKey) }
        #expect(foreign?.code == .keyMismatch)
        for bad in ["", "QRV1", "QRV2*a", "QRV1*a*b*c*d*e*f*g*h*i", String(Self.saleStamp.dropLast(10)), "QRV1*T%2*T1*sale*CNY*1*1*x*y*z"] {
            #expect(throws: ReceiptError.self, "\(bad)") { try ReceiptCodec.parseStamp(bad) }
        }
    }

    @Test("a receipt checked against a QR names each field that differs, and the rest as one")
    func mismatchesNamed() throws {
        let signed = try Fixtures.key.sign(Fixtures.sale)
        var other = Fixtures.sale
        other.amount = Fixtures.cny(125)
        other.number = "T1-000043"
        let otherStamp = try ReceiptCodec.parseStamp(try ReceiptCodec.stamp(try Fixtures.key.sign(other)))
        let named = try ReceiptCodec.mismatches(signed, stamp: otherStamp)
        #expect(named.count == 2 && named.contains { $0.hasPrefix("number:") } && named.contains { $0.hasPrefix("amount:") })
        var items = Fixtures.sale
        items.lines[0].name = "Pork noodles"
        let itemsStamp = try ReceiptCodec.parseStamp(try ReceiptCodec.stamp(try Fixtures.key.sign(items)))
        #expect(try ReceiptCodec.mismatches(signed, stamp: itemsStamp).count == 1)
        // Star and percent in a number survive the stamp.
        var starred = Fixtures.sale
        starred.number = "T*1%-42"
        let starredStamp = try ReceiptCodec.parseStamp(try ReceiptCodec.stamp(try Fixtures.key.sign(starred)))
        #expect(starredStamp.number == "T*1%-42")
        try ReceiptCodec.verify(stamp: starredStamp, publicKey: Fixtures.key.publicKey)
    }

    @Test("compact form round-trips exactly")
    func compactRoundTrip() throws {
        for receipt in [Fixtures.sale, Fixtures.refund, Fixtures.yen, Fixtures.long] {
            let signed = try Fixtures.key.sign(receipt)
            let text = try ReceiptCodec.compact(signed)
            #expect(text.hasPrefix("QRR2."))
            #expect(text.allSatisfy { $0.isASCII && !$0.isWhitespace })
            let parsed = try ReceiptCodec.parse(compact: text)
            #expect(parsed == signed)
            #expect(try ReceiptCodec.compact(parsed) == text)
            try ReceiptCodec.verify(parsed, publicKey: Fixtures.key.publicKey)
            #expect(try ReceiptCodec.parse(compact: "  \(text)\n") == signed)
        }
    }

    @Test("a receipt file (pretty JSON) round-trips and verifies")
    func fileRoundTrip() throws {
        let signed = try Fixtures.key.sign(Fixtures.long)
        let file = try ReceiptCodec.json(signed)
        #expect(file.contains("\n  "))
        #expect(file.contains(#""signature" : ""#))
        let parsed = try ReceiptCodec.parse(compact: file)
        #expect(parsed == signed)
        try ReceiptCodec.verify(parsed, publicKey: Fixtures.key.publicKey)
    }

    @Test("malformed compact strings are refused with a clear error", arguments: [
        ("", ReceiptError.Code.malformed),
        ("hello", .malformed),
        ("QRR2", .malformed),
        ("QRR2...", .malformed),
        ("QRR2.e30.fe812c12f3ab4ce6.AAAA", .malformed),
        ("QRR3.abc.def.ghi", .unsupportedVersion),
        ("QRR1.abc.def.ghi", .unsupportedVersion),
        ("QRR2.!!!!.fe812c12f3ab4ce6.AAAA", .malformed),
        ("QRR2.eyJhIjoxfQ==.fe812c12f3ab4ce6.AAAA", .malformed),
        ("{", .malformed),
        ("{}", .malformed),
        (#"{"keyID":"fe812c12f3ab4ce6","signature":"%%","receipt":{}}"#, .malformed),
        (String(repeating: "A", count: Receipt.Limits.parseBytesMax + 1), .tooLarge),
    ])
    func garbage(_ text: String, _ code: ReceiptError.Code) {
        let error = #expect(throws: ReceiptError.self) { try ReceiptCodec.parse(compact: text) }
        #expect(error?.code == code)
        #expect(error.map { !$0.message.isEmpty && !$0.message.contains("\n") } == true)
    }

    @Test("every truncation of a compact string is refused")
    func truncated() throws {
        let text = Self.saleCompact
        for length in 0..<text.count {
            #expect(throws: ReceiptError.self, "cut to \(length)") {
                try ReceiptCodec.parse(compact: String(text.prefix(length)))
            }
        }
    }

    @Test("every one-character change to a compact string is refused by parse or by verify")
    func mutated() throws {
        let text = Array(Self.saleCompact)
        var mutations = 0
        for index in text.indices {
            for replacement in ["A", "z", "0", "-", "_", ".", "="] as [Character] where text[index] != replacement {
                var changed = text
                changed[index] = replacement
                mutations += 1
                do {
                    let parsed = try ReceiptCodec.parse(compact: String(changed))
                    try ReceiptCodec.verify(parsed, publicKey: Fixtures.key.publicKey)
                    Issue.record("verified a receipt changed at \(index) to \(replacement)")
                } catch {
                    // Refused, as it must be.
                }
            }
        }
        #expect(mutations > 3000)
    }

    @Test("a payload that decodes but is not canonical is refused")
    func notCanonical() throws {
        let signed = try Fixtures.key.sign(Fixtures.sale)
        let parts = try ReceiptCodec.compact(signed).split(separator: ".").map(String.init)
        // The same receipt with an unsigned extra field, and with a space after the brace.
        for payload in [
            Self.saleCanonical.replacingOccurrences(of: #""terminalID":"T1"}"#, with: #""terminalID":"T1","x":1}"#),
            Self.saleCanonical.replacingOccurrences(of: "{\"amount\"", with: "{ \"amount\""),
        ] {
            let encoded = Data(payload.utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let error = #expect(throws: ReceiptError.self) {
                try ReceiptCodec.parse(compact: [parts[0], encoded, parts[2], parts[3]].joined(separator: "."))
            }
            #expect(error?.code == .notCanonical)
        }
    }

    @Test("an unknown currency or a missing field names the field")
    func badPayloadFields() throws {
        func compact(_ json: String) -> String {
            let encoded = Data(json.utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            return "QRR2.\(encoded).fe812c12f3ab4ce6.\(String(repeating: "A", count: 85))A"
        }
        let unknown = #expect(throws: ReceiptError.self) {
            try ReceiptCodec.parse(compact: compact(Self.saleCanonical.replacingOccurrences(of: "CNY", with: "XXX")))
        }
        #expect(unknown?.message.contains("currency") == true)
        let missing = #expect(throws: ReceiptError.self) {
            try ReceiptCodec.parse(compact: compact(Self.saleCanonical.replacingOccurrences(of: #""number":"T1-000042","#, with: "")))
        }
        #expect(missing?.message.contains("'number'") == true)
    }
}
