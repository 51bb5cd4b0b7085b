import Barcodes
import SeededRandom
import Testing

@Suite("ScanCorpus")
struct ScanCorpusTests {
    @Test("the same seed gives the same frames, and a frame can be made alone")
    func deterministic() {
        let first = ScanCorpus.generate(seed: 7, count: 20, sizes: [.vga])
        let again = ScanCorpus.generate(seed: 7, count: 20, sizes: [.vga])
        #expect(first.map(\.luma) == again.map(\.luma))
        #expect(first.map(\.expected) == again.map(\.expected))
        #expect(first.map(\.summary) == again.map(\.summary))
        let alone = ScanCorpus.frame(seed: 7, index: 13, sizes: [.vga])
        #expect(alone.luma == first[13].luma && alone.expected == first[13].expected)
    }

    @Test("another seed gives other frames")
    func seeds() {
        let a = ScanCorpus.generate(seed: 1, count: 5, sizes: [.vga])
        let b = ScanCorpus.generate(seed: 2, count: 5, sizes: [.vga])
        for (x, y) in zip(a, b) { #expect(x.luma != y.luma) }
    }

    @Test("categories cycle with the index, sizes once per round, and only coded categories expect a code")
    func layout() {
        let categories = ScanCorpus.Category.allCases
        let sizes: [ScanCorpus.FrameSize] = [.vga, ScanCorpus.FrameSize(width: 320, height: 240)]
        for index in [0, 5, categories.count - 1, categories.count, categories.count + 3] {
            let frame = ScanCorpus.frame(seed: 3, index: index, sizes: sizes)
            #expect(frame.category == categories[index % categories.count])
            let size = sizes[(index / categories.count) % sizes.count]
            #expect(frame.luma.width == size.width && frame.luma.height == size.height)
            #expect((frame.expected != nil) == frame.category.hasCode)
        }
    }

    @Test("payloads look like payment codes", arguments: CorpusPayload.allCases)
    func payloads(kind: CorpusPayload) {
        var random = SplitMix64(seed: 11)
        for _ in 0..<20 {
            let text = kind.make(&random)
            switch kind {
            case .emvco: #expect(isValidEMV(text), "\(text)")
            case .digits18: #expect(text.count == 18 && text.allSatisfy(\.isNumber))
            case .base64Token: #expect(text.count >= 32 && text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            case .url: #expect(text.hasPrefix("https://") && text.contains("amount="))
            case .reference: #expect(text.contains("-") && text.allSatisfy(\.isASCII))
            }
        }
    }

    @Test("nominal frames read with zbar alone: the scene itself is fair")
    func nominalReads() {
        let scanner = CodeScanner()
        let frames = ScanCorpus.generate(seed: 5, count: 8, sizes: [.vga], categories: [.nominal])
        let read = frames.filter { CorpusOutcome(frame: $0, decoded: scanner.scan($0.luma)) == .read }
        #expect(read.count >= 7, "\(frames.map(\.summary))")
    }

    /// Walks the ID-length-value fields to the end and checks the CRC field (`63`, last, over
    /// everything before its value), as EMV QR readers do.
    private func isValidEMV(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var index = 0
        var ids: [String] = []
        while index + 4 <= bytes.count {
            let id = String(decoding: bytes[index..<index + 2], as: UTF8.self)
            guard let length = Int(String(decoding: bytes[index + 2..<index + 4], as: UTF8.self)),
                  index + 4 + length <= bytes.count else { return false }
            ids.append(id)
            index += 4 + length
        }
        guard index == bytes.count, ids.first == "00", ids.last == "63" else { return false }
        var crc: UInt16 = 0xFFFF
        for byte in bytes.dropLast(4) {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        let hex = String(crc, radix: 16, uppercase: true)
        return String(decoding: bytes.suffix(4), as: UTF8.self) == String(repeating: "0", count: 4 - hex.count) + hex
    }
}
