import Testing

@testable import StdioBridge

@Suite("SSE parser")
struct SSEParserTests {
  private func parse(_ chunks: [String]) -> (events: [SSEEvent], parser: SSEParser) {
    var parser = SSEParser()
    var events: [SSEEvent] = []
    for chunk in chunks { events += parser.feed(Array(chunk.utf8)) }
    return (events, parser)
  }

  @Test("one event per blank line; data, id, event type")
  func simpleEvents() {
    let (events, parser) = parse(["id: 1\ndata: {\"a\":1}\n\nevent: ping\ndata: x\n\n"])
    #expect(events == [SSEEvent(data: #"{"a":1}"#, id: "1"), SSEEvent(type: "ping", data: "x", id: "1")])
    #expect(parser.lastEventID == "1")
  }

  @Test("an event split anywhere across chunks, even inside CRLF, comes out once and whole")
  func splitAcrossChunks() {
    let text = "id: e-7\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n"
    for cut in 1..<text.utf8.count {
      let bytes = Array(text.utf8)
      var parser = SSEParser()
      let events = parser.feed(bytes[..<cut]) + parser.feed(bytes[cut...])
      #expect(
        events == [SSEEvent(data: #"{"jsonrpc":"2.0","method":"notifications/progress"}"#, id: "e-7")], "cut at \(cut)")
    }
  }

  @Test("nothing is dispatched before its blank line")
  func incremental() {
    var parser = SSEParser()
    #expect(parser.feed(Array("data: a\n".utf8)).isEmpty)
    #expect(parser.feed(Array("\n".utf8)) == [SSEEvent(data: "a")])
  }

  @Test("multi-line data is joined with LF; CR-only line ends work")
  func multiLine() {
    #expect(parse(["data: one\ndata:two\ndata\n\n"]).events == [SSEEvent(data: "one\ntwo\n")])
    #expect(parse(["data: a\rdata: b\r\r"]).events == [SSEEvent(data: "a\nb")])
  }

  @Test("comments and unknown fields are skipped; an event without data is not dispatched")
  func commentsAndEmpty() {
    let (events, parser) = parse([": keep-alive\n\nid: 42\n\nfoo: bar\ndata: x\n\n"])
    #expect(events == [SSEEvent(data: "x", id: "42")])
    #expect(parser.lastEventID == "42", "an id without data still sets the last event id (priming)")
  }

  @Test("retry takes digits only; an id holding NUL is ignored; a leading BOM is dropped")
  func retryAndID() {
    var (_, parser) = parse(["\u{FEFF}retry: 2500\nid: a\0b\ndata: x\n\n"])
    #expect(parser.retryMilliseconds == 2500)
    #expect(parser.lastEventID == nil)
    _ = parser.feed(Array("retry: 1s\n\n".utf8))
    #expect(parser.retryMilliseconds == 2500)
  }

  @Test("an unfinished event at the end of the stream is dropped; the id survives for resumption")
  func finish() {
    var (events, parser) = parse(["id: 9\ndata: done\n\ndata: partial\n"])
    #expect(events.count == 1)
    parser.finish()
    #expect(parser.feed(Array("\n".utf8)).isEmpty)
    #expect(parser.lastEventID == "9")
  }
}
