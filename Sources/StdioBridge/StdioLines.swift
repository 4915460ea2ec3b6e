import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// stdin as an async sequence of lines, read by a thread of its own (a blocking `read(2)` never
/// holds a cooperative-pool thread). Empty lines are skipped; a trailing CR is dropped. The stream
/// finishes at end of file or on a read error.
public enum StdinLines {
  public static func stream(descriptor: Int32 = 0) -> AsyncStream<[UInt8]> {
    let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
    let thread = Thread {
      var pending: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 65536)
      while true {
        // off-pool: the stdin reader's own thread
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        pending.append(contentsOf: buffer[..<count])
        while let newline = pending.firstIndex(of: 0x0A) {
          var line = Array(pending[..<newline])
          pending.removeSubrange(...newline)
          if line.last == 0x0D { line.removeLast() }
          if line.contains(where: { $0 != 0x20 && $0 != 0x09 }) { continuation.yield(line) }
        }
      }
      if pending.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) { continuation.yield(pending) }
      continuation.finish()
    }
    thread.name = "mcp-tunnel stdin"
    thread.start()
    return stream
  }
}

/// stdout as a queue of whole lines written by a thread of its own, in the order they were
/// queued: concurrent tasks never interleave two messages, and a slow reader never blocks a task.
public final class LineWriter: @unchecked Sendable {
  // @unchecked: `queue`, `closed` and `drained` are only touched with `condition` held.
  private let condition = NSCondition()
  private var queue: [[UInt8]] = []
  private var closed = false
  private var drained: [CheckedContinuation<Void, Never>] = []
  private var finished = false
  private let descriptor: Int32

  public init(descriptor: Int32 = 1) {
    self.descriptor = descriptor
    let thread = Thread { [self] in loop() }
    thread.name = "mcp-tunnel stdout"
    thread.start()
  }

  /// Queues one line (it must end with `\n`).
  public func write(_ line: [UInt8]) {
    condition.lock()
    if !closed { queue.append(line) }
    condition.signal()
    condition.unlock()
  }

  /// Stops taking lines and returns once every queued line is written.
  public func close() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      condition.lock()
      closed = true
      if finished {
        condition.unlock()
        continuation.resume()
        return
      }
      drained.append(continuation)
      condition.signal()
      condition.unlock()
    }
  }

  private func loop() {
    var broken = false
    while true {
      condition.lock()
      // off-pool: the stdout writer's own thread
      while queue.isEmpty && !closed { condition.wait() }
      let lines = queue
      queue.removeAll()
      let done = closed && lines.isEmpty
      var waiting: [CheckedContinuation<Void, Never>] = []
      if done {
        finished = true
        waiting = drained
        drained.removeAll()
      }
      condition.unlock()
      if done {
        for continuation in waiting { continuation.resume() }
        return
      }
      for line in lines where !broken { broken = !writeAll(line) }
    }
  }

  private func writeAll(_ line: [UInt8]) -> Bool {
    var offset = 0
    while offset < line.count {
      let written = line[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
      if written < 0 {
        if errno == EINTR { continue }
        return false
      }
      offset += written
    }
    return true
  }
}
