import Barcodes
import Testing

@Suite("LumaOps and RegionFinder")
struct LumaOpsTests {
    private let noise = noiseFrame(width: 64, height: 48, seed: 5)

    @Test("inverting twice gives the frame back")
    func invertTwice() {
        var once = LumaFrame(width: 1, height: 1), twice = LumaFrame(width: 1, height: 1)
        LumaOps.invert(noise, into: &once)
        LumaOps.invert(once, into: &twice)
        #expect(twice == noise && once.pixels[0] == 255 - noise.pixels[0])
    }

    @Test("halving averages each 2x2 block, rounding half up")
    func halve() {
        var half = LumaFrame(width: 1, height: 1)
        LumaOps.downscale2(noise, into: &half)
        #expect(half.width == 32 && half.height == 24)
        let sum = Int(noise[6, 8]) + Int(noise[7, 8]) + Int(noise[6, 9]) + Int(noise[7, 9])
        #expect(Int(half[3, 4]) == (sum + 2) / 4)
    }

    @Test("doubling then halving gives a smooth frame back to within one level")
    func doubleThenHalve() {
        // Bilinear doubling then 2x2 averaging is exact on a linear ramp (up to rounding), while
        // on noise it blurs by design; so the round trip is checked on a ramp.
        var ramp = LumaFrame(width: 64, height: 48)
        for y in 0..<48 { for x in 0..<64 { ramp[x, y] = UInt8(2 * x + y) } }
        var double = LumaFrame(width: 1, height: 1), back = LumaFrame(width: 1, height: 1)
        LumaOps.upscale(ramp, into: &double, factor: 2)
        #expect(double.width == 128 && double.height == 96)
        LumaOps.downscale2(double, into: &back)
        // Interior pixels only: at the border the bilinear weights are clamped.
        var worst = 0
        for y in 1..<(ramp.height - 1) {
            for x in 1..<(ramp.width - 1) { worst = max(worst, abs(Int(back[x, y]) - Int(ramp[x, y]))) }
        }
        #expect(worst <= 1)
        var same = LumaFrame(width: 1, height: 1)
        LumaOps.upscale(noise, into: &same, factor: 1)
        #expect(same == noise)
    }

    @Test("turning by 0 keeps the frame; by 90 swaps its sides")
    func rotate() {
        var turned = LumaFrame(width: 1, height: 1)
        LumaOps.rotate(noise, into: &turned, degrees: 0)
        #expect(turned.width == noise.width && turned.height == noise.height)
        let inner = (1..<(noise.height - 1)).allSatisfy { y in (1..<(noise.width - 1)).allSatisfy { x in turned[x, y] == noise[x, y] } }
        #expect(inner)
        LumaOps.rotate(noise, into: &turned, degrees: 90)
        #expect(turned.width == noise.height && turned.height == noise.width)
    }

    @Test("the median removes a lone speck that a box average only spreads")
    func median() {
        var frame = LumaFrame(width: 9, height: 9, fill: 200)
        frame[4, 4] = 0
        var filtered = LumaFrame(width: 1, height: 1)
        LumaOps.median3(frame, into: &filtered)
        #expect(filtered[4, 4] == 200)
        LumaOps.boxBlur3(frame, into: &filtered)
        #expect(filtered[4, 4] < 200 && filtered[3, 3] < 200)
    }

    @Test("blurs and the unsharp mask leave a flat frame flat")
    func flat() {
        let flat = LumaFrame(width: 40, height: 30, fill: 123)
        var out = LumaFrame(width: 1, height: 1), blurred = LumaFrame(width: 1, height: 1)
        var scratch: [UInt8] = []
        LumaOps.boxBlur(flat, into: &out, radius: 3, scratch: &scratch)
        #expect(out == flat)
        LumaOps.unsharp(flat, into: &out, radius: 2, amount: 2, blurred: &blurred, scratch: &scratch)
        #expect(out == flat)
    }

    @Test("the adaptive threshold finds a faint square on a strong light gradient")
    func threshold() {
        // Light falls from 250 on the left to 90 on the right; the square is only 25 darker.
        var frame = LumaFrame(width: 200, height: 100)
        for y in 0..<100 {
            for x in 0..<200 {
                let light = 250 - 160 * x / 199
                let inSquare = (80..<120).contains(x) && (30..<70).contains(y)
                frame[x, y] = UInt8(inSquare ? light - 25 : light)
            }
        }
        var binary = LumaFrame(width: 1, height: 1)
        var integral: [UInt32] = []
        LumaOps.adaptiveThreshold(frame, into: &binary, radius: 30, percent: 5, integral: &integral)
        #expect(binary[100, 50] == 0)
        #expect(binary[20, 50] == 255 && binary[180, 50] == 255 && binary[100, 10] == 255)
    }

    @Test("band profiles of upright bars repeat the bars, stretched to the full range")
    func profiles() {
        var bars = LumaFrame(width: 60, height: 40, fill: 180)
        for y in 0..<40 { for x in stride(from: 10, to: 50, by: 4) { bars[x, y] = 60; bars[x + 1, y] = 60 } }
        var profile = LumaFrame(width: 1, height: 1)
        LumaOps.bandProfiles(bars, into: &profile, bandCount: 3, rowsPerBand: 1)
        #expect(profile.width == 60 && profile.height == 6)
        #expect(profile[10, 0] == 0 && profile[12, 0] == 255 && profile[5, 2] == 255)
    }

    @Test("no region in a flat frame; a barcode's region is coherent and upright, a QR code's is not")
    func regions() throws {
        var finder = RegionFinder()
        #expect(finder.find(in: LumaFrame(width: 320, height: 240, fill: 128)).isEmpty)

        let bars = Render.raster(code128: try Code128.encode("281234567890123456"), moduleWidth: 2, height: 60)
        var frame = LumaFrame(width: 400, height: 200, fill: 230)
        for y in 0..<bars.height { for x in 0..<bars.width { frame[40 + x, 70 + y] = bars[x, y] } }
        let barcode = try #require(finder.find(in: frame).first)
        #expect(barcode.coherence > 0.6)
        #expect(barcode.angle < 10 || barcode.angle > 170)
        #expect(barcode.box.intersection(PixelBox(x: 60, y: 70, width: 268, height: 60))?.area == 268 * 60)

        let qr = Render.raster(try QREncoder.encode("https://pay.example.com/o/123"), moduleSize: 4)
        frame = LumaFrame(width: 400, height: 300, fill: 230)
        for y in 0..<qr.height { for x in 0..<qr.width { frame[100 + x, 50 + y] = qr[x, y] } }
        let code = try #require(finder.find(in: frame).first)
        #expect(code.coherence < 0.35)
    }
}
