import Barcodes
import Testing

/// Draws `image` onto a `fill`-coloured frame of `width` x `height` at (`left`, `top`).
private func place(_ image: LumaFrame, width: Int = 640, height: Int = 480, left: Int = 180, top: Int = 120, fill: UInt8) -> LumaFrame {
    var frame = LumaFrame(width: width, height: height, fill: fill)
    for y in 0..<image.height {
        for x in 0..<image.width { frame[left + x, top + y] = image[x, y] }
    }
    return frame
}

@Suite("RobustScanner")
struct RobustScannerTests {
    @Test("a light-on-dark code: zbar alone reads nothing, the robust scanner reads it by inverting a region")
    func inverted() throws {
        let payload = "00020101021229300012com.example.pay0110123456789052045411530397854041.005802DE6304ABCD"
        var symbol = Render.raster(try QREncoder.encode(payload), moduleSize: 4)
        for i in symbol.pixels.indices { symbol.pixels[i] = 255 - symbol.pixels[i] }
        let frame = place(symbol, fill: 20)
        #expect(CodeScanner().scan(frame).isEmpty)
        let result = RobustScanner().scan(frame, budgetMillis: nil)
        #expect(result.codes == [ScannedCode(symbology: .qrCode, data: Array(payload.utf8))])
        #expect(result.strategy == ScanStrategy(.regions, .invert))
        #expect(result.tried.first == RobustScanner.strategiesDefault.first && result.tried.last == result.strategy)
    }

    @Test("a barcode turned 40 degrees: no row or column of zbar's crosses it, turning its region level does")
    func turnedBarcode() throws {
        let bars = Render.raster(code128: try Code128.encode("281234567890123456"), moduleWidth: 3, height: 90)
        var turned = LumaFrame(width: 1, height: 1)
        LumaOps.rotate(place(bars, width: 700, height: 500, left: 120, top: 200, fill: 255), into: &turned, degrees: 40)
        #expect(CodeScanner().scan(turned).isEmpty)
        let result = RobustScanner().scan(turned, budgetMillis: nil)
        #expect(result.codes.first?.text == "281234567890123456")
        #expect([.align, .profile, .axis].contains(result.strategy?.filter))
    }

    @Test("the axis of a turned barcode is found from its bar edges, and sampling a band along it reads the code")
    func barcodeAxis() throws {
        let bars = Render.raster(code128: try Code128.encode("281234567890123456"), moduleWidth: 3, height: 90)
        var turned = LumaFrame(width: 1, height: 1)
        LumaOps.rotate(place(bars, width: 700, height: 500, left: 120, top: 200, fill: 255), into: &turned, degrees: 25)
        let axis = try #require(LumaOps.barcodeAxis(turned))
        // rotate(by: 25) turns the content by -25 in image terms: the axis reads 155 degrees.
        #expect(abs(axis.angle - 155) < 2, "axis \(axis.angle)")
        #expect(abs(axis.centreX - Double(turned.width) / 2) < 20 && abs(axis.centreY - Double(turned.height) / 2) < 20)
        #expect(abs(axis.length - Double(bars.width - 60)) < 80, "length \(axis.length) of a code \(bars.width) wide with quiet zones")
        var band = LumaFrame(width: 1, height: 1)
        LumaOps.sampleRotated(turned, into: &band, degrees: axis.angle, centreX: axis.centreX, centreY: axis.centreY,
                              width: Int(axis.length * 1.4) + 16, height: 40)
        #expect(CodeScanner(symbologies: [.code128]).scan(band).first?.text == "281234567890123456")
        #expect(LumaOps.barcodeAxis(LumaFrame(width: 64, height: 64, fill: 128)) == nil, "a flat frame has no axis")
    }

    @Test("a QR code's outline is its four corners, on a card lighter than it and a background darker than the card")
    func codeQuad() throws {
        let matrix = try QREncoder.encode("https://pay.example.com/o/A1B2C3?amount=12.50")
        let symbol = Render.raster(matrix, moduleSize: 4)
        // Card at (180, 120); the symbol's dark modules start 4 modules (16 pixels) in.
        let frame = place(symbol, fill: 90)
        let quad = LumaOps.codeQuad(frame)
        let corners = try #require(quad)
        let first = 180.0 + 16, last = 180.0 + 16 + Double(4 * matrix.size - 1)
        let firstY = 120.0 + 16, lastY = 120.0 + 16 + Double(4 * matrix.size - 1)
        let expected = [PixelPoint(x: first, y: firstY), PixelPoint(x: last, y: firstY), PixelPoint(x: last, y: lastY), PixelPoint(x: first, y: lastY)]
        for corner in expected {
            // The bottom-right corner of a QR code has no finder pattern: its outermost dark
            // modules may stop a module or two short of the corner.
            let nearest = corners.map { abs($0.x - corner.x) + abs($0.y - corner.y) }.min()!
            #expect(nearest <= 12, "corner \(corner) not among \(corners)")
        }
        // Clockwise on screen: what warpQuad keeps unmirrored.
        let turn = (corners[1].x - corners[0].x) * (corners[2].y - corners[0].y) - (corners[1].y - corners[0].y) * (corners[2].x - corners[0].x)
        #expect(turn > 0)
        #expect(LumaOps.codeQuad(LumaFrame(width: 64, height: 64, fill: 128)) == nil, "a flat frame has no outline")
        #expect(LumaOps.codeQuad(noiseFrame(width: 128, height: 128, seed: 3)) == nil, "noise has no card to outline")
    }

    @Test("a QR code in steep perspective: zbar alone reads nothing, warping its outline back to a square does")
    func keystone() throws {
        let payload = "00020101021229300012com.example.pay0110123456789052045411530397854041.005802DE6304ABCD"
        let upright = place(Render.raster(try QREncoder.encode(payload), moduleSize: 5), width: 700, height: 560, left: 130, top: 150, fill: 110)
        // Sampling a keystone of the upright frame onto a square shows the code with the inverse
        // keystone: as a phone tilted about 50 degrees away from the camera shows it.
        let keystone = [PixelPoint(x: 90, y: 0), PixelPoint(x: 380, y: 120), PixelPoint(x: 380, y: 405), PixelPoint(x: 90, y: 525)]
        var tilted = LumaFrame(width: 1, height: 1)
        LumaOps.warpQuad(upright, corners: keystone, into: &tilted, side: 480, marginFraction: 0)
        #expect(CodeScanner().scan(tilted).isEmpty)
        let codes = RobustScanner().attempt(ScanStrategy(.regions, .rectify), on: tilted)
        #expect(codes == [ScannedCode(symbology: .qrCode, data: Array(payload.utf8))])
    }

    @Test("two lanes read what one lane reads on hard frames, and report every strategy they tried in order")
    func twoLanes() {
        let frames = Corpus.frames.filter { [.perspective, .inverted, .blurred].contains($0.category) }.prefix(12)
        let one = RobustScanner(laneCount: 1), two = RobustScanner(laneCount: 2)
        var readByOne = 0, readByTwo = 0
        for frame in frames {
            // A generous budget: what differs is only which lane finds it first.
            let a = one.scan(frame.luma, budgetMillis: 1_000), b = two.scan(frame.luma, budgetMillis: 1_000)
            if CorpusOutcome(frame: frame, decoded: a.codes) == .read { readByOne += 1 }
            if CorpusOutcome(frame: frame, decoded: b.codes) == .read { readByTwo += 1 }
            #expect(CorpusOutcome(frame: frame, decoded: b.codes) != .misread)
            let positions = b.tried.map { RobustScanner.strategiesDefault.firstIndex(of: $0)! }
            #expect(positions == positions.sorted(), "tried in the default order")
            if let strategy = b.strategy { #expect(b.tried.contains(strategy)) }
        }
        #expect(readByTwo >= readByOne && readByOne > 0)
    }

    /// Pairs of a corpus category and a strategy meant for it.
    static let remedies: [(ScanCorpus.Category, ScanStrategy)] = [
        (.inverted, ScanStrategy(.regions, .invert)),
        (.noisy, ScanStrategy(.regions, .halve)),
        (.noisy, ScanStrategy(.regions, .denoise)),
        (.lowContrast, ScanStrategy(.regions, .dense)),
        (.moire, ScanStrategy(.regions, .box)),
        (.blurred, ScanStrategy(.regions, .sharpen)),
        (.smallModules, ScanStrategy(.regions, .dense)),
        (.rotated, ScanStrategy(.regions, .align)),
        (.rotated, ScanStrategy(.regions, .profile)),
        (.perspective, ScanStrategy(.regions, .axis)),
        (.perspective, ScanStrategy(.regions, .rectify)),
    ]

    @Test("each strategy reads frames of its category that zbar alone misses", arguments: remedies)
    func remedy(category: ScanCorpus.Category, strategy: ScanStrategy) {
        let frames = Corpus.frames.filter { $0.category == category }
        let plain = CodeScanner()
        let robust = RobustScanner()
        var plainReads = 0, rescued = 0
        for frame in frames {
            let plainRead = CorpusOutcome(frame: frame, decoded: plain.scan(frame.luma)) == .read
            let strategyRead = CorpusOutcome(frame: frame, decoded: robust.attempt(strategy, on: frame.luma)) == .read
            if plainRead { plainReads += 1 }
            if strategyRead && !plainRead { rescued += 1 }
        }
        #expect(rescued >= 1, "\(strategy) rescued none of the \(frames.count - plainReads) \(category) frames zbar missed")
    }

    @Test("a live loop spreads the strategies over frames, and then leads with the one that worked")
    func live() throws {
        var symbol = Render.raster(try QREncoder.encode("https://pay.example.com/o/A1B2C3?amount=12.50"), moduleSize: 4)
        for i in symbol.pixels.indices { symbol.pixels[i] = 255 - symbol.pixels[i] }
        let frame = place(symbol, fill: 30)
        let scanner = RobustScanner()
        var cursor = ScanCursor()
        var framesUntilRead = 0
        var result = scanner.scan(frame, cursor: &cursor, budgetMillis: 1)
        while result.codes.isEmpty, framesUntilRead < scanner.strategies.count {
            // A 1 ms budget leaves room for the first strategy and the forced step only.
            #expect(result.tried.count <= 2)
            framesUntilRead += 1
            result = scanner.scan(frame, cursor: &cursor, budgetMillis: 1)
        }
        #expect(result.strategy == ScanStrategy(.regions, .invert))
        #expect(framesUntilRead >= 1 && framesUntilRead < scanner.strategies.count)
        #expect(cursor.lastSuccess == ScanStrategy(.regions, .invert))
        let next = scanner.scan(frame, cursor: &cursor, budgetMillis: 1)
        #expect(next.tried == [scanner.strategies[0], ScanStrategy(.regions, .invert)])
        #expect(next.codes == result.codes)
    }

    @Test("a live loop forgets the strategy that worked once the code has been gone a while")
    func liveForgets() throws {
        var symbol = Render.raster(try QREncoder.encode("tok_8f3kQ9zLmN2pX7"), moduleSize: 4)
        for i in symbol.pixels.indices { symbol.pixels[i] = 255 - symbol.pixels[i] }
        let scanner = RobustScanner()
        var cursor = ScanCursor()
        _ = scanner.scan(place(symbol, fill: 30), cursor: &cursor, budgetMillis: RobustScanner.budgetMillisMax)
        #expect(cursor.lastSuccess == ScanStrategy(.regions, .invert))
        let empty = LumaFrame(width: 320, height: 240, fill: 200)
        for _ in 0...RobustScanner.stickyMissCountMax { _ = scanner.scan(empty, cursor: &cursor, budgetMillis: 1) }
        #expect(cursor.lastSuccess == nil)
    }

    @Test("payloads shorter than the minimum are not reported: too easy to find by chance")
    func shortPayloads() throws {
        let frame = place(Render.raster(try QREncoder.encode("abc"), moduleSize: 4), fill: 255)
        #expect(CodeScanner().scan(frame).first?.text == "abc")
        #expect(RobustScanner().scan(frame, budgetMillis: nil).codes.isEmpty)
        let four = place(Render.raster(try QREncoder.encode("abcd"), moduleSize: 4), fill: 255)
        #expect(RobustScanner().scan(four, budgetMillis: nil).codes.first?.text == "abcd")
    }

    @Test("every strategy is distinct and named, and the region-only filters have no frame form")
    func strategies() {
        #expect(Set(ScanStrategy.all).count == ScanStrategy.all.count)
        #expect(Set(ScanStrategy.all.map(\.description)).count == ScanStrategy.all.count)
        #expect(!ScanStrategy.all.contains { $0.scope == .frame && [.align, .profile, .axis, .rectify].contains($0.filter) })
        #expect(Set(RobustScanner.strategiesDefault).isSubset(of: Set(ScanStrategy.all)))
        #expect(ScanStrategy.plain.description == "none" && ScanStrategy(.regions, .invert).description == "region-invert")
    }

    @Test("the region finder puts the code in one of its regions")
    func regions() {
        let scanner = RobustScanner()
        for frame in Corpus.frames.prefix(3 * ScanCorpus.Category.allCases.count) {
            guard let box = frame.codeBox else { continue }
            let covered = scanner.codeRegions(in: frame.luma).contains { ($0.box.intersection(box)?.area ?? 0) * 10 >= box.area * 9 }
            #expect(covered, "frame \(frame.index): \(frame.summary)")
        }
    }

    @Test("a seeded corpus at 640x480: at least 95% read, no misreads, nothing read where there is no code")
    func corpus() async {
        // Two scanners on two tasks, since the debug build is slow; every strategy is tried
        // (no budget), so the result does not depend on the machine's speed.
        let frames = Corpus.frames
        let halves = await withTaskGroup(of: CorpusTally.self) { group in
            for part in 0..<2 {
                group.addTask {
                    let scanner = RobustScanner()
                    var tally = CorpusTally()
                    for frame in stride(from: part, to: frames.count, by: 2).map({ frames[$0] }) {
                        let outcome = tally.record(frame, decoded: scanner.scan(frame.luma, budgetMillis: nil).codes)
                        if outcome != .read && outcome != .quiet {
                            print("corpus frame \(frame.index) \(outcome): \(frame.summary)")
                        }
                    }
                    return tally
                }
            }
            var all: [CorpusTally] = []
            for await tally in group { all.append(tally) }
            return all
        }
        var tally = CorpusTally()
        for half in halves { tally.merge(half) }
        #expect(tally.coded.frames == Corpus.framesPerCategory * ScanCorpus.Category.coded.count)
        #expect(tally.readRate >= 0.95, "read \(tally.coded.read) of \(tally.coded.frames)")
        #expect(tally.coded.misread == 0)
        #expect(tally.noCode.phantom == 0)
    }
}
