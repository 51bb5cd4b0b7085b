import Barcodes
import Camera
import Testing

@Suite("Pixel formats and taking luma out of captured buffers")
struct LumaLayoutTests {
    @Test("fourcc and its four characters round-trip", arguments: [
        ("GREY", PixelFormat.grey), ("YUYV", .yuyv), ("UYVY", .uyvy), ("YVYU", .yvyu), ("VYUY", .vyuy),
        ("YU12", .yuv420), ("YV12", .yvu420), ("NV12", .nv12), ("NV21", .nv21), ("MJPG", .mjpeg),
    ])
    func fourccRoundTrip(code: String, format: PixelFormat) {
        #expect(PixelFormat(code) == format)
        #expect(format.code == code)
        #expect("\(format)" == code)
    }

    @Test("GREY is v4l2_fourcc('G','R','E','Y'): first character in the lowest byte")
    func fourccByteOrder() {
        #expect(PixelFormat.grey.fourcc == UInt32(0x47) | 0x52 << 8 | 0x45 << 16 | 0x59 << 24)
    }

    @Test("anything but four printable ASCII characters is not a fourcc", arguments: ["", "GRE", "GREYY", "GR\u{0}Y", "GRÉY"])
    func invalidFourcc(code: String) {
        #expect(PixelFormat(code) == nil)
    }

    @Test("a fourcc with unprintable bytes shows as hex")
    func unprintableFourcc() {
        #expect(PixelFormat(fourcc: 0x0000_0001).code == "0x1")
    }

    @Test("formats without a plain Y channel have no luma layout", arguments: ["MJPG", "RGB3", "BGR3"])
    func noLumaLayout(code: String) {
        #expect(LumaLayout(PixelFormat(code)!) == nil)
    }

    @Test("YUYV: luma is every even byte")
    func yuyv() throws {
        // 4x2 pixels: Y0 U Y1 V per pixel pair; chroma bytes are 128 + something, never luma.
        let bytes: [UInt8] = [
            10, 128, 11, 129, 12, 130, 13, 131,
            20, 132, 21, 133, 22, 134, 23, 135,
        ]
        let frame = try #require(LumaLayout(.yuyv)!.extract(from: bytes, width: 4, height: 2, bytesPerLine: 8))
        #expect(frame.pixels == [10, 11, 12, 13, 20, 21, 22, 23])
        #expect(frame.width == 4 && frame.height == 2)
    }

    @Test("UYVY: luma is every odd byte")
    func uyvy() throws {
        let bytes: [UInt8] = [128, 10, 129, 11, 130, 20, 131, 21]
        let frame = try #require(LumaLayout(.uyvy)!.extract(from: bytes, width: 2, height: 2, bytesPerLine: 4))
        #expect(frame.pixels == [10, 11, 20, 21])
    }

    @Test("YUYV rows padded by the driver: the padding is skipped")
    func yuyvPadded() throws {
        // 2x3 pixels, 4 bytes of data and 4 of padding (0xEE) per row.
        let bytes: [UInt8] = [
            1, 128, 2, 128, 0xEE, 0xEE, 0xEE, 0xEE,
            3, 128, 4, 128, 0xEE, 0xEE, 0xEE, 0xEE,
            5, 128, 6, 128,  // the last row's padding may be cut off
        ]
        let frame = try #require(LumaLayout(.yuyv)!.extract(from: bytes, width: 2, height: 3, bytesPerLine: 8))
        #expect(frame.pixels == [1, 2, 3, 4, 5, 6])
    }

    @Test("GREY rows padded by the driver: the padding is skipped")
    func greyPadded() throws {
        let bytes: [UInt8] = [
            1, 2, 3, 0xEE, 0xEE,
            4, 5, 6, 0xEE, 0xEE,
        ]
        let frame = try #require(LumaLayout(.grey)!.extract(from: bytes, width: 3, height: 2, bytesPerLine: 5))
        #expect(frame.pixels == [1, 2, 3, 4, 5, 6])
    }

    @Test("bytesPerLine 0 means unpadded rows")
    func unpadded() throws {
        let frame = try #require(LumaLayout(.grey)!.extract(from: [1, 2, 3, 4, 5, 6], width: 3, height: 2, bytesPerLine: 0))
        #expect(frame.pixels == [1, 2, 3, 4, 5, 6])
    }

    @Test("the Y plane of YU12 is taken and the chroma planes after it ignored")
    func planar() throws {
        // 2x2 luma, then one U and one V byte.
        let frame = try #require(LumaLayout(.yuv420)!.extract(from: [1, 2, 3, 4, 128, 128], width: 2, height: 2, bytesPerLine: 2))
        #expect(frame.pixels == [1, 2, 3, 4])
    }

    @Test("a buffer too short for its format gives no frame")
    func tooShort() {
        #expect(LumaLayout(.yuyv)!.extract(from: [UInt8](repeating: 0, count: 15), width: 4, height: 2, bytesPerLine: 8) == nil)
        #expect(LumaLayout(.grey)!.extract(from: [1, 2, 3, 4, 5], width: 3, height: 2, bytesPerLine: 3) == nil)
    }

    @Test("a row stride narrower than the row gives no frame")
    func strideTooSmall() {
        #expect(LumaLayout(.yuyv)!.extract(from: [UInt8](repeating: 0, count: 64), width: 4, height: 2, bytesPerLine: 6) == nil)
    }
}
