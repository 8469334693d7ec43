import CConvKernels
import Foundation
import Testing

@testable import KeypointKit

/// `kp_parallel_for`: each thread runs its contiguous share of the items, then takes what is left
/// of the others'.
struct ThreadPoolTests {
    /// What a loop did: how often each item ran and on which thread, and how many items each
    /// thread ran. Buffers, not arrays: threads write their own elements of them at once (each
    /// entry only by the thread running that item, or by that thread).
    final class Record {
        let runs: UnsafeMutableBufferPointer<Int>
        let thread: UnsafeMutableBufferPointer<Int>
        let perThread: UnsafeMutableBufferPointer<Int>
        let stallFirstItemOf: Int?

        init(count: Int, threads: Int, stallFirstItemOf: Int?) {
            runs = .allocate(capacity: count)
            runs.initialize(repeating: 0)
            thread = .allocate(capacity: count)
            thread.initialize(repeating: -1)
            perThread = .allocate(capacity: threads)
            perThread.initialize(repeating: 0)
            self.stallFirstItemOf = stallFirstItemOf
        }

        deinit {
            runs.deallocate()
            thread.deallocate()
            perThread.deallocate()
        }
    }

    static func run(_ pool: ThreadPool, count: Int, stallFirstItemOf stalled: Int? = nil) -> Record {
        let record = Record(count: count, threads: pool.threads, stallFirstItemOf: stalled)
        withExtendedLifetime(record) {
            kp_parallel_for(
                pool.pool, count,
                { context, item, thread in
                    let record = Unmanaged<Record>.fromOpaque(context!).takeUnretainedValue()
                    let thread = Int(thread)
                    if let stalled = record.stallFirstItemOf {
                        usleep(200)  // items that take a while, so the other thread is up before they are all done
                        if thread == stalled && record.perThread[thread] == 0 { Thread.sleep(forTimeInterval: 1) }
                    }
                    record.perThread[thread] += 1
                    record.runs[Int(item)] += 1
                    record.thread[Int(item)] = thread
                }, Unmanaged.passUnretained(record).toOpaque())
        }
        return record
    }

    @Test func everyItemRunsOnceForAnyCountAndThreadCount() {
        for threads in 1...4 {
            let pool = ThreadPool(threads: threads)
            for count in [0, 1, 2, 3, 5, 64, 1001] {
                let record = Self.run(pool, count: count)
                #expect(record.runs.allSatisfy { $0 == 1 }, "\(threads) threads, \(count) items")
                #expect(record.thread.allSatisfy { (0..<threads).contains($0) })
                #expect(record.perThread.reduce(0, +) == count)
            }
        }
    }

    /// A thread held up (here asleep for a second on its first item, as a thread descheduled by
    /// another process would be) leaves the rest of its share to the others: the loop does not
    /// wait for it item by item.
    @Test func aStalledThreadsShareIsTakenOver() {
        let pool = ThreadPool(threads: 2)
        let record = Self.run(pool, count: 100, stallFirstItemOf: 1)
        #expect(record.runs.allSatisfy { $0 == 1 })
        #expect(record.perThread[1] <= 1, "the stalled thread ran \(record.perThread[1]) of its 50 items")
        #expect(record.perThread[0] >= 99)
    }
}
