import Barcodes
import Dispatch
import Synchronization

/// The unit tests' corpus: 640x480, one seed, the same number of frames in every category.
/// Made once and shared by the tests that need corpus frames, on two threads, because the
/// debug build the tests run in draws a frame in tens of milliseconds.
enum Corpus {
    static let seed: UInt64 = 42
    static let framesPerCategory = 10

    static let frames: [ScanCorpus.Frame] = {
        let count = framesPerCategory * ScanCorpus.Category.allCases.count
        let made = Mutex<[Int: ScanCorpus.Frame]>([:])
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            for index in stride(from: part, to: count, by: 2) {
                let frame = ScanCorpus.frame(seed: seed, index: index, sizes: [.vga])
                made.withLock { $0[index] = frame }
            }
        }
        return made.withLock { frames in (0..<count).map { frames[$0]! } }
    }()
}
