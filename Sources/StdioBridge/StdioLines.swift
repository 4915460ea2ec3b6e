import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// stdin as lines, read by a thread of its own (a blocking `read(2)` never holds a
/// cooperative-pool thread). Empty lines are skipped; a trailing CR is dropped. Input ends at end
/// of file or on a read error.
public enum StdinLines {
  /// An async sequence of the lines; it finishes when the input ends.
  public static func stream(descriptor: Int32 = 0) -> AsyncStream<[UInt8]> {
    let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
    read(descriptor: descriptor, line: { continuation.yield($0) }, end: { continuation.finish() })
    return stream
  }

  /// Calls `line` for each line and then `end` once, all on the reader thread, in order. For a
  /// caller that hands the lines on itself (`mcp-tunnel stdio` yields them straight into the
  /// bridge's input): no task between the reader and the bridge, one thread hop less per message.
  public static func read(
    descriptor: Int32 = 0, line: @escaping @Sendable ([UInt8]) -> Void, end: @escaping @Sendable () -> Void
  ) {
    let thread = Thread {
      var pending: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 65536)
      while true {
        // off-pool: the stdin reader's own thread
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        pending.append(contentsOf: buffer[..<count])
        var start = 0
        while let newline = pending[start...].firstIndex(of: 0x0A) {
          var text = Array(pending[start..<newline])
          start = newline + 1
          if text.last == 0x0D { text.removeLast() }
          if text.contains(where: { $0 != 0x20 && $0 != 0x09 }) { line(text) }
        }
        pending.removeSubrange(..<start)
      }
      if pending.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) { line(pending) }
      end()
    }
    thread.name = "mcp-tunnel stdin"
    thread.start()
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
