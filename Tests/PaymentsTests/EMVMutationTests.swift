import Payments
import SeededRandom
import Testing

@Suite("EMV MPM damaged and random input")
struct EMVMutationTests {
    @Test("Every single-character replacement by another ASCII character is refused", arguments: Vectors.all)
    func everyReplacementRefused(_ vector: String) {
        let original = scalars(vector)
        var survivors: [String] = []
        for position in original.indices {
            for code in UInt8(0)...127 where Unicode.Scalar(code) != original[position] {
                var damaged = original
                damaged[position] = Unicode.Scalar(code)
                let text = string(damaged)
                if (try? MerchantQR.parse(text)) != nil { survivors.append("offset \(position) → \(code): \(text)") }
            }
        }
        #expect(survivors.isEmpty, "\(survivors.count) damaged payloads parsed, e.g. \(survivors.prefix(3))")
    }

    @Test("Every single-character deletion is refused", arguments: Vectors.all)
    func everyDeletionRefused(_ vector: String) {
        let original = scalars(vector)
        var survivors: [Int] = []
        for position in original.indices {
            var damaged = original
            damaged.remove(at: position)
            if (try? MerchantQR.parse(string(damaged))) != nil { survivors.append(position) }
        }
        #expect(survivors.isEmpty, "deleting these offsets still parsed: \(survivors)")
    }

    @Test("Seeded random mutations and garbage never crash, and whatever parses re-encodes to the same value")
    func randomInputNeverCrashes() throws {
        let seed: UInt64 = 0x5152_504F_5321
        var rng = SplitMix64(seed: seed)
        var accepted = 0
        var refused: [EMVQRError.Code: Int] = [:]
        for _ in 0..<20_000 {
            let text = Fuzz.input(using: &rng)
            do {
                let qr = try MerchantQR.parse(text)
                accepted += 1
                let again = qr.encoded()
                // Canonical amounts may add decimals ("1" → "1.00"), which can push a payload
                // near the limit past 512 characters; only those may fail to re-parse.
                if again.unicodeScalars.count <= MerchantQR.payloadLengthMax {
                    #expect(try MerchantQR.parse(again) == qr, "seed \(seed): \(text)")
                    #expect(throws: Never.self, "seed \(seed): \(text)") { try qr.validate() }
                }
            } catch {
                refused[error.code, default: 0] += 1
                #expect(!error.message.isEmpty)
            }
        }
        // The mix must reach past the CRC into field decoding, or the test proves little.
        #expect(accepted > 200, "seed \(seed): only \(accepted) inputs parsed")
        #expect(refused.count >= 8, "seed \(seed): refusals only of kinds \(refused.keys)")
    }

    @Test("Random valid values encode, validate and parse back equal")
    func randomValuesRoundTrip() throws {
        let seed: UInt64 = 0x0071_7270_6F73
        var rng = SplitMix64(seed: seed)
        var checked = 0
        for _ in 0..<2_000 {
            let qr = Fuzz.merchantQR(using: &rng)
            guard qr.fields.reduce(14, { $0 + 4 + $1.value.unicodeScalars.count }) <= MerchantQR.payloadLengthMax else { continue }
            try qr.validate()
            #expect(try MerchantQR.parse(qr.encoded()) == qr, "seed \(seed): \(qr.encoded())")
            checked += 1
        }
        #expect(checked > 1_000)
    }
}

/// Generators for the random tests: mutations of the public vectors, garbage, and valid values.
enum Fuzz {
    static let palette: [Unicode.Scalar] = Array("0123456789ABCDEFXYZaz.*- ".unicodeScalars)
        + ["\n", "\0", "\u{7F}", "\u{85}", "é", "最", "北", "😀", "\u{301}", "\u{200D}", "\u{FFFF}"]

    static func pick<T>(_ items: [T], using rng: inout SplitMix64) -> T {
        items[Int.random(in: 0..<items.count, using: &rng)]
    }

    static func input(using rng: inout SplitMix64) -> String {
        var text: [Unicode.Scalar]
        switch Int.random(in: 0..<10, using: &rng) {
        case 0:
            text = (0..<Int.random(in: 0...600, using: &rng)).map { _ in pick(palette, using: &rng) }
        case 1:
            text = scalars("000201") + soup(using: &rng) + scalars("6304FFFF")
        default:
            text = scalars(pick(Vectors.all, using: &rng))
        }
        for _ in 0..<Int.random(in: 1...4, using: &rng) { mutate(&text, using: &rng) }
        if Bool.random(using: &rng), text.count >= 4 {
            // Reseal, so the input gets past the CRC and into field decoding.
            let head = string(text.dropLast(4))
            text = scalars(head + CRC16.hex(CRC16.ccittFalse(head.utf8)))
        }
        return string(text)
    }

    /// Data objects with random ids, mostly honest lengths and random values.
    static func soup(using rng: inout SplitMix64) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            let value = (0..<Int.random(in: 0...20, using: &rng)).map { _ in pick(palette, using: &rng) }
            let length = Int.random(in: 0..<10, using: &rng) == 0 ? Int.random(in: 0...99, using: &rng) : value.count
            out += scalars(twoDigits(Int.random(in: 0...99, using: &rng)) + twoDigits(length)) + value
        }
        return out
    }

    static func mutate(_ text: inout [Unicode.Scalar], using rng: inout SplitMix64) {
        let position = text.isEmpty ? 0 : Int.random(in: 0..<text.count, using: &rng)
        switch Int.random(in: 0..<7, using: &rng) {
        case 0 where !text.isEmpty:
            text[position] = pick(palette, using: &rng)
        case 1:
            text.insert(pick(palette, using: &rng), at: position)
        case 2 where !text.isEmpty:
            text.removeSubrange(position..<min(text.count, position + Int.random(in: 1...6, using: &rng)))
        case 3 where !text.isEmpty:
            let end = min(text.count, position + Int.random(in: 1...30, using: &rng))
            let slice = Array(text[position..<end])
            text.insert(contentsOf: slice, at: Int.random(in: 0...text.count, using: &rng))
        case 4:
            text = Array(text.prefix(position))
        case 5 where text.count >= 2:
            let at = Int.random(in: 0..<(text.count - 1), using: &rng)
            text.replaceSubrange(at..<at + 2, with: scalars(twoDigits(Int.random(in: 0...99, using: &rng))))
        default:
            text.insert(contentsOf: soup(using: &rng), at: position)
        }
    }

    static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static let ans: [Unicode.Scalar] = Array("ABCXYZabcxyz0123456789 .-*/".unicodeScalars)
    static let anyScript: [Unicode.Scalar] = ans + ["é", "ß", "最", "佳", "运", "输", "ก", "😀", "\u{200D}", "\u{301}"]

    static func text(_ alphabet: [Unicode.Scalar], _ lengths: ClosedRange<Int>, using rng: inout SplitMix64) -> String {
        string((0..<Int.random(in: lengths, using: &rng)).map { _ in pick(alphabet, using: &rng) })
    }

    static func digits(_ count: Int, using rng: inout SplitMix64) -> String {
        text(Array("0123456789".unicodeScalars), count...count, using: &rng)
    }

    /// Distinct ids from `range`, ascending.
    static func ids(_ range: ClosedRange<Int>, count: Int, using rng: inout SplitMix64) -> [String] {
        var chosen = Set<Int>()
        while chosen.count < min(count, range.count) { chosen.insert(Int.random(in: range, using: &rng)) }
        return chosen.sorted().map(twoDigits)
    }

    static func template(id: String, using rng: inout SplitMix64) -> EMVTemplate {
        let fields = ids(1...99, count: Int.random(in: 0...2, using: &rng), using: &rng).map {
            TLV(id: $0, value: text(anyScript, 1...12, using: &rng))
        }
        return EMVTemplate(id: id, gui: text(ans, 1...32, using: &rng), fields: fields)
    }

    static func merchantQR(using rng: inout SplitMix64) -> MerchantQR {
        let currency = pick(Currency.known, using: &rng)
        let accounts: [MerchantAccount] = ids(2...51, count: Int.random(in: 1...3, using: &rng), using: &rng).map { id in
            Int(id) ?? 0 <= 25 ? .primitive(TLV(id: id, value: text(ans, 1...20, using: &rng))) : .template(template(id: id, using: &rng))
        }
        let amount = Bool.random(using: &rng) ? Money(minorUnits: Int64.random(in: 0...9_999_999_999, using: &rng), currency: currency) : nil
        let tip: TipIndicator? = switch Int.random(in: 0..<4, using: &rng) {
        case 0: .promptConsumer
        case 1: .fixedFee(Money(minorUnits: Int64.random(in: 0...99_999, using: &rng), currency: currency))
        case 2: .percentageFee(percent(Int.random(in: 1...9999, using: &rng)))
        default: nil
        }
        var additional = AdditionalData(other: ids(10...99, count: Int.random(in: 0...1, using: &rng), using: &rng).map {
            TLV(id: $0, value: text(anyScript, 1...10, using: &rng))
        })
        if Bool.random(using: &rng) { additional.billNumber = text(ans, 1...25, using: &rng) }
        if Bool.random(using: &rng) { additional.referenceLabel = "***" }
        if Bool.random(using: &rng) { additional.terminalLabel = text(ans, 1...8, using: &rng) }
        if Bool.random(using: &rng) { additional.consumerDataRequest = pick(["A", "ME", "EAM"], using: &rng) }
        let language = Bool.random(using: &rng) ? LanguageTemplate(
            languagePreference: pick(["ZH", "th", "PT"], using: &rng),
            merchantName: text(anyScript, 1...25, using: &rng),
            merchantCity: Bool.random(using: &rng) ? text(anyScript, 1...15, using: &rng) : nil) : nil
        var unreserved: [UnreservedObject] = ids(65...79, count: Int.random(in: 0...1, using: &rng), using: &rng).map {
            .raw(TLV(id: $0, value: text(anyScript, 1...10, using: &rng)))
        }
        unreserved += ids(80...99, count: Int.random(in: 0...2, using: &rng), using: &rng).map { .template(template(id: $0, using: &rng)) }
        return MerchantQR(
            initiation: pick([nil, .staticCode, .dynamicCode], using: &rng),
            merchantAccounts: accounts,
            categoryCode: digits(4, using: &rng),
            currency: currency,
            amount: amount,
            tip: tip,
            countryCode: pick(["CN", "BR", "JP", "TH"], using: &rng),
            merchantName: text(anyScript, 1...25, using: &rng),
            merchantCity: text(anyScript, 1...15, using: &rng),
            postalCode: Bool.random(using: &rng) ? text(ans, 1...10, using: &rng) : nil,
            additionalData: additional.fields.isEmpty ? nil : additional,
            language: language,
            unreserved: unreserved)
    }

    /// Hundredths of a percent as field 57 writes them: "3.00", "12.5" style kept at two decimals.
    static func percent(_ hundredths: Int) -> String {
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0\(fraction)" : "\(fraction)")
    }
}
