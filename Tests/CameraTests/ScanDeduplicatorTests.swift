import Barcodes
import Camera
import Testing

private let codeA = ScannedCode(symbology: .qrCode, data: Array("A".utf8))
private let codeB = ScannedCode(symbology: .qrCode, data: Array("B".utf8))

@Suite("One event per code held in view")
struct ScanDeduplicatorTests {
    /// Admits one frame per element of `frames` at 30 fps from a fixed instant; returns the events.
    private func run(_ frames: [[ScannedCode]], window: ScanDeduplicator.Window) -> [[ScannedCode]] {
        var deduplicator = ScanDeduplicator(forgetAfter: window)
        let start = ContinuousClock.now
        return frames.enumerated().map { index, codes in
            deduplicator.admit(codes, at: start + .milliseconds(33) * index)
        }
    }

    @Test("A in frames 1–3, gone for the window, back: two events")
    func backAfterWindow() {
        let events = run([[codeA], [codeA], [codeA], [], [], [codeA]], window: .frames(2))
        #expect(events == [[codeA], [], [], [], [], [codeA]])
    }

    @Test("A lost for less than the window is still the same event")
    func briefDropout() {
        let events = run([[codeA], [codeA], [], [codeA], [codeA]], window: .frames(2))
        #expect(events == [[codeA], [], [], [], []])
    }

    @Test("two different codes in one frame: two events, in the order decoded")
    func twoCodesInOneFrame() {
        let events = run([[codeB, codeA], [codeA, codeB]], window: .frames(2))
        #expect(events == [[codeB, codeA], []])
    }

    @Test("the same code twice in one frame is one event")
    func duplicateInFrame() {
        #expect(run([[codeA, codeA]], window: .frames(1)) == [[codeA]])
    }

    @Test("a second code joining one already in view is one new event")
    func codeJoins() {
        let events = run([[codeA], [codeA, codeB], [codeB]], window: .frames(3))
        #expect(events == [[codeA], [codeB], []])
    }

    @Test("same bytes, different symbology: different codes")
    func symbologyMatters() {
        let barcode = ScannedCode(symbology: .code128, data: codeA.data)
        #expect(run([[codeA, barcode]], window: .frames(1)) == [[codeA, barcode]])
    }

    @Test("a time window forgets by injected time, not by frames")
    func durationWindow() {
        var deduplicator = ScanDeduplicator(forgetAfter: .duration(.milliseconds(500)))
        let start = ContinuousClock.now
        #expect(deduplicator.admit([codeA], at: start) == [codeA])
        #expect(deduplicator.admit([codeA], at: start + .milliseconds(100)) == [])
        #expect(deduplicator.admit([], at: start + .milliseconds(200)) == [])
        // 400 ms since last seen: still the same event.
        #expect(deduplicator.admit([codeA], at: start + .milliseconds(500)) == [])
        // 500 ms since last seen: new.
        #expect(deduplicator.admit([codeA], at: start + .milliseconds(1000)) == [codeA])
    }

    @Test("frames and duration: a code is forgotten only when both have passed")
    func framesAndDuration() {
        var deduplicator = ScanDeduplicator(forgetAfter: .framesAndDuration(frames: 2, duration: .milliseconds(500)))
        let start = ContinuousClock.now
        #expect(deduplicator.admit([codeA], at: start) == [codeA])
        // A fast camera: many frames without A, but within half a second, so still the same event.
        for step in 1...10 {
            #expect(deduplicator.admit([], at: start + .milliseconds(40) * step) == [])
        }
        #expect(deduplicator.admit([codeA], at: start + .milliseconds(450)) == [])
        // A slow decoder: one frame without A, long after: not enough frames, still the same.
        #expect(deduplicator.admit([], at: start + .seconds(2)) == [])
        #expect(deduplicator.admit([codeA], at: start + .seconds(3)) == [])
        // Two frames without A and more than half a second: new.
        #expect(deduplicator.admit([], at: start + .seconds(4)) == [])
        #expect(deduplicator.admit([], at: start + .seconds(5)) == [])
        #expect(deduplicator.admit([codeA], at: start + .seconds(6)) == [codeA])
    }
}
